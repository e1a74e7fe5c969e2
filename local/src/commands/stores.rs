//! `--aws-endpoint`: the DynamoDB store at a local AWS-API endpoint (moto), checked before use.

use std::sync::Arc;

use shared::store_traffic::RequestCounter;

/// How long `--aws-endpoint`'s table check waits for the endpoint before calling it unreachable.
#[cfg(feature = "aws")]
const TABLE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn aws_store(endpoint: &str) -> Result<Arc<dyn shared::ports::Store>, String> {
    Ok(aws_stores(endpoint)?.counted)
}

/// Two stores over the same tables: one whose requests are counted, one for whoever watches.
pub struct AwsStores {
    pub counted: Arc<dyn shared::ports::Store>,
    pub uncounted: Arc<dyn shared::ports::Store>,
    pub requests: RequestCounter,
}

#[cfg(feature = "aws")]
pub fn aws_stores(endpoint: &str) -> Result<AwsStores, String> {
    use shared::aws::{DynamoStore, TableNames};
    let named = TableNames::from_env().ok();
    let from_env = named.is_some();
    let tables = named.unwrap_or_else(|| TableNames {
        goals: "GoalsTable".into(),
        actions: "ActionsTable".into(),
        tasks: "TasksTable".into(),
        executions: "WorkflowExecutionsTable".into(),
    });
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        .endpoint_url(endpoint);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // A local AWS-API server accepts any credentials.
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sfn-local",
        ));
    }
    let config = runtime.block_on(loader.load());
    let uncounted = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables.clone());
    runtime
        .block_on(uncounted.check_tables(TABLE_CHECK_TIMEOUT))
        .map_err(|e| tables_message(&e, endpoint, from_env))?;
    let requests = RequestCounter::default();
    let counted_config = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(requests.clone())
        .build();
    Ok(AwsStores {
        counted: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(counted_config),
            tables,
        )),
        uncounted: Arc::new(uncounted),
        requests,
    })
}

/// What `--aws-endpoint` says when its tables cannot be used: which table, where, and how to
/// create it.
#[cfg(feature = "aws")]
fn tables_message(e: &shared::aws::TablesError, endpoint: &str, from_env: bool) -> String {
    use shared::aws::TablesError;
    match e {
        TablesError::Unreachable(cause) => {
            format!("cannot reach the AWS endpoint {endpoint}: {cause}")
        }
        TablesError::Missing { table, variable } => {
            let (missing, seed) = if from_env {
                (
                    format!("table {table}, named by {variable}, does not exist at {endpoint}."),
                    "unset GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and EXECUTIONS_TABLE and \
                     create the tables under their template names",
                )
            } else {
                (
                    format!(
                        "table {table} does not exist at {endpoint} (the default name; {variable} \
                         names it instead once GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and \
                         EXECUTIONS_TABLE are all set)."
                    ),
                    "create the tables",
                )
            };
            format!(
                "{missing} Either deploy the stack to a local moto server with `python3 \
                 scripts/deploy-local.py --serve dev`, which keeps the server running and prints \
                 its endpoint and the table names, then pass that endpoint to --aws-endpoint and \
                 set GOALS_TABLE, ACTIONS_TABLE, TASKS_TABLE and EXECUTIONS_TABLE to those names; \
                 or {seed} from template.yaml at this endpoint with `python3 scripts/seed_moto.py \
                 {endpoint}`."
            )
        }
        TablesError::Other { .. } => format!("AWS endpoint {endpoint}: {e}"),
    }
}

/// The product's Step Functions adapter (`StepFunctionsControl`, an aws-sdk-sfn client) on the
/// state machine `state_machine_arn` of the Step Functions API at `endpoint` (serve's own).
#[cfg(feature = "aws")]
pub fn step_functions(
    endpoint: &str,
    state_machine_arn: &str,
) -> Result<Arc<dyn shared::ports::ExecutionControl>, String> {
    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    // sfn-local's API takes any credentials; the region is its ARNs'.
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sfn_local::sfn_api::names::REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sfn-local",
        ))
        .endpoint_url(endpoint)
        .build();
    Ok(Arc::new(shared::aws::StepFunctionsControl::new(
        aws_sdk_sfn::Client::from_conf(config),
        state_machine_arn,
    )))
}

#[cfg(not(feature = "aws"))]
pub fn step_functions(
    _endpoint: &str,
    _state_machine_arn: &str,
) -> Result<Arc<dyn shared::ports::ExecutionControl>, String> {
    Err("this sfn-local was built without AWS support: build it with `--features aws`".into())
}

#[cfg(not(feature = "aws"))]
pub fn aws_stores(_endpoint: &str) -> Result<AwsStores, String> {
    Err("this sfn-local was built without AWS support: build it with `--features aws`".into())
}
