//! Ports whose I/O runs off the virtual clock. The virtual clock's runtime has no I/O driver and
//! jumps ahead whenever every task waits, so a call waiting on a socket would see time fly: these
//! run each call on a runtime of real time, under `spawn_blocking`, during which the paused clock
//! stands still. Only the run's own waits, retry intervals and timeouts elapse virtually.

use shared::capacity::ModelQuota;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::ports::{Archive, Counted, Notifier, RunsAfter, RunsPage, Store};
use shared::records::{Action, ActionOutcome, Alert, Goal, RunEnd, Task, WorkflowExecution};
use shared::{DomainError, ErrorCode, StoreError};
use tokio::runtime::Handle;

/// A store whose calls run on a runtime of real time, under `spawn_blocking`.
pub struct OffClockStore {
    inner: Arc<dyn Store>,
    io: Handle,
}

impl OffClockStore {
    pub fn new(inner: Arc<dyn Store>, io: Handle) -> Self {
        Self { inner, io }
    }

    async fn call<T, F>(
        &self,
        f: impl FnOnce(Arc<dyn Store>) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (store, io) = (self.inner.clone(), self.io.clone());
        tokio::task::spawn_blocking(move || io.block_on(f(store)))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Unavailable(format!(
                    "the store call failed: {e}"
                )))
            })
    }
}

#[async_trait]
impl Store for OffClockStore {
    async fn get_goal(&self, goal_id: &str) -> Result<Option<Goal>, StoreError> {
        let id = goal_id.to_owned();
        self.call(move |s| async move { s.get_goal(&id).await })
            .await
    }
    async fn put_goal(&self, goal: &Goal) -> Result<(), StoreError> {
        let goal = goal.clone();
        self.call(move |s| async move { s.put_goal(&goal).await })
            .await
    }
    async fn put_actions(&self, actions: &[Action]) -> Result<(), StoreError> {
        let actions = actions.to_vec();
        self.call(move |s| async move { s.put_actions(&actions).await })
            .await
    }
    async fn list_actions(&self, goal_id: &str) -> Result<Vec<Action>, StoreError> {
        let id = goal_id.to_owned();
        self.call(move |s| async move { s.list_actions(&id).await })
            .await
    }
    async fn begin_run(
        &self,
        record: &WorkflowExecution,
        quota: ModelQuota,
    ) -> Result<(), StoreError> {
        let record = record.clone();
        self.call(move |s| async move { s.begin_run(&record, quota).await })
            .await
    }
    async fn reserved_model_calls(&self) -> Result<u32, StoreError> {
        self.call(|s| async move { s.reserved_model_calls().await })
            .await
    }
    async fn get_execution(&self, arn: &str) -> Result<Option<WorkflowExecution>, StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.get_execution(&arn).await })
            .await
    }
    async fn list_goal_executions(
        &self,
        goal_id: &str,
        limit: usize,
        after: Option<&RunsAfter>,
    ) -> Result<RunsPage, StoreError> {
        let (id, after) = (goal_id.to_owned(), after.cloned());
        self.call(move |s| async move { s.list_goal_executions(&id, limit, after.as_ref()).await })
            .await
    }
    async fn list_running_started_before(
        &self,
        t: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.call(move |s| async move { s.list_running_started_before(t).await })
            .await
    }
    async fn list_started_before(
        &self,
        t: DateTime<Utc>,
    ) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.call(move |s| async move { s.list_started_before(t).await })
            .await
    }
    async fn set_total_actions(&self, arn: &str, total: u32) -> Result<(), StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.set_total_actions(&arn, total).await })
            .await
    }
    async fn record_action_outcome(
        &self,
        arn: &str,
        outcome: &ActionOutcome,
        at: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let (arn, outcome) = (arn.to_owned(), outcome.clone());
        self.call(move |s| async move { s.record_action_outcome(&arn, &outcome, at).await })
            .await
    }
    async fn set_progress(
        &self,
        arn: &str,
        percent: u8,
        eta: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.set_progress(&arn, percent, eta, at).await })
            .await
    }
    async fn finish_run(&self, arn: &str, end: &RunEnd) -> Result<bool, StoreError> {
        let (arn, end) = (arn.to_owned(), end.clone());
        self.call(move |s| async move { s.finish_run(&arn, &end).await })
            .await
    }
    async fn clear_pending_alert(&self, arn: &str) -> Result<(), StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.clear_pending_alert(&arn).await })
            .await
    }
    async fn list_pending_alerts(&self) -> Result<Vec<WorkflowExecution>, StoreError> {
        self.call(|s| async move { s.list_pending_alerts().await })
            .await
    }
    async fn save_action_tasks(&self, tasks: &[Task]) -> Result<u32, StoreError> {
        let tasks = tasks.to_vec();
        self.call(move |s| async move { s.save_action_tasks(&tasks).await })
            .await
    }
    async fn list_execution_tasks(&self, arn: &str) -> Result<Vec<Task>, StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.list_execution_tasks(&arn).await })
            .await
    }
    async fn delete_execution_tasks(&self, arn: &str) -> Result<u32, StoreError> {
        let arn = arn.to_owned();
        self.call(move |s| async move { s.delete_execution_tasks(&arn).await })
            .await
    }
    async fn count_action_tasks(&self, goal_id: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        let id = goal_id.to_owned();
        self.call(move |s| async move { s.count_action_tasks(&id).await })
            .await
    }
}

/// A notifier whose calls run on a runtime of real time, under `spawn_blocking`.
pub struct OffClockNotifier {
    inner: Arc<dyn Notifier>,
    io: Handle,
}

impl OffClockNotifier {
    pub fn new(inner: Arc<dyn Notifier>, io: Handle) -> Self {
        Self { inner, io }
    }
}

#[async_trait]
impl Notifier for OffClockNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), DomainError> {
        let (notifier, io, alert) = (self.inner.clone(), self.io.clone(), alert.clone());
        tokio::task::spawn_blocking(move || {
            io.block_on(async move { notifier.publish(&alert).await })
        })
        .await
        .unwrap_or_else(|e| {
            Err(DomainError::transient(
                ErrorCode::Unavailable,
                format!("the publish failed: {e}"),
            ))
        })
    }
}

/// An archive whose calls run on a runtime of real time, under `spawn_blocking`.
pub struct OffClockArchive {
    inner: Arc<dyn Archive>,
    io: Handle,
}

impl OffClockArchive {
    pub fn new(inner: Arc<dyn Archive>, io: Handle) -> Self {
        Self { inner, io }
    }

    async fn call<T, F>(
        &self,
        f: impl FnOnce(Arc<dyn Archive>) -> F + Send + 'static,
    ) -> Result<T, DomainError>
    where
        F: Future<Output = Result<T, DomainError>> + Send + 'static,
        T: Send + 'static,
    {
        let (archive, io) = (self.inner.clone(), self.io.clone());
        tokio::task::spawn_blocking(move || io.block_on(f(archive)))
            .await
            .unwrap_or_else(|e| {
                Err(DomainError::transient(
                    ErrorCode::Unavailable,
                    format!("the archive call failed: {e}"),
                ))
            })
    }
}

#[async_trait]
impl Archive for OffClockArchive {
    async fn exists(&self, key: &str) -> Result<bool, DomainError> {
        let key = key.to_owned();
        self.call(move |a| async move { a.exists(&key).await })
            .await
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), DomainError> {
        let (key, content_type) = (key.to_owned(), content_type.to_owned());
        self.call(move |a| async move { a.put(&key, body, &content_type).await })
            .await
    }

    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
}
