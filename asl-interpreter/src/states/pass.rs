//! Pass: passes its input (or Result, or Parameters) to its output.

use serde_json::Value;

use crate::error::StatesError;
use crate::pipeline::{Outcome, StateCtx};

pub(super) fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let state = &ctx.state;
    if state.is_jsonata() {
        return ctx.finish(input, None);
    }
    let effective = ctx.input_path(&input)?;
    let result = match (state.field("Result"), state.field("Parameters")) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) => ctx.scope(&effective).template(p).map_err(|e| ctx.fail(e))?,
        (None, None) => effective,
    };
    ctx.finish(input, Some(result))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use serde_json::json;

    #[test]
    fn result_and_result_path() {
        let r = execute(
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"a":1},"ResultPath":"$.r","End":true}}}"#,
            json!({"x": 1}),
        );
        assert_eq!(r.output, Some(json!({"x": 1, "r": {"a": 1}})));
    }

    #[test]
    fn parameters_with_context() {
        let r = execute(
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"n.$":"$$.State.Name","v.$":"$.x"},"End":true}}}"#,
            json!({"x": 1}),
        );
        assert_eq!(r.output, Some(json!({"n": "P", "v": 1})));
    }

    #[test]
    fn jsonata_now_and_millis_follow_the_virtual_clock() {
        let r = execute(
            r#"{"QueryLanguage":"JSONata","StartAt":"W","States":{
                "W":{"Type":"Wait","Seconds":3600,"Next":"P"},
                "P":{"Type":"Pass","Output":{"now":"{% $now() %}","millis":"{% $millis() %}"},"End":true}}}"#,
            json!({}),
        );
        let output = r.output.unwrap_or_default();
        let now = output["now"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .unwrap_or_else(|| panic!("no time in {output}"));
        assert_eq!(
            now.timestamp_millis(),
            output["millis"].as_i64().unwrap_or(0)
        );
        // $now() has millisecond precision; the start time has more.
        let waited = (now.to_utc() - r.started_at)
            .num_microseconds()
            .unwrap_or(0);
        assert!(
            (3_599_999_000..=3_600_000_000).contains(&waited),
            "{waited} µs"
        );
    }

    #[test]
    fn null_paths() {
        let r = execute(
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":null,"OutputPath":null,"End":true}}}"#,
            json!({"x": 1}),
        );
        assert_eq!(r.output, Some(json!({})));
    }

    #[test]
    fn jsonata_output_and_assign() {
        let r = execute(
            r#"{"QueryLanguage":"JSONata","StartAt":"P","States":{
                "P":{"Type":"Pass","Assign":{"v":"{% $states.input.x + 1 %}"},"Next":"Q"},
                "Q":{"Type":"Pass","Output":{"v":"{% $v %}"},"End":true}}}"#,
            json!({"x": 1}),
        );
        assert_eq!(r.output, Some(json!({"v": 2})));
    }
}
