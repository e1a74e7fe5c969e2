//! The rules the SAM template must keep beyond what cfn-lint and `sam validate` check: every
//! function built the same way, least privilege, the tables the adapters query, the definition's
//! substitutions, the status-change rule, the per-environment schedule, alerts that reach someone
//! (the topic's key and policies, prod's address), the metrics the dashboard and alarms read, and
//! the guards on cost and abuse.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;
use shared::aws::dynamodb::{
    ALERT_PENDING, EXECUTIONS_BY_GOAL, EXECUTIONS_BY_PENDING_ALERT, EXECUTIONS_BY_STATUS,
    TASKS_BY_EXECUTION,
};
use shared::batching::{actions_at_once, MAX_BATCH_SIZE};
use shared::capacity::{DEFAULT_MODEL_CONCURRENCY, MODEL_CONCURRENCY_ENV};
use shared::deadlines::{AI_CALL_LIMIT_SECONDS, AI_CLIENT_TIMEOUT_SECONDS, RUN_LIMIT_SECONDS};
use shared::records::WorkflowExecution;
use shared::workflow::MAX_ACTIONS_PER_RUN;
use workflow_tests::{
    all_states, definition, definition_text, repo_root, resources_of, samconfig, template,
};

/// CloudWatch Logs' vended-delivery API, which has no resource-level permissions: the only
/// actions a statement may grant on every resource (Step Functions logging needs them).
const VENDED_LOG_DELIVERY: [&str; 8] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

fn functions(template: &Value) -> Vec<(String, Value)> {
    resources_of(template, "AWS::Serverless::Function")
}

/// The logical id an intrinsic (`!Ref X` or `!GetAtt X.Arn`) points at.
fn target(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    let text = tagged.value.as_str()?;
    Some(text.split('.').next().unwrap_or(text).to_owned())
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_function_crate_is_deployed_the_same_way() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(strings(&globals["Architectures"]), ["arm64"]);
    assert_eq!(globals["Handler"], "bootstrap");

    let crates: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/")
        .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_owned()))
        .collect();
    let mut binaries = BTreeSet::new();
    for (id, function) in functions(&template) {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        binaries.insert(binary.to_owned());
        let properties = &function["Properties"];
        assert!(properties["MemorySize"].as_u64().is_some(), "{id}: memory");
        assert!(properties["Timeout"].as_u64().is_some(), "{id}: timeout");
        let logs = target(&properties["LoggingConfig"]["LogGroup"]).unwrap_or_default();
        let retention = &template["Resources"][logs.as_str()]["Properties"]["RetentionInDays"];
        assert_eq!(
            target(retention).as_deref(),
            Some("LogRetentionDays"),
            "{id}"
        );
    }
    assert_eq!(binaries, crates, "one function per crate under functions/");
    assert_eq!(
        template["Parameters"]["LogRetentionDays"]["Default"].as_u64(),
        Some(30)
    );
}

#[test]
fn the_ai_step_gives_up_before_its_lambda_and_state_do() {
    let template = template();
    let generate = &template["Resources"]["GenerateTasksFunction"]["Properties"];
    let lambda_timeout = generate["Timeout"].as_u64().unwrap_or_default();
    assert!(AI_CLIENT_TIMEOUT_SECONDS < AI_CALL_LIMIT_SECONDS as u64);
    assert!(AI_CLIENT_TIMEOUT_SECONDS < lambda_timeout);
    for (id, function) in functions(&template) {
        let timeout = function["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or_default();
        assert!(timeout <= RUN_LIMIT_SECONDS as u64, "{id}: {timeout} s");
    }
}

#[test]
fn policies_grant_named_actions_on_named_resources() {
    let template = template();
    let mut holders = functions(&template);
    holders.extend(resources_of(&template, "AWS::Serverless::StateMachine"));
    for (id, holder) in holders {
        let policies = holder["Properties"]["Policies"].as_sequence().cloned();
        for statement in policies
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
        {
            let actions = strings(&statement["Action"]);
            assert!(!actions.is_empty(), "{id}: a statement without actions");
            for action in &actions {
                assert!(!action.contains('*'), "{id}: wildcard action {action}");
            }
            if strings(&statement["Resource"]).iter().any(|r| r == "*") {
                assert!(
                    actions
                        .iter()
                        .all(|a| VENDED_LOG_DELIVERY.contains(&a.as_str())),
                    "{id}: {actions:?} on *"
                );
            }
            if actions.iter().any(|a| a.starts_with("bedrock:")) {
                let resource = serde_yaml_ng::to_string(&statement["Resource"]).unwrap_or_default();
                assert!(
                    resource.contains("foundation-model/${BedrockModelId}"),
                    "{id}"
                );
            }
        }
    }
}

#[test]
fn tables_have_the_keys_and_indexes_the_adapters_query() {
    let template = template();
    let resources = &template["Resources"];
    for (id, table) in resources_of(&template, "AWS::DynamoDB::Table") {
        assert_eq!(
            table["Properties"]["BillingMode"], "PAY_PER_REQUEST",
            "{id}"
        );
    }
    let index = |table: &str, name: &str| -> Vec<String> {
        resources[table]["Properties"]["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|i| i["IndexName"] == name)
            .map(|i| {
                i["KeySchema"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| panic!("{table} has no index {name}"))
    };
    assert_eq!(
        index("WorkflowExecutionsTable", EXECUTIONS_BY_GOAL),
        ["goalId", "startedAt"]
    );
    assert_eq!(
        index("WorkflowExecutionsTable", EXECUTIONS_BY_STATUS),
        ["status", "startedAt"]
    );
    assert_eq!(
        index("WorkflowExecutionsTable", EXECUTIONS_BY_PENDING_ALERT),
        [ALERT_PENDING, "startedAt"]
    );
    assert_eq!(
        index("TasksTable", TASKS_BY_EXECUTION),
        ["executionArn", "taskId"]
    );
    let ttl = &resources["WorkflowExecutionsTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"], true);
    let now = chrono::Utc::now();
    let (goal, _) = shared::examples::example_goal("g", "u", 1, now);
    let record = WorkflowExecution::started("arn".into(), "name".into(), &goal, "key".into(), now);
    let record = serde_json::to_value(record).expect("record");
    let attribute = ttl["AttributeName"].as_str().unwrap_or_default();
    assert!(
        record[attribute].is_i64(),
        "the TTL attribute {attribute} is epoch seconds"
    );
}

#[test]
fn the_definition_substitutions_are_exactly_its_placeholders() {
    let text = definition_text();
    let placeholders: BTreeSet<&str> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split('}').next())
        .collect();
    let template = template();
    let machine = &template["Resources"]["StartActivityStateMachine"]["Properties"];
    let substitutions: BTreeSet<&str> = machine["DefinitionSubstitutions"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(placeholders, substitutions);
    assert_eq!(machine["Type"], "STANDARD");
    // Errors only, without goal or action text, unless the LogExecutionData parameter says so.
    let logging = serde_yaml_ng::to_string(&machine["Logging"]).unwrap_or_default();
    assert!(
        logging.contains("Level: !If\n- WithExecutionData\n- ALL\n- ERROR")
            && logging.contains("IncludeExecutionData: !If\n- WithExecutionData\n- true\n- false"),
        "{logging}"
    );
    assert_eq!(
        template["Parameters"]["LogExecutionData"]["Default"],
        "false"
    );
    let condition = serde_yaml_ng::to_string(&template["Conditions"]["WithExecutionData"]);
    assert_eq!(
        condition.unwrap_or_default(),
        "!Equals\n- !Ref LogExecutionData\n- 'true'\n"
    );
    assert_eq!(machine["Tracing"]["Enabled"], true);
    let generator =
        serde_yaml_ng::to_string(&machine["DefinitionSubstitutions"]["GenerateTasksFunctionArn"])
            .unwrap_or_default();
    assert!(
        generator.contains("ExistingTaskGeneratorFunctionArn"),
        "{generator}"
    );
}

#[test]
fn failed_timed_out_and_aborted_runs_reach_the_finaliser_with_a_dead_letter_queue() {
    let template = template();
    let finaliser = &template["Resources"]["FinalizeExecutionFunction"]["Properties"];
    let rule = &finaliser["Events"]["StatusChange"];
    assert_eq!(rule["Type"], "EventBridgeRule");
    let pattern = &rule["Properties"]["Pattern"];
    assert_eq!(strings(&pattern["source"]), ["aws.states"]);
    assert_eq!(
        strings(&pattern["detail-type"]),
        ["Step Functions Execution Status Change"]
    );
    assert_eq!(
        strings(&pattern["detail"]["status"]),
        ["FAILED", "TIMED_OUT", "ABORTED"]
    );
    assert!(pattern["detail"]["stateMachineArn"].is_sequence());
    let queue = target(&rule["Properties"]["DeadLetterConfig"]["Arn"]).unwrap_or_default();
    assert_eq!(
        template["Resources"][queue.as_str()]["Type"],
        "AWS::SQS::Queue"
    );
}

#[test]
fn the_daily_maintenance_runs_at_17_utc_in_prod_only() {
    let template = template();
    let schedule = &template["Parameters"]["MaintenanceSchedule"];
    assert_eq!(schedule["Default"], "cron(0 17 * * ? *)");
    let daily = &template["Resources"]["MaintenanceFunction"]["Properties"]["Events"]["Daily"];
    assert_eq!(daily["Type"], "Schedule");
    assert_eq!(
        target(&daily["Properties"]["Schedule"]).as_deref(),
        Some("MaintenanceSchedule")
    );

    let config = samconfig();
    for (env, enabled) in [("dev", "false"), ("prod", "true")] {
        let overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(
            overrides.contains(&format!("MaintenanceScheduleEnabled={enabled}").as_str()),
            "{env}: {overrides:?}"
        );
        assert!(overrides.contains(&format!("Environment={env}").as_str()));
    }
}

/// The variables each adapter's `from_env` reads (shared/src/aws and metrics.rs).
const ADAPTER_VARIABLES: [(&str, &[&str]); 6] = [
    (
        "DynamoStore::from_env",
        &[
            "GOALS_TABLE",
            "ACTIONS_TABLE",
            "TASKS_TABLE",
            "EXECUTIONS_TABLE",
        ],
    ),
    ("BedrockGenerator::from_env", &["BEDROCK_MODEL_ID"]),
    ("S3Archive::from_env", &["ARCHIVE_BUCKET"]),
    ("StepFunctionsControl::from_env", &["STATE_MACHINE_ARN"]),
    ("SnsNotifier::from_env", &["ALERTS_TOPIC_ARN"]),
    ("EmfFormat::from_env", &["METRICS_NAMESPACE", "ENVIRONMENT"]),
];

#[test]
fn every_function_gets_the_configuration_its_adapters_read() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (id, function) in functions(&template) {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let main =
            std::fs::read_to_string(repo_root().join(format!("functions/{binary}/src/main.rs")))
                .unwrap_or_else(|e| panic!("{binary}: {e}"));
        let own = &function["Properties"]["Environment"]["Variables"];
        for (adapter, variables) in ADAPTER_VARIABLES {
            if !main.contains(adapter) {
                continue;
            }
            for variable in variables {
                assert!(
                    !own[*variable].is_null() || !globals[*variable].is_null(),
                    "{id} builds {adapter} but is not given {variable}"
                );
            }
        }
    }
}

#[test]
fn the_model_generate_tasks_calls_is_named_in_ssm() {
    let template = template();
    assert_eq!(
        template["Parameters"]["BedrockModelId"]["Type"],
        "AWS::SSM::Parameter::Value<String>"
    );
    let function = &template["Resources"]["GenerateTasksFunction"]["Properties"];
    let variable = &function["Environment"]["Variables"]["BEDROCK_MODEL_ID"];
    assert_eq!(target(variable).as_deref(), Some("BedrockModelId"));
}

#[test]
fn the_failure_rate_alarm_reads_the_metrics_the_product_emits() {
    use shared::metrics::MetricName;
    let template = template();
    let alarm = &template["Resources"]["WorkflowFailureRateAlarm"]["Properties"];
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    // DESIGN.md section 4.10: more than 10 % of the runs in the window. How the alarm judges the
    // metrics the runs emit is shared's property p10.
    assert_eq!(alarm["Threshold"].as_f64(), Some(10.0));
    let mut names = Vec::new();
    for query in alarm["Metrics"].as_sequence().into_iter().flatten() {
        let metric = &query["MetricStat"]["Metric"];
        if metric.is_null() {
            continue;
        }
        assert_eq!(
            target(&metric["Namespace"]).as_deref(),
            Some("MetricsNamespace")
        );
        let dimension = &metric["Dimensions"][0];
        assert_eq!(dimension["Name"], "Environment");
        names.push(metric["MetricName"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        names,
        [
            MetricName::ExecutionsStarted.as_str(),
            MetricName::ExecutionsFailed.as_str()
        ]
    );
}

/// The statements of a policy document.
fn statements(document: &Value) -> Vec<Value> {
    document["Statement"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
}

/// The service principals a policy document's statements name.
fn service_principals(document: &Value) -> BTreeSet<String> {
    statements(document)
        .iter()
        .flat_map(|s| strings(&s["Principal"]["Service"]))
        .collect()
}

/// Each statement of every function's inline policies, with the function's logical id.
fn function_statements(template: &Value) -> Vec<(String, Value)> {
    functions(template)
        .into_iter()
        .flat_map(|(id, function)| {
            function["Properties"]["Policies"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(statements)
                .map(|s| (id.clone(), s))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn alarms_reach_the_topic_through_the_stacks_own_key() {
    let template = template();
    let resources = &template["Resources"];
    let topic = &resources["AlertsTopic"]["Properties"];
    assert_eq!(
        target(&topic["KmsMasterKeyId"]).as_deref(),
        Some("AlertsKey"),
        "an AWS managed key's policy cannot let CloudWatch use it"
    );
    let key = &resources["AlertsKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let alias = &resources["AlertsKeyAlias"];
    assert_eq!(alias["Type"], "AWS::KMS::Alias");
    assert_eq!(
        target(&alias["Properties"]["TargetKeyId"]).as_deref(),
        Some("AlertsKey")
    );

    let policy = &key["Properties"]["KeyPolicy"];
    let account = statements(policy)
        .into_iter()
        .find(|s| {
            serde_yaml_ng::to_string(&s["Principal"]["AWS"])
                .unwrap_or_default()
                .contains(":iam::${AWS::AccountId}:root")
        })
        .expect("a statement keeps the account administering the key");
    assert_eq!(strings(&account["Action"]), ["kms:*"]);
    let services: Vec<Value> = statements(policy)
        .into_iter()
        .filter(|s| !s["Principal"]["Service"].is_null())
        .collect();
    assert!(!services.is_empty());
    for statement in &services {
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            strings(&statement["Action"]),
            ["kms:GenerateDataKey*", "kms:Decrypt"]
        );
        assert_eq!(
            target(&statement["Condition"]["StringEquals"]["aws:SourceAccount"]).as_deref(),
            Some("AWS::AccountId")
        );
    }
    assert_eq!(
        service_principals(policy),
        BTreeSet::from(["cloudwatch.amazonaws.com".to_owned()])
    );

    let topic_policies = resources_of(&template, "AWS::SNS::TopicPolicy");
    let [(_, topic_policy)] = topic_policies.as_slice() else {
        panic!("one topic policy: {topic_policies:?}");
    };
    let topic_policy = &topic_policy["Properties"];
    assert_eq!(
        topic_policy["Topics"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(target)
            .collect::<Vec<_>>(),
        ["AlertsTopic"]
    );
    for statement in statements(&topic_policy["PolicyDocument"]) {
        assert_eq!(strings(&statement["Action"]), ["sns:Publish"]);
        assert_eq!(
            target(&statement["Resource"]).as_deref(),
            Some("AlertsTopic")
        );
        assert_eq!(
            target(&statement["Condition"]["StringEquals"]["aws:SourceAccount"]).as_deref(),
            Some("AWS::AccountId")
        );
    }
    assert_eq!(
        service_principals(&topic_policy["PolicyDocument"]),
        service_principals(policy),
        "the services that may publish are the services that may use the key"
    );

    // Nothing publishes through EventBridge, which is why events.amazonaws.com is named nowhere.
    for kind in [
        "AWS::Events::Rule",
        "AWS::Scheduler::Schedule",
        "AWS::Pipes::Pipe",
    ] {
        for (id, resource) in resources_of(&template, kind) {
            let text = serde_yaml_ng::to_string(&resource).unwrap_or_default();
            assert!(!text.contains("AlertsTopic"), "{id} targets the topic");
        }
    }
    for (id, alarm) in resources_of(&template, "AWS::CloudWatch::Alarm") {
        let actions: Vec<String> = alarm["Properties"]["AlarmActions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(target)
            .collect();
        assert_eq!(actions, ["AlertsTopic"], "{id}");
    }
}

#[test]
fn every_publisher_of_the_alerts_topic_may_use_its_key() {
    let template = template();
    let statements = function_statements(&template);
    let grants = |id: &str, action: &str, resource: &str| {
        statements.iter().any(|(holder, s)| {
            holder == id
                && strings(&s["Action"]).iter().any(|a| a == action)
                && target(&s["Resource"]).as_deref() == Some(resource)
        })
    };
    let publishers: BTreeSet<String> = statements
        .iter()
        .filter(|(id, _)| grants(id, "sns:Publish", "AlertsTopic"))
        .map(|(id, _)| id.clone())
        .collect();
    let told_the_topic: BTreeSet<String> = functions(&template)
        .into_iter()
        .filter(|(_, f)| !f["Properties"]["Environment"]["Variables"]["ALERTS_TOPIC_ARN"].is_null())
        .map(|(id, _)| id)
        .collect();
    assert!(!publishers.is_empty());
    assert_eq!(publishers, told_the_topic);
    for id in &publishers {
        for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
            assert!(grants(id, action, "AlertsKey"), "{id}: {action}");
        }
    }
}

/// The arguments of a short-form intrinsic function (`!Name [...]`) when `value` is that function.
fn call<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == name => Some(&tagged.value),
        _ => None,
    }
}

#[test]
fn prod_is_never_deployed_without_an_alert_address() {
    let template = template();
    let rule = &template["Rules"]["ProdHasAlertEmail"];
    let condition = call(&rule["RuleCondition"], "Equals").expect("!Equals");
    assert_eq!(target(&condition[0]).as_deref(), Some("Environment"));
    assert_eq!(condition[1], "prod");
    let assertions = rule["Assertions"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let [assertion] = assertions.as_slice() else {
        panic!("one assertion: {assertions:?}");
    };
    let not = call(&assertion["Assert"], "Not").expect("!Not");
    let equals = call(&not[0], "Equals").expect("!Not [!Equals ...]");
    assert_eq!(target(&equals[0]).as_deref(), Some("AlertEmail"));
    assert_eq!(equals[1], "");
    assert!(assertion["AssertDescription"].is_string());

    let parameters = &template["Parameters"];
    assert!(strings(&parameters["Environment"]["AllowedValues"]).contains(&"prod".to_owned()));
    assert_eq!(
        parameters["AlertEmail"]["Default"], "",
        "dev may go without"
    );
    let subscription = &template["Resources"]["AlertsEmailSubscription"];
    assert_eq!(subscription["Condition"], "HasAlertEmail");
    let subscription = &subscription["Properties"];
    assert_eq!(subscription["Protocol"], "email");
    assert_eq!(
        target(&subscription["TopicArn"]).as_deref(),
        Some("AlertsTopic")
    );
    assert_eq!(
        target(&subscription["Endpoint"]).as_deref(),
        Some("AlertEmail")
    );

    // An address samconfig.toml passes must be a real one: a placeholder would pass the rule and
    // send prod's alerts nowhere. (It names none: see docs/deployment.md.)
    let config = samconfig();
    for env in ["dev", "prod"] {
        let overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        for address in overrides
            .iter()
            .filter_map(|o| o.strip_prefix("AlertEmail="))
        {
            let domain = address.rsplit('@').next().unwrap_or_default();
            assert!(
                address.contains('@') && !domain.starts_with("example."),
                "{env}: AlertEmail={address}"
            );
        }
    }
}

/// The operations dashboard's body as JSON, each `${Name}` of its `!Sub` replaced by `Name`.
fn dashboard(template: &Value) -> serde_json::Value {
    let body = &template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"];
    let text = call(body, "Sub")
        .and_then(Value::as_str)
        .expect("DashboardBody: !Sub text");
    let mut substituted = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        let (name, after) = after.split_once('}').expect("a closed ${...}");
        substituted.push_str(before);
        substituted.push_str(name);
        rest = after;
    }
    substituted.push_str(rest);
    serde_json::from_str(&substituted).expect("the dashboard body is JSON")
}

/// A widget's metric rows with CloudWatch's `"."` shorthand resolved: `[namespace, name,
/// dimension, value, ...]` and the row's options, expressions left out.
fn metric_rows(widget: &serde_json::Value) -> Vec<(Vec<String>, serde_json::Value)> {
    let mut rows = Vec::new();
    let mut previous: Vec<String> = Vec::new();
    for row in widget["properties"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let items = row.as_array().cloned().unwrap_or_default();
        let (fields, options): (Vec<_>, Vec<_>) = items.iter().partition(|i| i.is_string());
        if fields.is_empty() {
            continue;
        }
        let fields: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| match f.as_str() {
                Some(".") => previous.get(i).cloned().unwrap_or_default(),
                other => other.unwrap_or_default().to_owned(),
            })
            .collect();
        previous.clone_from(&fields);
        let options = options.first().map(|o| (*o).clone()).unwrap_or_default();
        rows.push((fields, options));
    }
    rows
}

#[test]
fn the_dashboards_outcome_rates_read_the_metrics_the_product_emits() {
    use shared::metrics::MetricName;
    let emitted = [
        MetricName::ExecutionsStarted,
        MetricName::ExecutionsSucceeded,
        MetricName::ExecutionsPartial,
        MetricName::ExecutionsFailed,
        MetricName::ExecutionDuration,
        MetricName::ActionsProcessed,
        MetricName::ActionsFailed,
        MetricName::AiLatency,
        MetricName::AiRetries,
        MetricName::AiInputTokens,
        MetricName::AiOutputTokens,
        MetricName::SweepFailures,
    ]
    .map(MetricName::as_str);
    let dashboard = dashboard(&template());
    let widgets = dashboard["widgets"].as_array().cloned().unwrap_or_default();

    // Wherever the dashboard reads the product's namespace, it reads a metric the product emits,
    // by the Environment dimension the functions write.
    for widget in &widgets {
        for (fields, _) in metric_rows(widget) {
            if fields[0] != "MetricsNamespace" {
                continue;
            }
            assert!(emitted.contains(&fields[1].as_str()), "{fields:?}");
            assert_eq!(fields[2..], ["Environment", "Environment"], "{fields:?}");
        }
    }

    let outcomes = widgets
        .iter()
        .find(|w| {
            w["properties"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|row| row[0]["label"] == "success %")
        })
        .expect("a widget shows the success rate");
    let expressions: Vec<(String, String)> = outcomes["properties"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| {
            let expression = row[0]["expression"].as_str()?;
            Some((row[0]["label"].as_str()?.to_owned(), expression.to_owned()))
        })
        .collect();
    let labels: Vec<&str> = expressions.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["success %", "partial %", "failed %"]);

    let mut by_id = std::collections::BTreeMap::new();
    for (fields, options) in metric_rows(outcomes) {
        assert_eq!(fields[0], "MetricsNamespace", "not AWS/States: {fields:?}");
        assert_eq!(options["stat"], "Sum");
        let id = options["id"].as_str().expect("a row the expressions name");
        by_id.insert(id.to_owned(), fields[1].clone());
    }
    let expected = [
        ("started", MetricName::ExecutionsStarted),
        ("succeeded", MetricName::ExecutionsSucceeded),
        ("partial", MetricName::ExecutionsPartial),
        ("failed", MetricName::ExecutionsFailed),
    ];
    assert_eq!(
        by_id,
        expected
            .iter()
            .map(|(id, name)| ((*id).to_owned(), name.as_str().to_owned()))
            .collect()
    );
    for ((_, expression), id) in expressions.iter().zip(["succeeded", "partial", "failed"]) {
        assert_eq!(
            expression,
            &format!(
                "IF(started > 0, 100 * {id} / started, {})",
                if id == "succeeded" { 100 } else { 0 }
            )
        );
    }
}

#[test]
fn generate_tasks_reserves_the_model_quota_every_run_shares() {
    let template = template();
    let reserved = &template["Resources"]["GenerateTasksFunction"]["Properties"]
        ["ReservedConcurrentExecutions"];
    let parameter = match reserved {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
    .expect("ReservedConcurrentExecutions is !Ref to a parameter");
    let quota = template["Parameters"][parameter.as_str()]["Default"]
        .as_u64()
        .expect("a numeric default") as usize;
    assert_eq!(quota, DEFAULT_MODEL_CONCURRENCY as usize);
    // Start admits runs against the same parameter.
    let start = &template["Resources"]["StartWorkflowFunction"]["Properties"]["Environment"]
        ["Variables"][MODEL_CONCURRENCY_ENV];
    assert!(
        matches!(start, Value::Tagged(t) if t.value.as_str() == Some(parameter.as_str())),
        "{start:?}"
    );
    // By default the quota holds one run's whole fan-out: every batch at once, each batch's
    // actions as many at a time as create-batches says.
    let machine = definition();
    let batches = &machine["States"]["ProcessBatches"];
    let outer = batches["MaxConcurrency"].as_u64().expect("a bound") as usize;
    let inner = &batches["ItemProcessor"]["States"]["ProcessActions"];
    assert_eq!(inner["MaxConcurrencyPath"], "$.actionsAtOnce");
    let most = (1..=MAX_ACTIONS_PER_RUN / MAX_BATCH_SIZE)
        .map(|n| n.min(outer) * actions_at_once(n))
        .max();
    assert_eq!(most, Some(quota), "outer Map × inner Map");
    // Calls beyond the reservation are throttled by Lambda; the state machine retries those.
    let states = all_states(&definition()["States"]);
    let (_, generate) = states
        .iter()
        .find(|(name, _)| name == "GenerateTasks")
        .expect("GenerateTasks");
    let retried = generate["Retry"][0]["ErrorEquals"].as_array();
    assert!(retried
        .into_iter()
        .flatten()
        .any(|e| e == "Lambda.TooManyRequestsException"));
}

#[test]
fn the_http_api_is_throttled_as_a_whole() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let rate = settings["ThrottlingRateLimit"]
        .as_u64()
        .expect("a steady rate, requests per second");
    let burst = settings["ThrottlingBurstLimit"]
        .as_u64()
        .expect("a burst, requests");
    assert!(rate > 0 && burst >= rate, "rate {rate}, burst {burst}");
    // A status page polls get-status every 2 s: the rate carries 100 pages watching at once.
    assert!(rate * 2 >= 100, "rate {rate}");
}

/// An alarm's single metric: namespace, name, and its dimensions as (name, value) pairs.
fn alarm_metric(alarm: &Value) -> (String, String, Vec<(String, Value)>) {
    let properties = &alarm["Properties"];
    let dimensions = properties["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["Name"].as_str().unwrap_or_default().to_owned(),
                d["Value"].clone(),
            )
        })
        .collect();
    (
        properties["Namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        properties["MetricName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        dimensions,
    )
}

#[test]
fn a_day_of_model_calls_above_the_limit_alerts_in_every_region() {
    let template = template();
    let alarm = &template["Resources"]["ModelInvocationsDailyAlarm"];
    assert!(
        alarm["Condition"].is_null(),
        "Bedrock's metrics exist wherever it runs"
    );
    let (namespace, name, dimensions) = alarm_metric(alarm);
    assert_eq!(
        (namespace.as_str(), name.as_str()),
        ("AWS/Bedrock", "Invocations")
    );
    let [(dimension, model)] = dimensions.as_slice() else {
        panic!("one dimension: {dimensions:?}");
    };
    assert_eq!(dimension, "ModelId");
    assert_eq!(target(model).as_deref(), Some("BedrockModelId"));
    let properties = &alarm["Properties"];
    assert_eq!(properties["Statistic"], "Sum");
    assert_eq!(properties["Period"].as_u64(), Some(86_400));
    assert_eq!(properties["EvaluationPeriods"].as_u64(), Some(1));
    assert_eq!(properties["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        target(&properties["Threshold"]).as_deref(),
        Some("DailyModelInvocationLimit")
    );
    assert_eq!(
        target(&properties["AlarmActions"][0]).as_deref(),
        Some("AlertsTopic")
    );
    let limit = &template["Parameters"]["DailyModelInvocationLimit"];
    assert_eq!(limit["Type"], "Number");
    let default = limit["Default"].as_u64().unwrap_or_default();
    assert!(
        default >= shared::workflow::MAX_ACTIONS_PER_RUN as u64,
        "a day allows at least one full run: {default}"
    );
}

#[test]
fn the_billing_alarm_is_made_only_where_billing_metrics_exist() {
    let template = template();
    let condition = call(&template["Conditions"]["IsUsEast1"], "Equals").expect("!Equals");
    assert_eq!(target(&condition[0]).as_deref(), Some("AWS::Region"));
    assert_eq!(condition[1], "us-east-1");

    let billing: Vec<(String, Value)> = resources_of(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| alarm_metric(alarm).0 == "AWS/Billing")
        .collect();
    let [(id, alarm)] = billing.as_slice() else {
        panic!("one billing alarm: {billing:?}");
    };
    assert_eq!(alarm["Condition"], "IsUsEast1", "{id}");
    let (_, name, dimensions) = alarm_metric(alarm);
    assert_eq!(name, "EstimatedCharges");
    let [(dimension, currency)] = dimensions.as_slice() else {
        panic!("one dimension: {dimensions:?}");
    };
    assert_eq!(
        (dimension.as_str(), currency),
        ("Currency", &Value::from("USD"))
    );
    let properties = &alarm["Properties"];
    assert_eq!(properties["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        target(&properties["Threshold"]).as_deref(),
        Some("MonthlyBudgetUsd")
    );
    assert_eq!(
        target(&properties["AlarmActions"][0]).as_deref(),
        Some("AlertsTopic")
    );
    assert_eq!(template["Parameters"]["MonthlyBudgetUsd"]["Type"], "Number");
}
