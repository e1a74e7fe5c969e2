//! The stacks `scripts/deploy-local.py --verify` deployed into moto, read back from the services
//! (the file DEPLOYED_STACKS names): what was deployed matches what the code queries, calls and
//! publishes to, and the deployed system runs end to end: the definition read back, executed here
//! over the stack's own tables and topic, each function configured from its deployed environment.
//!
//! `python3 scripts/deploy-local.py --verify` runs these; they are ignored otherwise.

mod mid_run;
mod port_calls;

use shared::capacity::ModelQuota;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use asl_interpreter::{Definition, ExecutionStatus, VirtualClock};
use async_trait::async_trait;
use aws_config::SdkConfig;
use port_calls::{PortCalls, RecordingControl, RecordingGenerator};
use serde_json::{json, Value};
use sfn_local::in_process::LocalExecutions;
use sfn_local::latency::Latency;
use sfn_local::offclock::{OffClockArchive, OffClockNotifier, OffClockStore};
use sfn_local::stack::{
    event_pattern_matches, DeployedFunction, Deployment, LocalStack, StatusChangeRule,
};
use shared::aws::dynamodb::{
    ALERT_PENDING, EXECUTIONS_BY_GOAL, EXECUTIONS_BY_PENDING_ALERT, EXECUTIONS_BY_STATUS,
    TASKS_BY_EXECUTION,
};
use shared::aws::{DynamoStore, S3Archive, SnsNotifier, TableNames};
use shared::examples::{example_goal, mark, seed};
use shared::memory::InMemoryArchive;
use shared::metrics::NoMetrics;
use shared::naming;
use shared::offline::OfflineGenerator;
use shared::operations::{archive_key, ARCHIVE_AFTER_DAYS};
use shared::ports::{Archive, Notifier, Store};
use shared::records::{Alert, ExecutionStatus as RecordStatus, GoalStatus, WorkflowExecution};
use shared::{DomainError, ErrorCode};

/// The variables [`TableNames::from_env`] reads the tables' names from.
const TABLE_VARIABLES: [&str; 4] = [
    "GOALS_TABLE",
    "ACTIONS_TABLE",
    "TASKS_TABLE",
    "EXECUTIONS_TABLE",
];

/// Every deployed stack, by environment.
fn stacks() -> HashMap<String, Value> {
    let path = std::env::var("DEPLOYED_STACKS")
        .expect("DEPLOYED_STACKS names the stacks scripts/deploy-local.py read back");
    let text = std::fs::read_to_string(&path).expect("the stacks file");
    serde_json::from_str(&text).expect("the stacks file is JSON")
}

fn functions(stack: &Value) -> impl Iterator<Item = (&String, &Value)> {
    stack["functions"].as_object().expect("functions").iter()
}

/// The deployed function whose code is `binary`.
fn function<'a>(stack: &'a Value, binary: &str) -> &'a Value {
    functions(stack)
        .map(|(_, f)| f)
        .find(|f| f["binary"] == binary)
        .unwrap_or_else(|| panic!("no function runs {binary}"))
}

/// The one state machine's ARN and its definition with the stack's substitutions applied.
fn state_machine(stack: &Value) -> (String, String) {
    let machines = stack["stateMachines"].as_object().expect("state machines");
    assert_eq!(machines.len(), 1, "one state machine");
    let machine = machines.values().next().expect("a state machine");
    let mut definition = machine["definition"]
        .as_str()
        .expect("definition")
        .to_owned();
    for (key, value) in machine["substitutions"].as_object().expect("substitutions") {
        let value = value.as_str().expect("a substitution resolves to a string");
        definition = definition.replace(&format!("${{{key}}}"), value);
    }
    (machine["arn"].as_str().expect("arn").to_owned(), definition)
}

/// The deployed table a function's environment variable names.
fn table<'a>(stack: &'a Value, environment: &Value, variable: &str) -> &'a Value {
    let name = environment[variable]
        .as_str()
        .unwrap_or_else(|| panic!("{variable} is set"));
    stack["tables"]
        .as_object()
        .expect("tables")
        .values()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{variable}={name} names no table of the stack"))
}

fn keys(schema: &Value) -> Vec<(String, String)> {
    schema
        .as_array()
        .expect("a key schema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                k["KeyType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn key(hash: &str, range: Option<&str>) -> Vec<(String, String)> {
    let mut k = vec![(hash.to_owned(), "HASH".to_owned())];
    k.extend(range.map(|r| (r.to_owned(), "RANGE".to_owned())));
    k
}

/// Each index the adapter queries, with the key it queries by.
fn indexes(table: &Value) -> HashMap<String, Vec<(String, String)>> {
    table["globalSecondaryIndexes"]
        .as_array()
        .expect("indexes")
        .iter()
        .map(|i| {
            assert_eq!(i["projection"], "ALL", "{i}: the adapter reads whole items");
            (
                i["indexName"].as_str().unwrap_or_default().to_owned(),
                keys(&i["keySchema"]),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the stacks scripts/deploy-local.py --verify deploys"]
fn the_deployed_stacks_match_what_the_code_uses() {
    for (environment, stack) in stacks() {
        let parameters = &stack["parameters"];
        let (machine_arn, definition) = state_machine(&stack);

        // Every function the code has is deployed once; every substitution names one of them.
        let mut binaries: Vec<_> = functions(&stack)
            .map(|(_, f)| f["binary"].as_str().unwrap_or_default())
            .collect();
        binaries.sort_unstable();
        let mut expected = function_dispatch::FUNCTION_NAMES.to_vec();
        expected.sort_unstable();
        assert_eq!(binaries, expected, "{environment}: the deployed functions");
        let arns: Vec<_> = functions(&stack).map(|(_, f)| &f["arn"]).collect();
        let stack_machine = &stack["stateMachines"];
        for machine in stack_machine.as_object().expect("machines").values() {
            for (key, value) in machine["substitutions"].as_object().expect("substitutions") {
                assert!(
                    arns.contains(&value),
                    "{environment}: {key}={value} is no function of the stack"
                );
            }
        }
        assert!(
            !definition.contains("${"),
            "{environment}: a placeholder has no substitution"
        );
        let parsed = Definition::parse(&definition);
        assert!(parsed.is_ok(), "{environment}: {:?}", parsed.err());

        // Each function's environment names this stack's resources.
        let topics: Vec<_> = stack["topics"]
            .as_object()
            .expect("topics")
            .values()
            .map(|t| &t["arn"])
            .collect();
        for (logical, f) in functions(&stack) {
            let env = &f["environment"];
            for variable in TABLE_VARIABLES {
                table(&stack, env, variable);
            }
            if let Some(topic) = env.get("ALERTS_TOPIC_ARN") {
                assert!(topics.contains(&topic), "{logical}: {topic} is no topic");
            }
            if let Some(arn) = env.get("STATE_MACHINE_ARN") {
                assert_eq!(arn, machine_arn.as_str(), "{logical}");
            }
            if let Some(bucket) = env.get("ARCHIVE_BUCKET").and_then(Value::as_str) {
                assert_eq!(stack["buckets"][bucket], true, "{logical}: {bucket}");
            }
            if let Some(model) = env.get("BEDROCK_MODEL_ID") {
                assert_eq!(model, &parameters["BedrockModelId"], "{logical}");
            }
            assert_eq!(env["ENVIRONMENT"], environment.as_str(), "{logical}");
            assert_eq!(
                env["METRICS_NAMESPACE"], parameters["MetricsNamespace"],
                "{logical}"
            );
        }
        for binary in [
            "update-goal-status",
            "handle-error",
            "finalize-execution",
            "maintenance",
        ] {
            assert!(
                function(&stack, binary)["environment"]["ALERTS_TOPIC_ARN"].is_string(),
                "{binary} publishes alerts"
            );
        }
        for binary in ["start-workflow", "cancel", "retry-failed", "maintenance"] {
            assert!(
                function(&stack, binary)["environment"]["STATE_MACHINE_ARN"].is_string(),
                "{binary} controls executions"
            );
        }
        assert_eq!(
            function(&stack, "generate-tasks")["reservedConcurrency"],
            24,
            "the model quota"
        );

        // The tables, as the DynamoDB adapter reads and writes them; data outlives the stack.
        let env = &function(&stack, "start-workflow")["environment"];
        let goals = table(&stack, env, "GOALS_TABLE");
        assert_eq!(keys(&goals["keySchema"]), key("goalId", None));
        let actions = table(&stack, env, "ACTIONS_TABLE");
        assert_eq!(keys(&actions["keySchema"]), key("goalId", Some("actionId")));
        let tasks = table(&stack, env, "TASKS_TABLE");
        assert_eq!(keys(&tasks["keySchema"]), key("taskId", None));
        assert_eq!(
            indexes(tasks),
            HashMap::from([(
                TASKS_BY_EXECUTION.to_owned(),
                key("executionArn", Some("taskId"))
            )])
        );
        let executions = table(&stack, env, "EXECUTIONS_TABLE");
        assert_eq!(keys(&executions["keySchema"]), key("executionArn", None));
        assert_eq!(
            indexes(executions),
            HashMap::from([
                (
                    EXECUTIONS_BY_GOAL.to_owned(),
                    key("goalId", Some("startedAt"))
                ),
                (
                    EXECUTIONS_BY_STATUS.to_owned(),
                    key("status", Some("startedAt"))
                ),
                (
                    EXECUTIONS_BY_PENDING_ALERT.to_owned(),
                    key(ALERT_PENDING, Some("startedAt"))
                ),
            ])
        );
        assert_eq!(
            executions["ttl"],
            json!({"attributeName": "expiresAt", "status": "ENABLED"})
        );
        for t in [goals, actions, tasks, executions] {
            assert_eq!(
                (&t["deletionPolicy"], &t["updateReplacePolicy"]),
                (&json!("Retain"), &json!("Retain")),
                "{}",
                t["name"]
            );
        }

        // Status changes of this state machine, and only those, reach the finaliser.
        let rule = status_change_rule(&stack);
        let change = |machine: &str, status: &str| {
            json!({"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
                   "detail": {"stateMachineArn": machine, "status": status}})
        };
        for status in ["FAILED", "TIMED_OUT", "ABORTED"] {
            assert!(
                event_pattern_matches(&rule.pattern, &change(&machine_arn, status)),
                "{environment}: {status}"
            );
        }
        assert!(!event_pattern_matches(
            &rule.pattern,
            &change(&machine_arn, "SUCCEEDED")
        ));
        assert!(!event_pattern_matches(
            &rule.pattern,
            &change(&format!("{machine_arn}-other"), "FAILED")
        ));

        // The maintenance schedule runs in prod only.
        let maintenance = &function(&stack, "maintenance")["arn"];
        let schedule = rules(&stack)
            .find(|r| r["scheduleExpression"].is_string() && r["targets"][0] == *maintenance)
            .expect("the maintenance schedule");
        let state = if environment == "prod" {
            "ENABLED"
        } else {
            "DISABLED"
        };
        assert_eq!(schedule["state"], state, "{environment}: the schedule");

        // Alarms can publish to the encrypted topic: its key is the stack's, rotated, and lets
        // CloudWatch use it.
        let topic = stack["topics"]
            .as_object()
            .expect("topics")
            .values()
            .next()
            .expect("the alerts topic");
        let key = stack["keys"]
            .as_object()
            .expect("keys")
            .values()
            .find(|k| k["keyId"] == topic["kmsMasterKeyId"] || k["arn"] == topic["kmsMasterKeyId"])
            .expect("the topic's key is the stack's");
        assert_eq!(key["rotation"], true);
        let statements = key["policy"]["Statement"].as_array().expect("statements");
        assert!(
            statements.iter().any(|s| {
                s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                    && s["Action"].as_array().is_some_and(|a| {
                        a.contains(&json!("kms:GenerateDataKey*"))
                            && a.contains(&json!("kms:Decrypt"))
                    })
            }),
            "{environment}: CloudWatch may use the topic's key"
        );
    }
}

fn rules(stack: &Value) -> impl Iterator<Item = &Value> {
    stack["rules"].as_object().expect("rules").values()
}

/// The deployed rule that targets the finaliser.
fn status_change_rule(stack: &Value) -> StatusChangeRule {
    let finaliser = &function(stack, "finalize-execution")["arn"];
    let rule = rules(stack)
        .find(|r| r["eventPattern"].is_object() && r["targets"][0] == *finaliser)
        .expect("the status-change rule");
    StatusChangeRule {
        pattern: rule["eventPattern"].clone(),
        target: finaliser.as_str().expect("arn").to_owned(),
    }
}

/// A function whose environment names no alerts topic: publishing from it is a defect.
struct NoTopic(String);

#[async_trait]
impl Notifier for NoTopic {
    async fn publish(&self, _alert: &Alert) -> Result<(), DomainError> {
        Err(DomainError::permanent(
            ErrorCode::Internal,
            format!("{} has no ALERTS_TOPIC_ARN", self.0),
        ))
    }
}

/// The deployed dev stack, the SDK configuration of the harness's own calls, each function's (its
/// requests signed with an access key named for it, which the server records) and the runtime of
/// real time their calls run on.
struct Deployed {
    stack: Value,
    config: SdkConfig,
    function_configs: HashMap<String, SdkConfig>,
    port_calls: Arc<PortCalls>,
    io: tokio::runtime::Runtime,
}

/// An SDK configuration for the deployed stack's endpoint, signing with `access_key`.
fn sdk_config(io: &tokio::runtime::Runtime, stack: &Value, access_key: &str) -> SdkConfig {
    let endpoint = stack["endpoint"].as_str().expect("endpoint").to_owned();
    let region = stack["region"].as_str().expect("region").to_owned();
    io.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                access_key, "testing", None, None, "moto",
            ))
            .load(),
    )
}

impl Deployed {
    fn dev() -> Self {
        let stack = stacks().remove("dev").expect("the dev stack");
        let io = tokio::runtime::Runtime::new().expect("runtime");
        let config = sdk_config(&io, &stack, "testing");
        let function_configs = functions(&stack)
            .map(|(logical, _)| (logical.clone(), sdk_config(&io, &stack, logical)))
            .collect();
        Deployed {
            stack,
            config,
            function_configs,
            port_calls: PortCalls::from_env(),
            io,
        }
    }

    fn store_of(&self, environment: &Value, config: &SdkConfig) -> Arc<dyn Store> {
        let name = |variable: &str| {
            let table = table(&self.stack, environment, variable);
            table["name"].as_str().expect("name").to_owned()
        };
        let tables = TableNames {
            goals: name("GOALS_TABLE"),
            actions: name("ACTIONS_TABLE"),
            tasks: name("TASKS_TABLE"),
            executions: name("EXECUTIONS_TABLE"),
        };
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(config), tables);
        Arc::new(OffClockStore::new(
            Arc::new(store),
            self.io.handle().clone(),
        ))
    }

    /// The function `logical` over the ports its deployed environment names, its calls made with
    /// its own configuration.
    fn function(&self, logical: &str, executions: &Arc<LocalExecutions>) -> DeployedFunction {
        let f = &self.stack["functions"][logical];
        let env = &f["environment"];
        let config = &self.function_configs[logical];
        let io = self.io.handle().clone();
        let notifier: Arc<dyn Notifier> = match env["ALERTS_TOPIC_ARN"].as_str() {
            Some(topic) => Arc::new(OffClockNotifier::new(
                Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(config), topic)),
                io.clone(),
            )),
            None => Arc::new(NoTopic(logical.to_owned())),
        };
        let archive: Arc<dyn Archive> = match env["ARCHIVE_BUCKET"].as_str() {
            Some(bucket) => {
                let s3 = aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build();
                Arc::new(OffClockArchive::new(
                    Arc::new(S3Archive::new(aws_sdk_s3::Client::from_conf(s3), bucket)),
                    io,
                ))
            }
            None => Arc::new(InMemoryArchive::default()),
        };
        let region = self.stack["region"].as_str().expect("region");
        DeployedFunction {
            name: f["name"].as_str().expect("name").to_owned(),
            binary: f["binary"].as_str().expect("binary").to_owned(),
            store: self.store_of(env, config),
            notifier,
            generator: Arc::new(RecordingGenerator {
                principal: logical.to_owned(),
                model_arn: env["BEDROCK_MODEL_ID"]
                    .as_str()
                    .map(|model| format!("arn:aws:bedrock:{region}::foundation-model/{model}")),
                inner: Arc::new(OfflineGenerator::new()),
                calls: self.port_calls.clone(),
            }),
            control: Arc::new(RecordingControl {
                principal: logical.to_owned(),
                state_machine_arn: env["STATE_MACHINE_ARN"].as_str().map(str::to_owned),
                inner: executions.clone(),
                calls: self.port_calls.clone(),
            }),
            archive,
            reserved_concurrency: f["reservedConcurrency"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok()),
        }
    }

    /// The stack's definition and functions, each over what its deployed environment names.
    fn stack(&self, latency: Option<Latency>) -> LocalStack {
        let (state_machine_arn, definition) = state_machine(&self.stack);
        let clock = Arc::new(VirtualClock::default());
        let executions = LocalExecutions::new(&state_machine_arn, clock.clone());
        let functions = functions(&self.stack)
            .map(|(logical, _)| self.function(logical, &executions))
            .collect();
        let deployment = Deployment {
            state_machine_arn,
            definition: Definition::parse(&definition).expect("the deployed definition"),
            functions,
            status_change_rule: status_change_rule(&self.stack),
            executions,
        };
        let store = self.store_of(
            &function(&self.stack, "get-status")["environment"],
            &self.config,
        );
        LocalStack::deployed(deployment, store, clock, latency, Arc::new(NoMetrics))
    }

    /// An SQS queue subscribed to the alerts topic, as on-call tooling would subscribe.
    fn alert_queue(&self) -> String {
        let topic = self.stack["topics"]
            .as_object()
            .and_then(|t| t.values().next())
            .and_then(|t| t["arn"].as_str())
            .expect("the alerts topic")
            .to_owned();
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let sns = aws_sdk_sns::Client::new(&self.config);
        self.io.block_on(async {
            let url = sqs
                .create_queue()
                .queue_name("on-call")
                .send()
                .await
                .expect("queue")
                .queue_url
                .expect("url");
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("attributes")
                .attributes
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                        .cloned()
                })
                .expect("queue arn");
            sns.subscribe()
                .topic_arn(topic)
                .protocol("sqs")
                .endpoint(arn)
                .send()
                .await
                .expect("subscribe");
            url
        })
    }

    fn alerts(&self, queue: &str) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        self.io.block_on(async {
            let mut bodies = Vec::new();
            loop {
                let received = sqs
                    .receive_message()
                    .queue_url(queue)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("receive");
                let messages = received.messages.unwrap_or_default();
                if messages.is_empty() {
                    return bodies;
                }
                bodies.extend(messages.into_iter().filter_map(|m| m.body));
            }
        })
    }

    fn expires_at(&self, execution_arn: &str) -> Option<String> {
        let env = &function(&self.stack, "get-status")["environment"];
        let name = table(&self.stack, env, "EXECUTIONS_TABLE")["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let client = aws_sdk_dynamodb::Client::new(&self.config);
        let item = self.io.block_on(
            client
                .get_item()
                .table_name(name)
                .key(
                    "executionArn",
                    aws_sdk_dynamodb::types::AttributeValue::S(execution_arn.to_owned()),
                )
                .send(),
        );
        item.ok()?
            .item?
            .get("expiresAt")
            .and_then(|v| v.as_n().ok().cloned())
    }
}

/// Every generate-tasks call takes `model` of virtual time, every save-tasks call `save`.
fn latency(model: u64, save: u64) -> Latency {
    Box::new(move |f: &str| {
        let seconds = match f {
            f if f.contains("GenerateTasks") => model,
            f if f.contains("SaveTasks") => save,
            _ => 0,
        };
        Duration::from_secs(seconds)
    })
}

#[test]
#[ignore = "needs the stacks scripts/deploy-local.py --verify deploys"]
fn the_deployed_dev_stack_runs_end_to_end() {
    let deployed = Deployed::dev();
    let queue = deployed.alert_queue();
    let runtime = asl_interpreter::clock::runtime(&VirtualClock::default()).expect("runtime");

    // A 64-action run, two actions failing: started, polled and completed through the API.
    let stack = deployed.stack(Some(latency(5, 0)));
    let completed = runtime.block_on(async {
        let (goal, mut actions) = example_goal("goal-deployed", "u", 64, chrono::Utc::now());
        mark(&mut actions, [3, 40], "[fail]");
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let arn = stack.start("u", "goal-deployed").await.expect("start");
        let status = stack
            .api("get-status", "u", &[("executionArn", &arn)], None)
            .await;
        assert_eq!(status["statusCode"], 200, "{status}");
        assert_eq!(status["body"]["status"], "RUNNING", "{status}");
        let result = stack.execute(&arn).await.expect("the run executes");
        assert_eq!(
            result.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            result.cause
        );
        let status = stack
            .api("get-status", "u", &[("executionArn", &arn)], None)
            .await;
        assert_eq!(status["statusCode"], 200, "{status}");
        assert_eq!(status["body"]["progressPercent"], 100, "{status}");
        assert_eq!(status["body"]["status"], "SUCCEEDED", "{status}");
        let record = stack.store.get_execution(&arn).await.expect("get");
        let record = record.expect("the run's record");
        assert_eq!(
            (record.processed_actions, record.failed_count),
            (64, 2),
            "{record:?}"
        );
        let tasks = stack.store.list_execution_tasks(&arn).await.expect("tasks");
        assert!(!tasks.is_empty());
        let goal = stack.store.get_goal("goal-deployed").await.expect("goal");
        assert_eq!(goal.map(|g| g.status), Some(GoalStatus::Partial));

        // The two failed actions retried through the API: a run of those two only.
        let retry = stack
            .api("retry-failed", "u", &[("executionArn", &arn)], None)
            .await;
        assert_eq!(retry["statusCode"], 202, "{retry}");
        let retry_arn = retry["body"]["executionArn"]
            .as_str()
            .expect("the retry's arn");
        let result = stack.execute(retry_arn).await.expect("the retry executes");
        assert_eq!(
            result.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            result.cause
        );
        let record = stack.store.get_execution(retry_arn).await.expect("get");
        let record = record.expect("the retry's record");
        assert_eq!((record.total_actions, record.failed_count), (2, 2));

        // The goal and its history, as the page reads them.
        let goal = stack
            .api("get-goal", "u", &[("goalId", "goal-deployed")], None)
            .await;
        assert_eq!(goal["statusCode"], 200, "{goal}");
        let history = stack
            .api("list-executions", "u", &[("goalId", "goal-deployed")], None)
            .await;
        assert_eq!(history["statusCode"], 200, "{history}");
        assert_eq!(
            history["body"]["executions"].as_array().map(Vec::len),
            Some(2)
        );
        arn
    });
    assert!(
        deployed.expires_at(&completed).is_some(),
        "the run's record carries the table's TTL attribute"
    );

    // A run cancelled through the API ends ABORTED; the status change finalises it.
    let stack = deployed.stack(Some(latency(10, 0)));
    runtime.block_on(async {
        // Batches of 8, 8, 8, 8 and 4, 4 actions of each at a time: the batch of 4 is saved a
        // round of calls before the others.
        let (goal, actions) = example_goal("goal-cancelled", "u", 36, chrono::Utc::now());
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let arn = stack.start("u", "goal-cancelled").await.expect("start");
        let cancel = mid_run::cancel_once_tasks_are_saved(&stack, "u", &arn);
        let (result, answer) = tokio::join!(stack.execute(&arn), cancel);
        assert_eq!(answer["statusCode"], 200, "{answer}");
        assert_eq!(result.expect("ran").status, ExecutionStatus::Aborted);
        let record = stack.store.get_execution(&arn).await.expect("get");
        assert_eq!(record.map(|r| r.status), Some(RecordStatus::Aborted));
        assert!(stack
            .store
            .list_execution_tasks(&arn)
            .await
            .expect("tasks")
            .is_empty());
        let goal = stack.store.get_goal("goal-cancelled").await.expect("goal");
        assert_eq!(goal.map(|g| g.status), Some(GoalStatus::Draft));
    });

    // A run past the definition's 900 s ends TIMED_OUT (three rounds of 60 s model calls, then
    // 800 s saves); only the finaliser records it.
    let stack = deployed.stack(Some(latency(60, 800)));
    let timed_out = runtime.block_on(async {
        let (goal, actions) = example_goal("goal-timed-out", "u", 64, chrono::Utc::now());
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let arn = stack.start("u", "goal-timed-out").await.expect("start");
        let result = stack.execute(&arn).await.expect("the run executes");
        assert_eq!(result.status, ExecutionStatus::TimedOut);
        let record = stack.store.get_execution(&arn).await.expect("get");
        let record = record.expect("the run's record");
        assert_eq!(
            (record.status, record.error.as_deref()),
            (RecordStatus::TimedOut, Some("States.Timeout"))
        );
        let goal = stack.store.get_goal("goal-timed-out").await.expect("goal");
        assert_eq!(goal.map(|g| g.status), Some(GoalStatus::Failed));
        arn
    });

    // A goal run a second time: each action's new tasks replace the first run's.
    let stack = deployed.stack(None);
    runtime.block_on(async {
        let (goal, actions) = example_goal("goal-run-twice", "u", 3, chrono::Utc::now());
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let mut runs = Vec::new();
        for _ in 0..2 {
            let arn = stack.start("u", "goal-run-twice").await.expect("start");
            let result = stack.execute(&arn).await.expect("the run executes");
            assert_eq!(
                result.status,
                ExecutionStatus::Succeeded,
                "{:?}",
                result.cause
            );
            runs.push(arn);
        }
        let first = stack
            .store
            .list_execution_tasks(&runs[0])
            .await
            .expect("tasks");
        assert!(
            first.is_empty(),
            "the first run's tasks are replaced: {first:?}"
        );
        let second = stack
            .store
            .list_execution_tasks(&runs[1])
            .await
            .expect("tasks");
        assert!(!second.is_empty());
    });

    // A run whose goal another run took over before it began fails its first step; HandleError
    // ends it and the finaliser sees it FAILED.
    let stack = deployed.stack(None);
    runtime.block_on(async {
        let (goal, actions) = example_goal("goal-taken-over", "u", 4, chrono::Utc::now());
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let arn = stack.start("u", "goal-taken-over").await.expect("start");
        let mut goal = stack
            .store
            .get_goal("goal-taken-over")
            .await
            .expect("get")
            .expect("the goal");
        goal.current_execution_arn = Some(format!("{arn}-other"));
        stack.store.put_goal(&goal).await.expect("put");
        let result = stack.execute(&arn).await.expect("the run executes");
        assert_eq!(result.status, ExecutionStatus::Failed);
        let record = stack.store.get_execution(&arn).await.expect("get");
        assert_eq!(record.map(|r| r.status), Some(RecordStatus::Failed));
    });

    // The daily job: a run still RUNNING long after the run limit, started 89 days ago, is
    // ended, and its day, past the archive's cutoff, is archived to the deployed bucket; the
    // next pass finds the day archived.
    let stack = deployed.stack(None);
    runtime.block_on(async {
        let (machine_arn, _) = state_machine(&deployed.stack);
        let started = chrono::Utc::now() - chrono::Duration::days(ARCHIVE_AFTER_DAYS + 1);
        let (goal, actions) = example_goal("goal-overdue", "u", 2, started);
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let name = naming::execution_name("goal-overdue", "overdue");
        let arn = naming::execution_arn(&machine_arn, &name);
        let run = WorkflowExecution::started(arn.clone(), name, &goal, "overdue".into(), started);
        stack
            .store
            .begin_run(&run, ModelQuota::default())
            .await
            .expect("begin");
        let report = stack
            .invoke("maintenance", json!({}))
            .await
            .expect("maintenance");
        assert_eq!(report["sweep"]["finalised"], 1, "{report}");
        let key = archive_key(started.date_naive());
        assert_eq!(report["archive"]["written"], json!([key]), "{report}");
        let record = stack.store.get_execution(&arn).await.expect("get");
        assert_eq!(record.map(|r| r.status), Some(RecordStatus::Failed));
        let again = stack
            .invoke("maintenance", json!({}))
            .await
            .expect("maintenance");
        assert_eq!(again["archive"]["alreadyArchived"], 1, "{again}");
    });

    // The timed-out run's alert reached the queue subscribed to the deployed topic.
    let alerts = deployed.alerts(&queue);
    assert!(
        alerts.iter().any(|body| body.contains(&timed_out)),
        "no alert for {timed_out} among {alerts:?}"
    );
}
