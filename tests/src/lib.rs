//! Helpers shared by the workspace-level tests: the shipped definition and template, parsed.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A file of the repository, as text.
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `statemachine/start-activity.asl.json`, placeholders (`${...}`) left as they are.
pub fn definition_text() -> String {
    read("statemachine/start-activity.asl.json")
}

pub fn definition() -> Json {
    serde_json::from_str(&definition_text()).expect("the definition is JSON")
}

/// Every state of the definition, nested ones included, with its name.
pub fn all_states(states: &Json) -> Vec<(String, Json)> {
    let mut found = Vec::new();
    for (name, state) in states.as_object().into_iter().flatten() {
        found.push((name.clone(), state.clone()));
        for processor in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(processor) {
                found.extend(all_states(&inner["States"]));
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            found.extend(all_states(&branch["States"]));
        }
    }
    found
}

/// The state names met following `Next` from `StartAt` of a states object.
pub fn main_path(machine: &Json) -> Vec<String> {
    let mut path = Vec::new();
    let mut at = machine["StartAt"].as_str();
    while let Some(name) = at {
        path.push(name.to_owned());
        at = machine["States"][name]["Next"].as_str();
    }
    path
}

/// `template.yaml`; CloudFormation's short-form functions (`!Ref`, `!GetAtt`, ...) stay tagged.
pub fn template() -> Yaml {
    serde_yaml_ng::from_str(&read("template.yaml")).expect("the template is YAML")
}

/// The resources of the template of one type, by logical id.
pub fn resources_of(template: &Yaml, kind: &str) -> Vec<(String, Yaml)> {
    template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r.clone())))
        .collect()
}

pub fn samconfig() -> toml::Table {
    read("samconfig.toml")
        .parse()
        .expect("samconfig.toml is TOML")
}
