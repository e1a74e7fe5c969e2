//! docs/architecture.md's diagrams against what they draw: the state diagram has exactly the
//! definition's states and transitions, the component diagram every deployed function.

use std::collections::BTreeSet;

use serde_json::Value;
use workflow_tests::{all_states, definition, read, resources_of, template};

/// The body of the first Mermaid block of docs/architecture.md whose first line is `kind`.
fn diagram(kind: &str) -> String {
    let doc = read("docs/architecture.md");
    doc.split("```mermaid\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.lines().next().map(str::trim) == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} block in docs/architecture.md"))
        .to_owned()
}

/// Every `From --> To` between two named states (`[*]` and labels left out).
fn drawn_transitions(diagram: &str) -> BTreeSet<(String, String)> {
    diagram
        .lines()
        .filter_map(|line| line.split_once("-->"))
        .map(|(from, to)| {
            let to = to.split(':').next().unwrap_or_default();
            (from.trim().to_owned(), to.trim().to_owned())
        })
        .filter(|(from, to)| from != "[*]" && to != "[*]")
        .collect()
}

/// Every state's `Next`, Choice targets and Catch targets, nested states included.
fn defined_transitions(states: &[(String, Value)]) -> BTreeSet<(String, String)> {
    let mut transitions = BTreeSet::new();
    for (name, state) in states {
        let choices = state["Choices"].as_array().into_iter().flatten();
        let catchers = state["Catch"].as_array().into_iter().flatten();
        let targets = [&state["Next"], &state["Default"]]
            .into_iter()
            .chain(choices.chain(catchers).map(|rule| &rule["Next"]));
        for target in targets.filter_map(Value::as_str) {
            transitions.insert((name.clone(), target.to_owned()));
        }
    }
    transitions
}

#[test]
fn the_state_diagram_draws_the_definitions_states_and_transitions() {
    let states = all_states(&definition()["States"]);
    let drawn = diagram("stateDiagram-v2");
    let defined = defined_transitions(&states);
    assert_eq!(drawn_transitions(&drawn), defined);

    let named: BTreeSet<String> = states.into_iter().map(|(name, _)| name).collect();
    let drawn_states: BTreeSet<String> = drawn
        .split(|c: char| !(c.is_ascii_alphanumeric()))
        .filter(|word| named.contains(*word))
        .map(str::to_owned)
        .collect();
    assert_eq!(drawn_states, named, "every state appears in the diagram");
}

#[test]
fn the_component_diagram_shows_every_deployed_function() {
    let drawn = diagram("flowchart LR");
    for (id, function) in resources_of(&template(), "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names its binary"));
        assert!(
            drawn.contains(&format!("[\"{binary}\"]")),
            "{id} ({binary}) is missing from the component diagram"
        );
    }
}
