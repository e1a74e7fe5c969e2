//! The offline task generator: deterministic tasks from an action's text, no network. Local runs
//! and tests use it in place of Bedrock.
//!
//! It can be told to misbehave, so that example goals and tests exercise the failure paths with the
//! real state machine: an action whose title contains `[fail]` fails permanently (as malformed
//! model output would), and one containing `[flaky:N]` fails transiently (as throttling would) on
//! its first N attempts.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::{DomainError, ErrorCode};
use crate::ports::{GeneratedTask, TaskGenerator};
use crate::records::Action;

const STEPS: [(&str, u32); 6] = [
    ("Outline what \"{}\" needs and what done looks like", 15),
    ("Block time in the calendar for \"{}\"", 5),
    ("Gather what is needed to start \"{}\"", 20),
    ("Do the first concrete session of \"{}\"", 45),
    ("Review progress on \"{}\" and note what to change", 15),
    ("Share the result of \"{}\" with someone", 10),
];

#[derive(Default)]
pub struct OfflineGenerator {
    attempts: Mutex<HashMap<String, u32>>,
}

impl OfflineGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    fn attempt(&self, action: &Action) -> u32 {
        let Ok(mut attempts) = self.attempts.lock() else {
            return 1;
        };
        let n = attempts.entry(action.action_id.clone()).or_insert(0);
        *n += 1;
        *n
    }
}

/// The N of a `[flaky:N]` marker.
fn flaky_attempts(title: &str) -> Option<u32> {
    let start = title.find("[flaky:")? + "[flaky:".len();
    let end = title[start..].find(']')? + start;
    title[start..end].parse().ok()
}

/// The tasks the offline generator proposes for an action: three to five steps picked by a hash of
/// the action's id and title, so the same action always gets the same tasks.
pub fn offline_tasks(action: &Action) -> Vec<GeneratedTask> {
    let digest = Sha256::digest(format!("{}\n{}", action.action_id, action.title).as_bytes());
    let count = 3 + usize::from(digest[0] % 3);
    let first = usize::from(digest[1]) % STEPS.len();
    let subject: String = action.title.chars().take(60).collect();
    (0..count)
        .map(|i| {
            let (template, minutes) = STEPS[(first + i) % STEPS.len()];
            GeneratedTask {
                title: format!("Step {}: {}", i + 1, template.replace("{}", &subject))
                    .chars()
                    .take(100)
                    .collect(),
                description: format!(
                    "Part of the action \"{subject}\". {}",
                    if action.description.is_empty() {
                        "Keep it small enough to finish in one sitting."
                    } else {
                        action.description.as_str()
                    }
                )
                .chars()
                .take(500)
                .collect(),
                estimated_minutes: minutes,
            }
        })
        .collect()
}

#[async_trait]
impl TaskGenerator for OfflineGenerator {
    async fn generate(
        &self,
        _goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let attempt = self.attempt(action);
        if action.title.contains("[fail]") {
            return Err(DomainError::permanent(
                ErrorCode::InvalidModelOutput,
                format!(
                    "the model's answer for action {} is not valid task JSON",
                    action.action_id
                ),
            ));
        }
        if let Some(n) = flaky_attempts(&action.title) {
            if attempt <= n {
                return Err(DomainError::transient(
                    ErrorCode::Throttled,
                    format!(
                        "model throttled (attempt {attempt} for action {})",
                        action.action_id
                    ),
                ));
            }
        }
        Ok(offline_tasks(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn action(id: &str, title: &str) -> Action {
        Action {
            goal_id: "g".into(),
            action_id: id.into(),
            sub_goal_id: "s".into(),
            position: 0,
            title: title.into(),
            description: String::new(),
        }
    }

    #[tokio::test]
    async fn same_action_same_tasks() {
        let g = OfflineGenerator::new();
        let a = action("a1", "Run 5 km three times a week");
        let first = g.generate("", &a).await;
        assert_eq!(first, g.generate("", &a).await);
        let tasks = first.unwrap_or_default();
        assert!((3..=5).contains(&tasks.len()));
        assert!(tasks
            .iter()
            .all(|t| t.title.len() <= 100 && t.description.len() <= 500));
    }

    #[tokio::test]
    async fn markers_inject_failures() {
        let g = OfflineGenerator::new();
        let broken = g.generate("", &action("a", "x [fail]")).await;
        assert_eq!(broken.map_err(|e| e.kind), Err(ErrorKind::Permanent));

        let flaky = action("b", "y [flaky:2]");
        for _ in 0..2 {
            let e = g.generate("", &flaky).await;
            assert_eq!(e.map_err(|e| e.kind), Err(ErrorKind::Transient));
        }
        assert!(g.generate("", &flaky).await.is_ok());
    }
}
