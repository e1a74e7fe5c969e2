//! Pagination: `maxResults` (0 or none: 100, at most 1000) and an opaque `nextToken`.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ApiError;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    max_results: Option<i64>,
    next_token: Option<String>,
}

impl Page {
    fn size(&self) -> Result<usize, ApiError> {
        match self.max_results {
            None | Some(0) => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE as i64).contains(&n) => Ok(n as usize),
            Some(_) => Err(ApiError::validation(
                "maxResults",
                "Member must have value less than or equal to 1000",
            )),
        }
    }

    fn offset(&self) -> Result<usize, ApiError> {
        let Some(token) = &self.next_token else {
            return Ok(0);
        };
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("offset:")?.parse().ok())
            .ok_or_else(|| ApiError::invalid_token(token))
    }

    /// The page of `items` this request asks for, under `key`, with a `nextToken` when more follow.
    pub fn answer(&self, key: &str, items: Vec<Value>) -> Result<Value, ApiError> {
        let size = self.size()?;
        let offset = self.offset()?;
        if offset > items.len() {
            return Err(ApiError::invalid_token(
                self.next_token.as_deref().unwrap_or_default(),
            ));
        }
        let end = (offset + size).min(items.len());
        let more = end < items.len();
        let mut answer = Map::new();
        answer.insert(key.into(), Value::Array(items[offset..end].to_vec()));
        if more {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("offset:{end}"));
            answer.insert("nextToken".into(), Value::String(token));
        }
        Ok(Value::Object(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_follow_one_another_to_the_end() {
        let items: Vec<Value> = (0..5).map(Value::from).collect();
        let mut page = Page {
            max_results: Some(2),
            next_token: None,
        };
        let mut seen = Vec::new();
        loop {
            let answer = page.answer("xs", items.clone()).expect("a page");
            seen.extend(answer["xs"].as_array().cloned().unwrap_or_default());
            match answer.get("nextToken").and_then(Value::as_str) {
                Some(token) => page.next_token = Some(token.to_owned()),
                None => break,
            }
        }
        assert_eq!(Value::Array(seen), json!([0, 1, 2, 3, 4]));
        page.next_token = Some("garbage".into());
        assert!(page.answer("xs", items).is_err());
    }
}
