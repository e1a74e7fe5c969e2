//! Activities: CreateActivity, DescribeActivity, ListActivities, DeleteActivity, and the tasks
//! their workers take with GetActivityTask (and answer with SendTaskSuccess or SendTaskFailure).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};

use super::configuration::Encryption;
use super::error::{ApiError, Code};
use super::names::{check_name, epoch, REGION};
use super::pages::Page;
use super::tags::{self, Tag, TagStore};

/// How long GetActivityTask waits for a task, as AWS's long poll does.
pub const POLL: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    name: String,
    #[serde(default)]
    tags: Vec<Tag>,
    encryption_configuration: Option<Encryption>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRequest {
    activity_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRequest {
    activity_arn: String,
    worker_name: Option<String>,
}

/// A task waiting for a worker: its token and input, and who to tell when a worker takes it.
struct Scheduled {
    token: String,
    input: String,
    taken: oneshot::Sender<String>,
}

struct Activity {
    arn: String,
    name: String,
    created: DateTime<Utc>,
    encryption: Encryption,
    tasks: Mutex<VecDeque<Scheduled>>,
    scheduled: Notify,
    /// Set once the activity is deleted: no task can come to its workers any more.
    deleted: AtomicBool,
}

impl Activity {
    fn describe(&self) -> Value {
        json!({
            "activityArn": self.arn,
            "name": self.name,
            "creationDate": epoch(self.created),
            "encryptionConfiguration": self.encryption.describe(),
        })
    }

    /// The oldest task whose execution still waits for it.
    fn next_task(&self, worker: &str) -> Option<(String, String)> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(task) = tasks.pop_front() {
            if task.taken.send(worker.to_owned()).is_ok() {
                return Some((task.token, task.input));
            }
        }
        None
    }
}

/// The activities, in the order they were created.
pub struct Activities {
    account: String,
    activities: Mutex<Vec<Arc<Activity>>>,
    tags: Arc<TagStore>,
}

fn no_activity(arn: &str) -> ApiError {
    ApiError::new(
        Code::ActivityDoesNotExist,
        format!("Activity Does Not Exist: '{arn}'"),
    )
}

impl Activities {
    pub fn new(account: String, tags: Arc<TagStore>) -> Self {
        Activities {
            account,
            activities: Mutex::default(),
            tags,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Activity>>> {
        self.activities.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, arn: &str) -> Result<Arc<Activity>, ApiError> {
        let prefix = format!("arn:aws:states:{REGION}:");
        if !arn.starts_with(&prefix) || !arn.contains(":activity:") {
            return Err(ApiError::invalid_arn(arn));
        }
        self.lock()
            .iter()
            .find(|a| a.arn == arn)
            .cloned()
            .ok_or_else(|| no_activity(arn))
    }

    /// Checks that the activity `arn` names exists, for its tags: ResourceNotFound when there
    /// is none.
    pub fn check_tagged(&self, arn: &str) -> Result<(), ApiError> {
        match self.get(arn) {
            Err(e) if e.code == Code::ActivityDoesNotExist => Err(tags::not_found(arn)),
            found => found.map(drop),
        }
    }

    /// Creates the activity (its tags unchanged when it exists, which answers it, as in AWS).
    pub fn create(&self, request: CreateRequest) -> Result<Value, ApiError> {
        check_name(&request.name)?;
        tags::check(&request.tags)?;
        let encryption = Encryption::checked(request.encryption_configuration)?;
        let arn = format!(
            "arn:aws:states:{REGION}:{}:activity:{}",
            self.account, request.name
        );
        let mut activities = self.lock();
        let activity = match activities.iter().find(|a| a.arn == arn) {
            Some(existing) => existing.clone(),
            None => {
                let created = Arc::new(Activity {
                    arn,
                    name: request.name,
                    created: Utc::now(),
                    encryption,
                    tasks: Mutex::default(),
                    scheduled: Notify::new(),
                    deleted: AtomicBool::new(false),
                });
                self.tags.create(&created.arn, request.tags)?;
                activities.push(created.clone());
                created
            }
        };
        Ok(json!({"activityArn": activity.arn, "creationDate": epoch(activity.created)}))
    }

    pub fn describe(&self, request: ActivityRequest) -> Result<Value, ApiError> {
        Ok(self.get(&request.activity_arn)?.describe())
    }

    pub fn list(&self, page: Page) -> Result<Value, ApiError> {
        // List items have no encryption configuration.
        let items: Vec<Value> = self
            .lock()
            .iter()
            .map(
                |a| json!({"activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created)}),
            )
            .collect();
        page.answer("activities", items)
    }

    /// Deletes the activity; deleting one that does not exist succeeds, as in AWS. Its workers
    /// waiting for a task get none at once: none can come.
    pub fn delete(&self, request: ActivityRequest) -> Value {
        self.lock().retain(|a| {
            let deleted = a.arn == request.activity_arn;
            if deleted {
                a.deleted.store(true, Ordering::SeqCst);
                a.scheduled.notify_waiters();
            }
            !deleted
        });
        self.tags.remove(&request.activity_arn);
        json!({})
    }

    /// Schedules the task `token` for the activity's workers; the answer tells which worker
    /// took it.
    pub fn schedule(
        &self,
        arn: &str,
        token: &str,
        input: &Value,
    ) -> Result<oneshot::Receiver<String>, ApiError> {
        let activity = self.get(arn)?;
        let (taken, took) = oneshot::channel();
        activity
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Scheduled {
                token: token.to_owned(),
                input: input.to_string(),
                taken,
            });
        activity.scheduled.notify_one();
        Ok(took)
    }

    /// GetActivityTask: the oldest scheduled task, waiting up to [`POLL`] for one; `{}` when none
    /// comes, or when the activity is deleted meanwhile.
    pub async fn take(&self, request: TaskRequest) -> Result<Value, ApiError> {
        let activity = self.get(&request.activity_arn)?;
        let worker = request.worker_name.unwrap_or_default();
        let deadline = tokio::time::Instant::now() + POLL;
        loop {
            let scheduled = activity.scheduled.notified();
            if let Some((token, input)) = activity.next_task(&worker) {
                return Ok(json!({"taskToken": token, "input": input}));
            }
            if activity.deleted.load(Ordering::SeqCst) {
                return Ok(json!({}));
            }
            if tokio::time::timeout_at(deadline, scheduled).await.is_err() {
                return Ok(json!({}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_worker_takes_the_oldest_task_whose_execution_still_waits() {
        let activities = Activities::new("123456789012".into(), Arc::default());
        let arn = activities
            .create(CreateRequest {
                name: "a".into(),
                tags: Vec::new(),
                encryption_configuration: None,
            })
            .map(|v| v["activityArn"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let abandoned = activities.schedule(&arn, "t0", &json!(0));
        drop(abandoned);
        let waiting = activities.schedule(&arn, "t1", &json!({"n": 1}));
        let task = activities
            .take(TaskRequest {
                activity_arn: arn.clone(),
                worker_name: Some("w".into()),
            })
            .await;
        assert_eq!(
            task.ok(),
            Some(json!({"taskToken": "t1", "input": r#"{"n":1}"#}))
        );
        assert_eq!(waiting.expect("scheduled").await.ok().as_deref(), Some("w"));
        let none = activities
            .take(TaskRequest {
                activity_arn: arn,
                worker_name: None,
            })
            .await;
        assert_eq!(none.ok(), Some(json!({})), "an empty poll after 60 s");
        let missing = activities.schedule(
            "arn:aws:states:us-east-1:123456789012:activity:nope",
            "t",
            &json!(0),
        );
        assert_eq!(
            missing.err().map(|e| e.code),
            Some(Code::ActivityDoesNotExist)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deleting_an_activity_ends_its_workers_polls_at_once() {
        let activities = Arc::new(Activities::new("123456789012".into(), Arc::default()));
        let arn = activities
            .create(CreateRequest {
                name: "a".into(),
                tags: Vec::new(),
                encryption_configuration: None,
            })
            .map(|v| v["activityArn"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let started = tokio::time::Instant::now();
        let polling = tokio::spawn({
            let (activities, arn) = (activities.clone(), arn.clone());
            async move {
                activities
                    .take(TaskRequest {
                        activity_arn: arn,
                        worker_name: None,
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        activities.delete(ActivityRequest { activity_arn: arn });
        let answer = polling.await.expect("the poll ends");
        assert_eq!(answer.ok(), Some(json!({})));
        assert!(started.elapsed() < POLL, "{:?}", started.elapsed());
    }
}
