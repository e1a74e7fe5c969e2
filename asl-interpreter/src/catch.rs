//! Catchers: the first whose ErrorEquals matches sends the error output to its Next state.

use serde_json::Value;

use crate::error::error_matches;

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher<'a> {
    pub next: &'a str,
    pub spec: &'a Value,
}

pub fn find<'a>(catch: Option<&'a Value>, error: &str) -> Option<Catcher<'a>> {
    if error.is_empty() {
        return None;
    }
    catch.and_then(Value::as_array)?.iter().find_map(|c| {
        let matches = c
            .get("ErrorEquals")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .any(|p| error_matches(p, error));
        let next = c.get("Next").and_then(Value::as_str)?;
        matches.then_some(Catcher { next, spec: c })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_match_wins() {
        let c = json!([{"ErrorEquals": ["A"], "Next": "X"}, {"ErrorEquals": ["States.ALL"], "Next": "Y"}]);
        assert_eq!(find(Some(&c), "A").map(|c| c.next), Some("X"));
        assert_eq!(find(Some(&c), "B").map(|c| c.next), Some("Y"));
        assert_eq!(find(Some(&c), "States.Runtime").map(|c| c.next), None);
        assert_eq!(find(Some(&c), "").map(|c| c.next), None);
    }
}
