//! Task tokens of tasks using the callback pattern (`.waitForTaskToken`): SendTaskSuccess,
//! SendTaskFailure and SendTaskHeartbeat return them to the task waiting on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};

use super::error::{ApiError, Code};
use asl_interpreter::clock::hold;
use asl_interpreter::invoker::FunctionError;

type Answer = Result<Value, FunctionError>;

struct Waiter {
    answer: oneshot::Sender<Answer>,
    heartbeat: Arc<Notify>,
}

/// The tokens tasks are waiting on.
#[derive(Default)]
pub struct Tokens {
    waiting: Mutex<HashMap<String, Waiter>>,
    patience: Option<Duration>,
}

/// A token a task waits on, registered so that an answer sent before the task starts waiting
/// is kept; forgotten when the task stops waiting, however it stops (answered, timed out, or its
/// execution stopped).
pub struct Expected {
    tokens: Arc<Tokens>,
    patience: Option<Duration>,
    token: String,
    answered: oneshot::Receiver<Answer>,
    beats: Arc<Notify>,
}

impl Drop for Expected {
    fn drop(&mut self) {
        self.tokens.lock().remove(&self.token);
    }
}

impl Expected {
    /// Waits for the answer; with `heartbeat`, fails with States.HeartbeatTimeout when that long
    /// passes without SendTaskHeartbeat.
    pub async fn wait(mut self, heartbeat: Option<Duration>) -> Answer {
        loop {
            // Renewed by each heartbeat: a worker that beats keeps a virtual clock still.
            let _held = self.patience.map(hold);
            let beat = self.beats.notified();
            let quiet = async {
                match heartbeat {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                answer = &mut self.answered => {
                    return answer.unwrap_or_else(|_| Err(heartbeat_timeout()));
                }
                () = beat => continue,
                () = quiet => return Err(heartbeat_timeout()),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessRequest {
    task_token: String,
    output: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRequest {
    task_token: String,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    task_token: String,
}

fn heartbeat_timeout() -> FunctionError {
    FunctionError {
        error_type: "States.HeartbeatTimeout".into(),
        error_message: String::new(),
        raw_body: None,
        service_cause: None,
    }
}

impl Tokens {
    /// Tokens whose waits, on a virtual clock, hold it still for `patience` of real time when
    /// they start and after each heartbeat (see [`hold`]): answers and heartbeats that come from
    /// outside within it are in time, and then the clock goes on to the task's deadline.
    pub fn with_patience(patience: Duration) -> Self {
        Tokens {
            patience: Some(patience),
            ..Tokens::default()
        }
    }

    /// How long a wait holds a virtual clock still for an answer from outside, if it does.
    pub fn patience(&self) -> Option<Duration> {
        self.patience
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Waiter>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `token`, for a task about to wait on it.
    pub fn expect(self: &Arc<Self>, token: &str) -> Expected {
        let (answer, answered) = oneshot::channel();
        let beats = Arc::new(Notify::new());
        self.lock().insert(
            token.to_owned(),
            Waiter {
                answer,
                heartbeat: beats.clone(),
            },
        );
        Expected {
            tokens: self.clone(),
            patience: self.patience,
            token: token.to_owned(),
            answered,
            beats,
        }
    }

    /// Waits for `token` to be returned, as [`Expected::wait`] does.
    pub async fn wait(self: &Arc<Self>, token: &str, heartbeat: Option<Duration>) -> Answer {
        self.expect(token).wait(heartbeat).await
    }

    fn take(&self, token: &str) -> Result<Waiter, ApiError> {
        if token.is_empty() || token.len() > 2048 {
            return Err(ApiError::new(Code::InvalidToken, "Invalid token"));
        }
        self.lock().remove(token).ok_or_else(|| {
            ApiError::new(
                Code::TaskTimedOut,
                "Task Timed Out: 'Provided task does not exist anymore'",
            )
        })
    }

    pub fn succeed(&self, request: SuccessRequest) -> Result<Value, ApiError> {
        if request.output.len() > asl_interpreter::executor::MAX_PAYLOAD_BYTES {
            return Err(ApiError::validation(
                "output",
                "Member must have length less than or equal to 262144",
            ));
        }
        let output: Value = serde_json::from_str(&request.output)
            .map_err(|e| ApiError::new(Code::InvalidOutput, format!("Invalid Output: '{e}'")))?;
        let waiter = self.take(&request.task_token)?;
        let _ = waiter.answer.send(Ok(output));
        Ok(json!({}))
    }

    pub fn fail(&self, request: FailureRequest) -> Result<Value, ApiError> {
        let waiter = self.take(&request.task_token)?;
        let error = FunctionError {
            error_type: request.error.unwrap_or_default(),
            error_message: request.cause.clone().unwrap_or_default(),
            raw_body: None,
            service_cause: request.cause,
        };
        let _ = waiter.answer.send(Err(error));
        Ok(json!({}))
    }

    pub fn heartbeat(&self, request: HeartbeatRequest) -> Result<Value, ApiError> {
        if request.task_token.is_empty() {
            return Err(ApiError::new(Code::InvalidToken, "Invalid token"));
        }
        match self.lock().get(&request.task_token) {
            Some(waiter) => {
                waiter.heartbeat.notify_one();
                Ok(json!({}))
            }
            None => Err(ApiError::new(
                Code::TaskTimedOut,
                "Task Timed Out: 'Provided task does not exist anymore'",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn heartbeats_keep_a_task_waiting_until_they_stop() {
        let tokens = Arc::new(Tokens::default());
        let waiting = {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.wait("t", Some(Duration::from_secs(10))).await })
        };
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(8)).await;
            let beat = tokens.heartbeat(HeartbeatRequest {
                task_token: "t".into(),
            });
            assert!(beat.is_ok());
        }
        let answer = waiting.await.expect("the wait ends");
        assert_eq!(
            answer.map_err(|e| e.error_type),
            Err("States.HeartbeatTimeout".into())
        );
        let late = tokens.succeed(SuccessRequest {
            task_token: "t".into(),
            output: "{}".into(),
        });
        assert_eq!(late.map_err(|e| e.code), Err(Code::TaskTimedOut));
    }

    #[tokio::test]
    async fn success_and_failure_reach_the_waiting_task() {
        let tokens = Arc::new(Tokens::default());
        let waiting = {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.wait("a", None).await })
        };
        while tokens.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        let bad = tokens.succeed(SuccessRequest {
            task_token: "a".into(),
            output: "{nope".into(),
        });
        assert_eq!(bad.map_err(|e| e.code), Err(Code::InvalidOutput));
        assert!(tokens
            .succeed(SuccessRequest {
                task_token: "a".into(),
                output: r#"{"ok":1}"#.into()
            })
            .is_ok());
        let answer = waiting.await.expect("the wait ends");
        assert_eq!(answer.ok(), Some(json!({"ok": 1})));
        let gone = tokens.fail(FailureRequest {
            task_token: "a".into(),
            error: None,
            cause: None,
        });
        assert_eq!(gone.map_err(|e| e.code), Err(Code::TaskTimedOut));
    }
}
