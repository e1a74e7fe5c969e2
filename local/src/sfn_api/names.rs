//! ARNs, names and timestamps as the API gives them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::{ApiError, Code};

pub const REGION: &str = "us-east-1";
/// The account of the ARNs unless `AWS_ACCOUNT_ID` names another, as in Step Functions Local.
pub const ACCOUNT: &str = "123456789012";

pub fn state_machine_arn(account: &str, name: &str) -> String {
    format!("arn:aws:states:{REGION}:{account}:stateMachine:{name}")
}

/// The ARN of the execution `name` of the state machine `machine_arn` (an `express` one for an
/// EXPRESS state machine).
pub fn execution_arn(machine_arn: &str, name: &str, express: bool) -> String {
    let kind = if express { ":express:" } else { ":execution:" };
    format!("{}:{name}", machine_arn.replacen(":stateMachine:", kind, 1))
}

/// The parts of an ARN of this region and account after its resource type: `stateMachine:NAME`
/// gives `["NAME"]`.
fn resource<'a>(arn: &'a str, kind: &str) -> Result<Vec<&'a str>, ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[..3] != ["arn", "aws", "states"] {
        return Err(ApiError::invalid_arn(arn));
    }
    if parts[5] != kind {
        return Err(ApiError::new(
            Code::InvalidArn,
            format!(
                "Invalid Arn: 'Resource type not valid in this context: {}'",
                parts[5]
            ),
        ));
    }
    Ok(parts[6..].to_vec())
}

/// A state machine ARN's name and, after `#`, the mock test case it names.
pub fn parse_state_machine_arn(arn: &str) -> Result<(String, Option<String>), ApiError> {
    let parts = resource(arn, "stateMachine")?;
    let [name] = parts[..] else {
        return Err(ApiError::invalid_arn(arn));
    };
    Ok(match name.split_once('#') {
        Some((machine, case)) => (machine.to_owned(), Some(case.to_owned())),
        None => (name.to_owned(), None),
    })
}

/// A state machine version ARN's name and number (`...:stateMachine:NAME:3`).
pub fn parse_version_arn(arn: &str) -> Result<(String, u32), ApiError> {
    match resource(arn, "stateMachine")?[..] {
        [name, number] => number
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| (name.to_owned(), n))
            .ok_or_else(|| ApiError::invalid_arn(arn)),
        _ => Err(ApiError::invalid_arn(arn)),
    }
}

/// A state machine alias ARN's machine name and alias (`...:stateMachine:NAME:ALIAS`).
pub fn parse_alias_arn(arn: &str) -> Result<(String, String), ApiError> {
    match resource(arn, "stateMachine")?[..] {
        [name, alias] if !alias.is_empty() && !alias.chars().all(|c| c.is_ascii_digit()) => {
            Ok((name.to_owned(), alias.to_owned()))
        }
        _ => Err(ApiError::invalid_arn(arn)),
    }
}

/// Checks an execution ARN's form (`...:execution:MACHINE:NAME`).
pub fn check_execution_arn(arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let kind = parts.get(5).copied().unwrap_or_default();
    let kind = if kind == "express" {
        "express"
    } else {
        "execution"
    };
    match resource(arn, kind)?.len() {
        2 => Ok(()),
        _ => Err(ApiError::invalid_arn(arn)),
    }
}

/// AWS's rule for state machine and execution names: 1 to 80 characters, none of them
/// whitespace, brackets, wildcards, the punctuation `"#%\^|~`$&,;:/` or control characters.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let forbidden = |c: char| {
        c.is_whitespace()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || ('\u{0}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
    };
    let length = name.chars().count();
    if !(1..=80).contains(&length) || name.chars().any(forbidden) {
        return Err(ApiError::new(
            Code::InvalidName,
            format!("Invalid Name: '{name}'"),
        ));
    }
    Ok(())
}

/// A timestamp as AWS JSON 1.0 carries it: seconds since the epoch, with milliseconds.
pub fn epoch(at: DateTime<Utc>) -> Value {
    Value::from(at.timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name("order-42_a.b").is_ok());
        for bad in [
            "",
            "a b",
            "a:b",
            "a/b",
            "a#b",
            "a\u{1}",
            "x{y}",
            &"n".repeat(81),
        ] {
            let refused = check_name(bad).expect_err(bad);
            assert_eq!(refused.code, Code::InvalidName);
        }
        assert!(check_name(&"n".repeat(80)).is_ok());
    }

    #[test]
    fn arns_name_their_resource() {
        let arn = state_machine_arn(ACCOUNT, "m");
        assert_eq!(parse_state_machine_arn(&arn).ok(), Some(("m".into(), None)));
        assert_eq!(
            parse_state_machine_arn(&format!("{arn}#happy")).ok(),
            Some(("m".into(), Some("happy".into())))
        );
        assert!(parse_state_machine_arn("arn:aws:s3:::b").is_err());
        let execution = execution_arn(&arn, "e", false);
        assert_eq!(
            execution,
            "arn:aws:states:us-east-1:123456789012:execution:m:e"
        );
        assert!(check_execution_arn(&execution).is_ok());
        let wrong = parse_state_machine_arn(&execution).expect_err("not a state machine");
        assert_eq!(wrong.code, Code::InvalidArn);
        assert!(check_execution_arn(&arn).is_err());
        assert_eq!(
            parse_version_arn(&format!("{arn}:3")).ok(),
            Some(("m".into(), 3))
        );
        for bad in [arn.clone(), format!("{arn}:0"), format!("{arn}:prod")] {
            assert_eq!(
                parse_version_arn(&bad).map_err(|e| e.code),
                Err(Code::InvalidArn)
            );
        }
    }
}
