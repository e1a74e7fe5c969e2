//! The constraints of the API's model on request members (lengths, value ranges, list sizes,
//! enumerations), checked before an operation runs, as AWS's request validation checks them:
//! `ValidationException` with "N validation error(s) detected: Value 'v' at 'member' failed to
//! satisfy constraint: ...", the value left out for members the model marks sensitive.

use serde_json::Value;

use super::error::{ApiError, Code};

/// What a member's value must satisfy.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A string's length, in characters.
    Length(usize, usize),
    /// An integer's value.
    Range(i64, i64),
    /// A list's number of items.
    Items(usize, usize),
    /// One of the enumeration's values.
    OneOf(&'static [&'static str]),
}

/// A constrained member: its path (`a.b`; `*` for each item of a list), its rule, and whether
/// the model marks it sensitive (its value is then not quoted).
struct Member(&'static str, Rule, bool);

const NAME: Rule = Rule::Length(1, 80);
const ARN: Rule = Rule::Length(1, 256);
const PAGE: Rule = Rule::Range(0, 1000);
const TOKEN: Rule = Rule::Length(1, 3096);
const DEFINITION: Rule = Rule::Length(1, 1_048_576);
const DATA: Rule = Rule::Length(0, 262_144);
const DESCRIPTION: Rule = Rule::Length(0, 256);
const ERROR: Rule = Rule::Length(0, 256);
const CAUSE: Rule = Rule::Length(0, 32_768);
const TASK_TOKEN: Rule = Rule::Length(1, 2048);
const TYPES: Rule = Rule::OneOf(&["STANDARD", "EXPRESS"]);
const LEVELS: Rule = Rule::OneOf(&["ALL", "ERROR", "FATAL", "OFF"]);
const KEYS: Rule = Rule::OneOf(&["AWS_OWNED_KEY", "CUSTOMER_MANAGED_KMS_KEY"]);

const TAGS: [Member; 3] = [
    Member("tags.*.key", Rule::Length(1, 128), false),
    Member("tags.*.value", Rule::Length(0, 256), false),
    Member("tags", Rule::Items(0, 50), false),
];
const LOGGING: [Member; 3] = [
    Member("loggingConfiguration.level", LEVELS, false),
    Member(
        "loggingConfiguration.destinations",
        Rule::Items(0, 1),
        false,
    ),
    Member(
        "loggingConfiguration.destinations.*.cloudWatchLogsLogGroup.logGroupArn",
        ARN,
        false,
    ),
];
const ENCRYPTION: [Member; 3] = [
    Member("encryptionConfiguration.type", KEYS, false),
    Member(
        "encryptionConfiguration.kmsKeyId",
        Rule::Length(1, 2048),
        false,
    ),
    Member(
        "encryptionConfiguration.kmsDataKeyReusePeriodSeconds",
        Rule::Range(60, 900),
        false,
    ),
];
const ROUTING: [Member; 3] = [
    Member("routingConfiguration", Rule::Items(1, 2), false),
    Member("routingConfiguration.*.stateMachineVersionArn", ARN, false),
    Member("routingConfiguration.*.weight", Rule::Range(0, 100), false),
];

/// The constrained members of `operation`'s request, from the API reference.
fn members(operation: &str) -> Vec<&'static Member> {
    let own: &'static [Member] = match operation {
        "CreateActivity" => &[Member("name", NAME, false)],
        "CreateStateMachine" => &[
            Member("name", NAME, false),
            Member("definition", DEFINITION, true),
            Member("roleArn", ARN, false),
            Member("type", TYPES, false),
            Member("versionDescription", DESCRIPTION, true),
        ],
        "UpdateStateMachine" => &[
            Member("stateMachineArn", ARN, false),
            Member("definition", DEFINITION, true),
            Member("roleArn", ARN, false),
            Member("versionDescription", DESCRIPTION, true),
        ],
        "CreateStateMachineAlias" => &[
            Member("name", NAME, false),
            Member("description", DESCRIPTION, true),
        ],
        "UpdateStateMachineAlias" => &[
            Member("stateMachineAliasArn", ARN, false),
            Member("description", DESCRIPTION, true),
        ],
        "DescribeStateMachineAlias" | "DeleteStateMachineAlias" => {
            &[Member("stateMachineAliasArn", ARN, false)]
        }
        "ListStateMachineAliases" | "ListStateMachineVersions" => &[
            Member("stateMachineArn", ARN, false),
            Member("maxResults", PAGE, false),
            Member("nextToken", TOKEN, false),
        ],
        "PublishStateMachineVersion" => &[
            Member("stateMachineArn", ARN, false),
            Member("description", DESCRIPTION, true),
        ],
        "DeleteStateMachineVersion" => &[Member("stateMachineVersionArn", ARN, false)],
        "DescribeStateMachine" | "DeleteStateMachine" => &[Member("stateMachineArn", ARN, false)],
        "DescribeActivity" | "DeleteActivity" => &[Member("activityArn", ARN, false)],
        "GetActivityTask" => &[
            Member("activityArn", ARN, false),
            Member("workerName", NAME, false),
        ],
        "ListActivities" | "ListStateMachines" => &[
            Member("maxResults", PAGE, false),
            Member("nextToken", TOKEN, false),
        ],
        "StartExecution" | "StartSyncExecution" => &[
            Member("stateMachineArn", ARN, false),
            Member("name", NAME, false),
            Member("input", DATA, true),
            Member("traceHeader", Rule::Length(0, 256), false),
        ],
        "StopExecution" => &[
            Member("executionArn", ARN, false),
            Member("error", ERROR, true),
            Member("cause", CAUSE, true),
        ],
        "DescribeExecution" | "DescribeStateMachineForExecution" | "RedriveExecution" => {
            &[Member("executionArn", ARN, false)]
        }
        "GetExecutionHistory" => &[
            Member("executionArn", ARN, false),
            Member("maxResults", PAGE, false),
            Member("nextToken", TOKEN, false),
        ],
        "ListExecutions" => &[
            Member("stateMachineArn", ARN, false),
            Member("mapRunArn", Rule::Length(1, 2000), false),
            Member(
                "statusFilter",
                Rule::OneOf(&[
                    "RUNNING",
                    "SUCCEEDED",
                    "FAILED",
                    "TIMED_OUT",
                    "ABORTED",
                    "PENDING_REDRIVE",
                ]),
                false,
            ),
            Member("maxResults", PAGE, false),
            Member("nextToken", TOKEN, false),
        ],
        "SendTaskSuccess" => &[
            Member("taskToken", TASK_TOKEN, false),
            Member("output", DATA, true),
        ],
        "SendTaskFailure" => &[
            Member("taskToken", TASK_TOKEN, false),
            Member("error", ERROR, true),
            Member("cause", CAUSE, true),
        ],
        "SendTaskHeartbeat" => &[Member("taskToken", TASK_TOKEN, false)],
        "TagResource" | "ListTagsForResource" => &[Member("resourceArn", ARN, false)],
        "UntagResource" => &[
            Member("resourceArn", ARN, false),
            Member("tagKeys.*", Rule::Length(1, 128), false),
        ],
        "TestState" => &[
            Member("definition", DEFINITION, true),
            Member("roleArn", ARN, false),
            Member("input", DATA, true),
            Member("variables", DATA, true),
            Member(
                "inspectionLevel",
                Rule::OneOf(&["INFO", "DEBUG", "TRACE"]),
                false,
            ),
        ],
        "ValidateStateMachineDefinition" => &[
            Member("definition", DEFINITION, true),
            Member("type", TYPES, false),
            Member("severity", Rule::OneOf(&["ERROR", "WARNING"]), false),
            Member("maxResults", Rule::Range(0, 100), false),
        ],
        _ => &[],
    };
    let mut all: Vec<&'static Member> = own.iter().collect();
    if matches!(
        operation,
        "CreateActivity" | "CreateStateMachine" | "TagResource"
    ) {
        all.extend(TAGS.iter());
    }
    if matches!(operation, "CreateStateMachine" | "UpdateStateMachine") {
        all.extend(LOGGING.iter());
    }
    if matches!(
        operation,
        "CreateStateMachine" | "UpdateStateMachine" | "CreateActivity"
    ) {
        all.extend(ENCRYPTION.iter());
    }
    if matches!(
        operation,
        "CreateStateMachineAlias" | "UpdateStateMachineAlias"
    ) {
        all.extend(ROUTING.iter());
    }
    all
}

/// The values at `path` in `value`, each with the name AWS gives it (`tags.2.member.key`).
fn values_at<'a>(
    value: &'a Value,
    path: &[&str],
    name: String,
    found: &mut Vec<(String, &'a Value)>,
) {
    let Some((first, rest)) = path.split_first() else {
        found.push((name, value));
        return;
    };
    let join = |part: &str| {
        if name.is_empty() {
            part.to_owned()
        } else {
            format!("{name}.{part}")
        }
    };
    if *first == "*" {
        if let Value::Array(items) = value {
            for (n, item) in items.iter().enumerate() {
                values_at(item, rest, join(&format!("{}.member", n + 1)), found);
            }
        }
        return;
    }
    if let Some(member) = value.get(first).filter(|v| !v.is_null()) {
        values_at(member, rest, join(first), found);
    }
}

/// Why `value` breaks `rule`, if it does; values of another type are left to deserialization.
fn broken(rule: Rule, value: &Value) -> Option<String> {
    match (rule, value) {
        (Rule::Length(min, max), Value::String(text)) => {
            let length = text.chars().count();
            if length < min {
                Some(format!(
                    "Member must have length greater than or equal to {min}"
                ))
            } else if length > max {
                Some(format!(
                    "Member must have length less than or equal to {max}"
                ))
            } else {
                None
            }
        }
        (Rule::Range(min, max), Value::Number(n)) => {
            let x = n.as_f64()?;
            if x < min as f64 {
                Some(format!(
                    "Member must have value greater than or equal to {min}"
                ))
            } else if x > max as f64 {
                Some(format!(
                    "Member must have value less than or equal to {max}"
                ))
            } else {
                None
            }
        }
        (Rule::Items(min, max), Value::Array(items)) => {
            if items.len() < min {
                Some(format!(
                    "Member must have length greater than or equal to {min}"
                ))
            } else if items.len() > max {
                Some(format!(
                    "Member must have length less than or equal to {max}"
                ))
            } else {
                None
            }
        }
        (Rule::OneOf(allowed), Value::String(text)) => {
            (!allowed.contains(&text.as_str())).then(|| {
                format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                )
            })
        }
        _ => None,
    }
}

/// How the message quotes a value: a string as it is, anything else as JSON.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks `body` against the constraints of `operation`'s members.
pub fn check(operation: &str, body: &Value) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for Member(path, rule, sensitive) in members(operation) {
        let path: Vec<&str> = path.split('.').collect();
        let mut found = Vec::new();
        values_at(body, &path, String::new(), &mut found);
        for (name, value) in found {
            if let Some(constraint) = broken(*rule, value) {
                errors.push(if *sensitive {
                    format!("Value at '{name}' failed to satisfy constraint: {constraint}")
                } else {
                    format!(
                        "Value '{}' at '{name}' failed to satisfy constraint: {constraint}",
                        quoted(value)
                    )
                });
            }
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(ApiError::new(
            Code::ValidationException,
            format!("1 validation error detected: {}", errors[0]),
        )),
        n => Err(ApiError::new(
            Code::ValidationException,
            format!("{n} validation errors detected: {}", errors.join("; ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(operation: &str, body: Value) -> Option<String> {
        check(operation, &body).err().map(|e| {
            assert_eq!(e.code, Code::ValidationException);
            e.message
        })
    }

    #[test]
    fn members_outside_their_constraints_are_named_with_their_values() {
        assert_eq!(
            message("ListStateMachines", json!({"maxResults": 1001})).as_deref(),
            Some("1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000")
        );
        assert_eq!(
            message("ListStateMachines", json!({"maxResults": 1000})),
            None
        );
        assert_eq!(message("ListStateMachines", json!({"maxResults": 0})), None);
        let long = "n".repeat(81);
        assert_eq!(
            message("CreateActivity", json!({"name": long})),
            Some(format!("1 validation error detected: Value '{long}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80"))
        );
        assert_eq!(
            message("CreateStateMachine", json!({"name": "", "type": "BATCH", "definition": "x"})).as_deref(),
            Some("2 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'BATCH' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]")
        );
    }

    #[test]
    fn nested_members_and_list_items_are_named_by_their_path() {
        let tags =
            json!({"name": "a", "tags": [{"key": "k", "value": "v"}, {"key": "", "value": "v"}]});
        assert_eq!(
            message("CreateActivity", tags).as_deref(),
            Some("1 validation error detected: Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1")
        );
        let reuse = json!({"encryptionConfiguration": {"type": "AWS_OWNED_KEY", "kmsDataKeyReusePeriodSeconds": 30}});
        assert!(message("CreateActivity", reuse).is_some_and(|m| m
            .contains("at 'encryptionConfiguration.kmsDataKeyReusePeriodSeconds'")
            && m.ends_with("greater than or equal to 60")));
        let level = json!({"loggingConfiguration": {"level": "DEBUG"}});
        assert!(message("UpdateStateMachine", level)
            .is_some_and(|m| m.contains("Value 'DEBUG' at 'loggingConfiguration.level'")));
    }

    #[test]
    fn sensitive_members_are_not_quoted_and_other_types_are_left_alone() {
        let input = "x".repeat(262_145);
        assert_eq!(
            message("StartExecution", json!({"stateMachineArn": "a", "input": input})).as_deref(),
            Some("1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to 262144")
        );
        assert_eq!(
            message("ListStateMachines", json!({"maxResults": "many"})),
            None
        );
        assert_eq!(message("NoSuchOperation", json!({"name": ""})), None);
    }
}
