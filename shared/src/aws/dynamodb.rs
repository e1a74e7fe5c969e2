//! The [`Store`] on DynamoDB. Items are mapped with serde_dynamo; every rule the port states is a
//! condition expression or a transaction here, so concurrent writers cannot break it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, PutRequest, TransactWriteItem, Update,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ConfigError;
use crate::capacity::ModelQuota;
use crate::error::StoreError;
use crate::ports::{
    no_longer_running, quota_full, refuse_oversized_save, repeated_save, Counted, RunsAfter,
    RunsPage, Store,
};
use crate::records::{
    sortable_timestamp, Action, ActionOutcome, ExecutionStatus, Goal, GoalStatus, RunEnd, Task,
    WorkflowExecution,
};
use crate::store_traffic::RequestCounter;

type Item = HashMap<String, AttributeValue>;

/// A batch write takes at most 25 requests; a transaction at most 100 items.
const BATCH_WRITE_LIMIT: usize = 25;
/// Unprocessed batch items are retried this many times, with growing pauses.
const UNPROCESSED_RETRIES: u32 = 6;

pub const EXECUTIONS_BY_GOAL: &str = "byGoal";
pub const EXECUTIONS_BY_STATUS: &str = "byStatus";
/// The sparse index of ended runs whose alert is not yet delivered, keyed by [`ALERT_PENDING`].
pub const EXECUTIONS_BY_PENDING_ALERT: &str = "byPendingAlert";
/// The attribute only a record with a pending alert has (always [`PENDING`]).
pub const ALERT_PENDING: &str = "alertPending";
const PENDING: &str = "PENDING";
/// The executions table's item that holds the model calls the runs in progress reserved
/// ([`Store::reserved_model_calls`]). It has no status, goal or alert, so no index holds it.
pub const MODEL_QUOTA_KEY: &str = "quota#model-calls";
const RESERVED_CALLS: &str = "reservedCalls";
pub const TASKS_BY_EXECUTION: &str = "byExecution";
/// An action item's record of the tasks it holds: the run that generated them and their ids.
/// Only the store writes them; they are not part of [`Action`].
const TASKS_RUN: &str = "tasksExecutionArn";
const TASK_IDS: &str = "taskIds";

/// The four tables, as the template names them in the functions' environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub goals: String,
    pub actions: String,
    pub tasks: String,
    pub executions: String,
}

impl TableNames {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            goals: super::env("GOALS_TABLE")?,
            actions: super::env("ACTIONS_TABLE")?,
            tasks: super::env("TASKS_TABLE")?,
            executions: super::env("EXECUTIONS_TABLE")?,
        })
    }

    /// Each table with the environment variable [`TableNames::from_env`] reads its name from.
    pub fn by_variable(&self) -> [(&'static str, &str); 4] {
        [
            ("GOALS_TABLE", &self.goals),
            ("ACTIONS_TABLE", &self.actions),
            ("TASKS_TABLE", &self.tasks),
            ("EXECUTIONS_TABLE", &self.executions),
        ]
    }
}

/// Why [`DynamoStore::check_tables`] found the store unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TablesError {
    /// A table the store uses does not exist.
    #[error("table {table} (named by {variable}) does not exist")]
    Missing {
        table: String,
        variable: &'static str,
    },
    /// The endpoint did not answer: refused, unresolvable, or silent past the deadline.
    #[error("cannot reach DynamoDB: {0}")]
    Unreachable(String),
    /// DynamoDB answered with another error (credentials, a malformed answer, ...).
    #[error("cannot describe table {table}: {cause}")]
    Other { table: String, cause: String },
}

/// The innermost cause of an error, which says what went wrong in the fewest words
/// ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    /// The store a function's environment names.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(Client::new(sdk_config), TableNames::from_env()?))
    }

    /// Describes the four tables, in [`TableNames::by_variable`] order, and stops at the first
    /// that is missing or cannot be described; an endpoint silent for `within` is unreachable.
    pub async fn check_tables(&self, within: Duration) -> Result<(), TablesError> {
        let check = async {
            for (variable, table) in self.tables.by_variable() {
                let Err(e) = self.client.describe_table().table_name(table).send().await else {
                    continue;
                };
                return Err(match &e {
                    SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                        TablesError::Unreachable(root_cause(&e))
                    }
                    _ if e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        TablesError::Missing {
                            table: table.to_owned(),
                            variable,
                        }
                    }
                    _ => TablesError::Other {
                        table: table.to_owned(),
                        cause: match (e.code(), e.message()) {
                            (Some(code), Some(message)) => format!("{code}: {message}"),
                            (Some(code), None) => code.to_owned(),
                            _ => root_cause(&e),
                        },
                    },
                });
            }
            Ok(())
        };
        tokio::time::timeout(within, check)
            .await
            .unwrap_or_else(|_| {
                Err(TablesError::Unreachable(format!(
                    "no answer within {} s",
                    within.as_secs_f64()
                )))
            })
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Other(format!("cannot map item: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("unreadable item: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::Other(format!("cannot map value: {e}")))
}

/// Error codes that mean "try again": throttling, capacity, conflicts, the service's own faults.
const TRANSIENT_CODES: [&str; 9] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
    "ReplicatedWriteConflictException",
];

fn store_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    );
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(message)
        }
        _ => match e.code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed(message),
            Some(code) if TRANSIENT_CODES.contains(&code) => StoreError::Unavailable(message),
            _ => StoreError::Other(message),
        },
    }
}

/// Why a transaction was cancelled, one code per item ("None" where the item was fine).
/// A transaction item's cancellation code when its condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

fn cancellation_codes(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match e {
        SdkError::ServiceError(ctx) => match ctx.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Some(
                c.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_owned())
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// How often a transaction that conflicted with another one on the same item is sent again.
const CONFLICT_RETRIES: u32 = 5;

/// Sends a transaction, again after a short random wait while it conflicts with another one on
/// the same item (runs that begin and end at the same moment all update the quota item).
async fn send_transaction(
    request: TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError>> {
    let mut attempt = 0;
    loop {
        match request.clone().send().await {
            Err(e)
                if attempt < CONFLICT_RETRIES
                    && cancellation_codes(&e)
                        .is_some_and(|codes| codes.iter().any(|c| c == "TransactionConflict")) =>
            {
                attempt += 1;
                // Spread by the clock's nanoseconds, so the conflicting writers part.
                let spread = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::from(d.subsec_nanos()));
                let wait = 10 + spread % (25_u64 << attempt);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            result => return result,
        }
    }
}

/// A transaction cancelled for another reason than a condition: worth retrying.
fn cancelled(e: &SdkError<TransactWriteItemsError>) -> StoreError {
    StoreError::Unavailable(format!(
        "transaction cancelled: {}",
        aws_smithy_types::error::display::DisplayErrorContext(e)
    ))
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("cannot build request: {e}"))
}

impl DynamoStore {
    async fn query_all(
        &self,
        table: &str,
        index: Option<&str>,
        key_condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        newest_first: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start.take());
            for (k, v) in names {
                q = q.expression_attribute_names(*k, *v);
            }
            for (k, v) in &values {
                q = q.expression_attribute_values(*k, v.clone());
            }
            let out = q.send().await.map_err(store_error)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Writes or deletes in batches of 25, retrying what DynamoDB leaves unprocessed.
    async fn batch_write(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt > UNPROCESSED_RETRIES {
                    return Err(StoreError::Unavailable(format!(
                        "{} writes to {table} still unprocessed",
                        pending.len()
                    )));
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(store_error)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
    }

    async fn execution_exists(&self, execution_arn: &str) -> Result<bool, StoreError> {
        Ok(self.get_execution(execution_arn).await?.is_some())
    }

    /// How many of these task ids are stored.
    /// The run whose tasks an action holds and their ids, read consistently.
    async fn held_tasks(
        &self,
        goal_id: &str,
        action_id: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.actions)
            .key("goalId", s(goal_id))
            .key("actionId", s(action_id))
            .projection_expression("#run, #ids")
            .expression_attribute_names("#run", TASKS_RUN)
            .expression_attribute_names("#ids", TASK_IDS)
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(run) = item.get(TASKS_RUN).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        let ids = item
            .get(TASK_IDS)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default();
        Ok(Some((run.clone(), ids)))
    }

    /// The goal's actions holding tasks (only those of run `of_run`, when given), with the tasks'
    /// ids, read consistently.
    async fn held_sets(
        &self,
        goal_id: &str,
        of_run: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut held = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.actions)
                .consistent_read(true)
                .key_condition_expression("goalId = :g")
                .projection_expression("actionId, #ids")
                .expression_attribute_names("#ids", TASK_IDS)
                .expression_attribute_values(":g", s(goal_id))
                .set_exclusive_start_key(start.take());
            if let Some(run) = of_run {
                query = query
                    .filter_expression("#run = :run")
                    .expression_attribute_names("#run", TASKS_RUN)
                    .expression_attribute_values(":run", s(run));
            }
            let out = query.send().await.map_err(store_error)?;
            held.extend(
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|item| {
                        let action = item.get("actionId")?.as_s().ok()?.clone();
                        let ids = item.get(TASK_IDS)?.as_l().ok()?;
                        let ids = ids.iter().filter_map(|v| v.as_s().ok().cloned()).collect();
                        Some((action, ids))
                    }),
            );
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(held),
            }
        }
    }

    /// One atomic update: adds `id` to the `ids` list, 1 to `counter` and the optional item to its
    /// list (a failure, or a call's timing), unless `ids` already holds `id` or the run is no
    /// longer RUNNING. Returns whether it counted.
    async fn count_once(
        &self,
        execution_arn: &str,
        ids: &str,
        id: &str,
        counter: &str,
        item: Option<(&str, AttributeValue)>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut set = vec![
            "#ids = list_append(if_not_exists(#ids, :empty), :id_list)".to_owned(),
            "updatedAt = :at".to_owned(),
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .condition_expression("#status = :running AND NOT contains(#ids, :id)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(ExecutionStatus::Running.as_str()))
            .expression_attribute_names("#ids", ids)
            .expression_attribute_names("#counter", counter)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":id_list", AttributeValue::L(vec![s(id)]))
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":at", s(at.to_rfc3339()));
        if let Some((list, value)) = item {
            set.push("#items = list_append(if_not_exists(#items, :empty), :item)".to_owned());
            update = update
                .expression_attribute_names("#items", list)
                .expression_attribute_values(":item", AttributeValue::L(vec![value]));
        }
        let result = update
            .update_expression(format!("SET {} ADD #counter :one", set.join(", ")))
            .send()
            .await;
        match result.map_err(store_error) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) if self.execution_exists(execution_arn).await? => {
                Ok(false)
            }
            Err(StoreError::ConditionFailed(_)) => Err(StoreError::ConditionFailed(format!(
                "no execution {execution_arn}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Adds `calls` (negative: gives them back) to the model calls reserved; with `at_most`, only
    /// while the reserved calls stay within it.
    fn reserve_calls(&self, calls: i64, at_most: Option<u32>) -> Result<Update, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.tables.executions)
            .key("executionArn", s(MODEL_QUOTA_KEY))
            .update_expression("ADD #reserved :calls")
            .expression_attribute_names("#reserved", RESERVED_CALLS)
            .expression_attribute_values(":calls", n(calls));
        if let Some(limit) = at_most {
            let room = i64::from(limit) - calls;
            update = update
                .condition_expression("attribute_not_exists(#reserved) OR #reserved <= :room")
                .expression_attribute_values(":room", n(room));
        }
        update.build().map_err(build_error)
    }

    fn end_record_update(&self, execution_arn: &str, end: &RunEnd) -> Result<Update, StoreError> {
        let at = s(end.at.to_rfc3339());
        let mut set = vec!["#status = :status", "stoppedAt = :at", "updatedAt = :at"];
        let mut update = Update::builder()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(end.status.as_str()))
            .expression_attribute_values(":running", s(ExecutionStatus::Running.as_str()))
            .expression_attribute_values(":at", at);
        if let Some(error) = &end.error {
            set.push("#error = :error");
            update = update
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", s(error));
        }
        if let Some(cause) = &end.cause {
            set.push("cause = :cause");
            update = update.expression_attribute_values(":cause", s(cause));
        }
        if let Some(alert) = &end.alert {
            set.push("pendingAlert = :alert, #alertPending = :pending");
            update = update
                .expression_attribute_names("#alertPending", ALERT_PENDING)
                .expression_attribute_values(":alert", to_value(alert)?)
                .expression_attribute_values(":pending", s(PENDING));
        }
        if end.status == ExecutionStatus::Succeeded {
            set.push("etaSeconds = :zero");
            update = update.expression_attribute_values(":zero", n(0));
        }
        update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(build_error)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.goals)
            .key("goalId", s(goal_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item.map(from_item).transpose()
    }

    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.goals)
            .set_item(Some(to_item(goal)?))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError> {
        let requests = actions
            .iter()
            .map(|a| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(a)?))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(&self.tables.actions, requests).await
    }

    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError> {
        let items = self
            .query_all(
                &self.tables.actions,
                None,
                "goalId = :g",
                &[],
                vec![(":g", s(goal_id))],
                false,
            )
            .await?;
        let mut actions = items
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Action>, _>>()?;
        actions.sort_by(|a, b| (a.position, &a.action_id).cmp(&(b.position, &b.action_id)));
        Ok(actions)
    }

    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.executions)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(executionArn)")
            .build()
            .map_err(build_error)?;
        let mut goal = Update::builder()
            .table_name(&self.tables.goals)
            .key("goalId", s(&record.goal_id))
            .update_expression(
                "SET #status = :processing, currentExecutionArn = :arn, updatedAt = :at REMOVE completedAt",
            )
            .condition_expression("attribute_exists(goalId) AND #status <> :processing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", to_value(&GoalStatus::Processing)?)
            .expression_attribute_values(":arn", s(&record.execution_arn))
            .expression_attribute_values(":at", s(record.started_at.to_rfc3339()));
        if let Some(source) = &record.retry_of {
            goal = goal
                .condition_expression(
                    "attribute_exists(goalId) AND #status <> :processing AND currentExecutionArn = :source",
                )
                .expression_attribute_values(":source", s(source));
        }
        let goal = goal.build().map_err(build_error)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(goal).build());
        if record.model_calls > 0 {
            let reserve =
                self.reserve_calls(i64::from(record.model_calls), Some(quota.concurrent_calls))?;
            request = request.transact_items(TransactWriteItem::builder().update(reserve).build());
        }
        match send_transaction(request).await {
            Ok(_) => Ok(()),
            Err(e) => match cancellation_codes(&e).as_deref() {
                // Only the reservation failed: the record and the goal would have been written.
                Some([put, goal, reserve])
                    if reserve == CONDITION_FAILED
                        && put != CONDITION_FAILED
                        && goal != CONDITION_FAILED =>
                {
                    Err(quota_full(record))
                }
                Some(codes) if codes.iter().any(|c| c == CONDITION_FAILED) => {
                    Err(StoreError::ConditionFailed(format!(
                        "cannot begin {}: the run exists already, or goal {} is missing, processing or (for a retry) has a newer run",
                        record.execution_arn, record.goal_id
                    )))
                }
                Some(_) => Err(cancelled(&e)),
                None => Err(store_error(e)),
            },
        }
    }

    async fn get_execution(
        &self,
        execution_arn: &str,
    ) -> Result<Option<WorkflowExecution>, StoreError> {
        // The quota item shares the table; it is no run, whoever asks for it.
        if execution_arn == MODEL_QUOTA_KEY {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item.map(from_item).transpose()
    }

    async fn reserved_model_calls(&self) -> Result<u32, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(MODEL_QUOTA_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let reserved = out
            .item
            .as_ref()
            .and_then(|item| item.get(RESERVED_CALLS))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_default();
        Ok(u32::try_from(reserved.max(0)).unwrap_or(u32::MAX))
    }

    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError> {
        let limit = limit.max(1);
        // An index's start key is the item's table key and index key.
        let mut start: Option<Item> = after.map(|a| {
            HashMap::from([
                ("executionArn".to_owned(), s(&a.execution_arn)),
                ("goalId".to_owned(), s(goal_id)),
                ("startedAt".to_owned(), s(sortable_timestamp(a.started_at))),
            ])
        });
        let mut runs = Vec::new();
        // One more than the page, to know whether another follows; a query can stop short of its
        // limit at 1 MB, so it goes on until it has them or the goal has no more runs.
        let wanted = limit.saturating_add(1);
        while runs.len() < wanted {
            let out = self
                .client
                .query()
                .table_name(&self.tables.executions)
                .index_name(EXECUTIONS_BY_GOAL)
                .key_condition_expression("goalId = :g")
                .expression_attribute_values(":g", s(goal_id))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - runs.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in out.items.unwrap_or_default() {
                runs.push(from_item::<WorkflowExecution>(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(RunsPage::of(runs, limit))
    }

    async fn list_running_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.query_all(
            &self.tables.executions,
            Some(EXECUTIONS_BY_STATUS),
            "#status = :s AND startedAt < :t",
            &[("#status", "status")],
            vec![
                (":s", s(ExecutionStatus::Running.as_str())),
                (":t", s(sortable_timestamp(started_before))),
            ],
            false,
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn list_started_before(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        let mut runs = Vec::new();
        for status in [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            let items = self
                .query_all(
                    &self.tables.executions,
                    Some(EXECUTIONS_BY_STATUS),
                    "#status = :s AND startedAt < :t",
                    &[("#status", "status")],
                    vec![
                        (":s", s(status.as_str())),
                        (":t", s(sortable_timestamp(started_before))),
                    ],
                    false,
                )
                .await?;
            for item in items {
                runs.push(from_item::<WorkflowExecution>(item)?);
            }
        }
        runs.sort_by(|a, b| {
            (a.started_at, &a.execution_arn).cmp(&(b.started_at, &b.execution_arn))
        });
        Ok(runs)
    }

    async fn set_total_actions(&self, execution_arn: &str, total: u32) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .update_expression("SET totalActions = :t")
            .condition_expression("attribute_exists(executionArn)")
            .expression_attribute_values(":t", n(total))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn clear_pending_alert(&self, execution_arn: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .update_expression("REMOVE pendingAlert, #alertPending")
            .condition_expression("attribute_exists(executionArn)")
            .expression_attribute_names("#alertPending", ALERT_PENDING)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.query_all(
            &self.tables.executions,
            Some(EXECUTIONS_BY_PENDING_ALERT),
            "#alertPending = :pending",
            &[("#alertPending", ALERT_PENDING)],
            vec![(":pending", s(PENDING))],
            false,
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn record_action_outcome(
        &self,
        execution_arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let call = outcome.call.as_ref().map(to_value).transpose()?;
        let processed = self
            .count_once(
                execution_arn,
                "processedActionIds",
                &outcome.action_id,
                "processedActions",
                call.map(|timing| ("finishedCalls", timing)),
                at,
            )
            .await?;
        let failed = match &outcome.failure {
            Some(failure) => {
                self.count_once(
                    execution_arn,
                    "failedActionIds",
                    &outcome.action_id,
                    "failedCount",
                    Some(("failedActions", to_value(failure)?)),
                    at,
                )
                .await?
            }
            None => false,
        };
        Ok(Counted { processed, failed })
    }

    async fn set_progress(
        &self,
        execution_arn: &str,
        percent: u8,
        eta_seconds: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.executions)
            .key("executionArn", s(execution_arn))
            .condition_expression(
                "#status = :running AND (attribute_not_exists(progressPercent) OR progressPercent <= :p)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(ExecutionStatus::Running.as_str()))
            .expression_attribute_values(":p", n(percent))
            .expression_attribute_values(":at", s(at.to_rfc3339()));
        update = match eta_seconds {
            Some(eta) => update
                .update_expression("SET progressPercent = :p, updatedAt = :at, etaSeconds = :eta")
                .expression_attribute_values(":eta", n(eta)),
            None => update
                .update_expression("SET progressPercent = :p, updatedAt = :at REMOVE etaSeconds"),
        };
        match update.send().await.map_err(store_error) {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed(_)) if self.execution_exists(execution_arn).await? => {
                Ok(())
            }
            Err(StoreError::ConditionFailed(_)) => Err(StoreError::ConditionFailed(format!(
                "no execution {execution_arn}"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn finish_run(&self, execution_arn: &str, end: &RunEnd) -> Result<bool, StoreError> {
        let Some(run) = self.get_execution(execution_arn).await? else {
            return Err(StoreError::ConditionFailed(format!(
                "no execution {execution_arn}"
            )));
        };
        if run.status.is_final() {
            return Ok(false);
        }
        let goal = Update::builder()
            .table_name(&self.tables.goals)
            .key("goalId", s(&run.goal_id))
            .update_expression("SET #status = :goalStatus, updatedAt = :at, completedAt = :at")
            .condition_expression("currentExecutionArn = :arn")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":goalStatus", to_value(&end.goal_status)?)
            .expression_attribute_values(":arn", s(execution_arn))
            .expression_attribute_values(":at", s(end.at.to_rfc3339()))
            .build()
            .map_err(build_error)?;
        // The run's model calls go back with its end, exactly once: the record's condition
        // (still RUNNING) holds for one writer only.
        let release = match run.model_calls {
            0 => None,
            calls => Some(self.reserve_calls(-i64::from(calls), None)?),
        };
        let end_items = |goal: Option<Update>| -> Result<Vec<TransactWriteItem>, StoreError> {
            let record = self.end_record_update(execution_arn, end)?;
            Ok([Some(record), goal, release.clone()]
                .into_iter()
                .flatten()
                .map(|update| TransactWriteItem::builder().update(update).build())
                .collect())
        };
        let ended = |e: SdkError<TransactWriteItemsError>| match cancellation_codes(&e).as_deref() {
            // Another writer ended the run first.
            Some([record, ..]) if record == CONDITION_FAILED => Ok(false),
            Some(_) => Err(cancelled(&e)),
            None => Err(store_error(e)),
        };
        let result = send_transaction(
            self.client
                .transact_write_items()
                .set_transact_items(Some(end_items(Some(goal))?)),
        )
        .await;
        let Err(e) = result else {
            return Ok(true);
        };
        match cancellation_codes(&e).as_deref() {
            // The goal has moved on to another run: end this run's record alone.
            Some([record, goal, ..]) if record != CONDITION_FAILED && goal == CONDITION_FAILED => {
                send_transaction(
                    self.client
                        .transact_write_items()
                        .set_transact_items(Some(end_items(None)?)),
                )
                .await
                .map_or_else(ended, |_| Ok(true))
            }
            _ => ended(e),
        }
    }

    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        let Some(first) = tasks.first() else {
            return Ok(0);
        };
        let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let previous = self.held_tasks(&first.goal_id, &first.action_id).await?;
        if let Some(answer) = repeated_save(previous.as_ref(), first, &ids) {
            return answer;
        }
        let replaced = previous.as_ref().map_or(0, |(_, held)| held.len());
        refuse_oversized_save(&first.action_id, ids.len(), replaced)?;
        // Listed first: its code comes first among the cancellation reasons.
        let running = ConditionCheck::builder()
            .table_name(&self.tables.executions)
            .key("executionArn", s(&first.execution_arn))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(ExecutionStatus::Running.as_str()))
            .build()
            .map_err(build_error)?;
        let mut transaction = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .condition_check(running)
                .build(),
        );
        for task in tasks {
            let put = Put::builder()
                .table_name(&self.tables.tasks)
                .set_item(Some(to_item(task)?))
                .condition_expression("attribute_not_exists(taskId)")
                .build()
                .map_err(build_error)?;
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put).build());
        }
        for old in previous.iter().flat_map(|(_, held)| held) {
            let delete = Delete::builder()
                .table_name(&self.tables.tasks)
                .key("taskId", s(old))
                .build()
                .map_err(build_error)?;
            transaction =
                transaction.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        // The action still holds what was read above: no other save came in between.
        let mut hold = Update::builder()
            .table_name(&self.tables.actions)
            .key("goalId", s(&first.goal_id))
            .key("actionId", s(&first.action_id))
            .update_expression("SET #run = :run, #ids = :ids")
            .expression_attribute_names("#run", TASKS_RUN)
            .expression_attribute_names("#ids", TASK_IDS)
            .expression_attribute_values(":run", s(&first.execution_arn))
            .expression_attribute_values(":ids", AttributeValue::L(ids.iter().map(s).collect()));
        hold = match &previous {
            Some((run, _)) => hold
                .condition_expression("#run = :previous")
                .expression_attribute_values(":previous", s(run)),
            None => hold
                .condition_expression("attribute_exists(actionId) AND attribute_not_exists(#run)"),
        };
        transaction = transaction.transact_items(
            TransactWriteItem::builder()
                .update(hold.build().map_err(build_error)?)
                .build(),
        );
        let Err(e) = transaction.send().await else {
            return Ok(tasks.len() as u32);
        };
        match cancellation_codes(&e).as_deref() {
            Some([run, ..]) if run == CONDITION_FAILED => {
                Err(no_longer_running(&first.execution_arn))
            }
            Some(codes) if codes.iter().all(|c| c == CONDITION_FAILED || c == "None") => {
                // A lost answer to this very save, or another save in between.
                let now = self.held_tasks(&first.goal_id, &first.action_id).await?;
                repeated_save(now.as_ref(), first, &ids).unwrap_or_else(|| {
                    Err(StoreError::ConditionFailed(format!(
                        "action {} of goal {} does not exist or changed meanwhile",
                        first.action_id, first.goal_id
                    )))
                })
            }
            Some(_) => Err(cancelled(&e)),
            None => Err(store_error(e)),
        }
    }

    async fn list_execution_tasks(&self, execution_arn: &str) -> Result<Vec<Task>, StoreError> {
        self.query_all(
            &self.tables.tasks,
            Some(TASKS_BY_EXECUTION),
            "executionArn = :e",
            &[],
            vec![(":e", s(execution_arn))],
            false,
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    async fn delete_execution_tasks(&self, execution_arn: &str) -> Result<u32, StoreError> {
        let Some(run) = self.get_execution(execution_arn).await? else {
            return Ok(0);
        };
        let mut deleted = 0;
        for (action_id, held) in self.held_sets(&run.goal_id, Some(execution_arn)).await? {
            let mut transaction = self.client.transact_write_items();
            for id in &held {
                let delete = Delete::builder()
                    .table_name(&self.tables.tasks)
                    .key("taskId", s(id))
                    .build()
                    .map_err(build_error)?;
                transaction =
                    transaction.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
            let release = Update::builder()
                .table_name(&self.tables.actions)
                .key("goalId", s(&run.goal_id))
                .key("actionId", s(&action_id))
                .update_expression("REMOVE #run, #ids")
                .condition_expression("#run = :run")
                .expression_attribute_names("#run", TASKS_RUN)
                .expression_attribute_names("#ids", TASK_IDS)
                .expression_attribute_values(":run", s(execution_arn))
                .build()
                .map_err(build_error)?;
            transaction =
                transaction.transact_items(TransactWriteItem::builder().update(release).build());
            match transaction.send().await {
                Ok(_) => deleted += held.len() as u32,
                // Another run's tasks replaced these meanwhile (and deleted them): the action
                // keeps the new ones.
                Err(e)
                    if cancellation_codes(&e).is_some_and(|codes| {
                        codes.last().is_some_and(|c| c == CONDITION_FAILED)
                    }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(deleted)
    }

    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        let held = self.held_sets(goal_id, None).await?;
        Ok(held
            .into_iter()
            .map(|(action, ids)| (action, ids.len() as u32))
            .collect())
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown");
        self.count(operation);
        Ok(())
    }
}
