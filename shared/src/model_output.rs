//! What the model must answer for one action, and its validation: the schema bounds each action's
//! tasks, so a batch's results stay far below the 256 KiB state payload limit.

use serde::Deserialize;

use crate::error::{DomainError, ErrorCode};
use crate::ports::GeneratedTask;
use crate::records::is_payload_text;

pub const MAX_TASKS: usize = 8;
pub const MAX_TITLE_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MIN_MINUTES: u32 = 5;
pub const MAX_MINUTES: u32 = 480;

/// The JSON Schema of the model's answer, given to the model in its instructions; the checks in
/// [`parse_model_output`] enforce exactly these bounds.
pub const TASK_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["tasks"],
  "properties": {
    "tasks": {
      "type": "array",
      "minItems": 1,
      "maxItems": 8,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "description", "estimatedMinutes"],
        "properties": {
          "title": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "minLength": 1, "maxLength": 500},
          "estimatedMinutes": {"type": "integer", "minimum": 5, "maximum": 480}
        }
      }
    }
  }
}"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    tasks: Vec<AnswerTask>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnswerTask {
    title: String,
    description: String,
    estimated_minutes: u32,
}

fn invalid(why: impl std::fmt::Display) -> DomainError {
    DomainError::permanent(
        ErrorCode::InvalidModelOutput,
        format!("the model's answer breaks the task schema: {why}"),
    )
}

/// Where the answer stops being the task JSON, without quoting it: the answer is generated from the
/// user's text, and errors travel to logs and the execution's history.
fn unreadable(e: serde_json::Error) -> DomainError {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not the task object",
        serde_json::error::Category::Eof => "cut short",
    };
    invalid(format!("{what} (line {}, column {})", e.line(), e.column()))
}

/// The JSON object in a model's text: the whole text, or the inside of a ```json fence.
fn json_text(text: &str) -> &str {
    let text = text.trim();
    let Some(fenced) = text.strip_prefix("```") else {
        return text;
    };
    let body = fenced.strip_prefix("json").unwrap_or(fenced);
    body.strip_suffix("```").unwrap_or(body).trim()
}

/// Validates the model's answer and returns its tasks. Anything off the schema is a Permanent
/// `INVALID_MODEL_OUTPUT` error saying what is wrong (asking again would not fix it reliably).
pub fn parse_model_output(text: &str) -> Result<Vec<GeneratedTask>, DomainError> {
    let answer: Answer = serde_json::from_str(json_text(text)).map_err(unreadable)?;
    if answer.tasks.is_empty() || answer.tasks.len() > MAX_TASKS {
        return Err(invalid(format!(
            "{} tasks (1 to {MAX_TASKS} allowed)",
            answer.tasks.len()
        )));
    }
    answer
        .tasks
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let title = t.title.trim().to_owned();
            let description = t.description.trim().to_owned();
            if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
                return Err(invalid(format!(
                    "task {i}: title must be 1 to {MAX_TITLE_CHARS} characters"
                )));
            }
            if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(invalid(format!(
                    "task {i}: description must be 1 to {MAX_DESCRIPTION_CHARS} characters"
                )));
            }
            if !is_payload_text(&title) || !is_payload_text(&description) {
                return Err(invalid(format!("task {i}: control characters in the text")));
            }
            if !(MIN_MINUTES..=MAX_MINUTES).contains(&t.estimated_minutes) {
                return Err(invalid(format!(
                    "task {i}: estimatedMinutes must be {MIN_MINUTES} to {MAX_MINUTES}"
                )));
            }
            Ok(GeneratedTask {
                title,
                description,
                estimated_minutes: t.estimated_minutes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn answer(tasks: Value) -> String {
        json!({"tasks": tasks}).to_string()
    }

    #[test]
    fn accepts_a_valid_answer_even_fenced() {
        let text = answer(
            json!([{"title": "Plan", "description": "Write the plan", "estimatedMinutes": 30}]),
        );
        assert_eq!(parse_model_output(&text).map(|t| t.len()), Ok(1));
        assert_eq!(
            parse_model_output(&format!("```json\n{text}\n```")).map(|t| t.len()),
            Ok(1)
        );
    }

    #[test]
    fn refuses_answers_off_the_schema() {
        let task = json!({"title": "Plan", "description": "d", "estimatedMinutes": 30});
        for bad in [
            "not json".to_owned(),
            answer(json!([])),
            answer(Value::Array(vec![task.clone(); 9])),
            answer(json!([{"title": "", "description": "d", "estimatedMinutes": 30}])),
            answer(json!([{"title": "x".repeat(101), "description": "d", "estimatedMinutes": 30}])),
            answer(json!([{"title": "t", "description": "d", "estimatedMinutes": 4}])),
            answer(json!([{"title": "t\u{0}", "description": "d", "estimatedMinutes": 30}])),
            answer(json!([{"title": "t", "description": "d", "estimatedMinutes": 30, "extra": 1}])),
            json!({"tasks": [task], "note": "x"}).to_string(),
        ] {
            let e = parse_model_output(&bad).unwrap_err();
            assert_eq!(
                (e.code, e.error_type()),
                (ErrorCode::InvalidModelOutput, "PermanentError"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_schema_document_states_the_enforced_bounds() {
        let schema: Value = serde_json::from_str(TASK_SCHEMA).unwrap();
        let tasks = &schema["properties"]["tasks"];
        let item = &tasks["items"]["properties"];
        assert_eq!(tasks["maxItems"], MAX_TASKS);
        assert_eq!(tasks["minItems"], 1);
        assert_eq!(item["title"]["maxLength"], MAX_TITLE_CHARS);
        assert_eq!(item["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
        assert_eq!(item["estimatedMinutes"]["minimum"], MIN_MINUTES);
        assert_eq!(item["estimatedMinutes"]["maximum"], MAX_MINUTES);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = parse_model_output(&text);
        }
    }

    #[test]
    fn a_refused_answer_does_not_quote_the_model() {
        for text in [
            r#"{"tasks": [{"title": "MARKER", "description": 3, "estimatedMinutes": 5}]}"#,
            r#"{"tasks": "MARKER"}"#,
            "MARKER",
            r#"{"tasks": [{"title": "MARKER"#,
        ] {
            let refused = parse_model_output(text).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidModelOutput);
            assert!(!refused.message.contains("MARKER"), "{}", refused.message);
        }
    }
}
