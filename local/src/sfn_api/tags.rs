//! Tags of state machines: CreateStateMachine's `tags`, TagResource, UntagResource and
//! ListTagsForResource.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, Code};

/// AWS's limit of tags on one resource.
pub const MAX_TAGS: usize = 50;

/// What a tag's key and value may hold besides letters, digits and white space.
const SYMBOLS: &str = "_.:/=+-@";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRequest {
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagRequest {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsRequest {
    pub resource_arn: String,
}

/// Checks tags as the API's request validation does: keys of 1 to 128 characters, values of up
/// to 256, both of letters, digits, white space and `_ . : / = + - @`.
pub fn check(tags: &[Tag]) -> Result<(), ApiError> {
    for (n, tag) in tags.iter().enumerate() {
        for (part, text, range) in [("key", &tag.key, 1..=128), ("value", &tag.value, 0..=256)] {
            let field = format!("tags.{}.member.{part}", n + 1);
            if !range.contains(&text.chars().count()) {
                return Err(ApiError::validation(
                    &field,
                    &format!(
                        "Member must have length between {} and {}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
            let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || SYMBOLS.contains(c);
            if !text.chars().all(allowed) {
                return Err(ApiError::validation(
                    &field,
                    r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
                ));
            }
        }
    }
    Ok(())
}

/// Sets `tags` on `current` (a key already there takes its new value); TooManyTags when the
/// resource `arn` would hold more than [`MAX_TAGS`].
pub fn set(current: &mut Vec<Tag>, tags: Vec<Tag>, arn: &str) -> Result<(), ApiError> {
    check(&tags)?;
    let mut merged = current.clone();
    for tag in tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => merged.push(tag),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::of_resource(
            Code::TooManyTags,
            format!("Too many tags: a resource holds at most {MAX_TAGS}"),
            arn,
        ));
    }
    *current = merged;
    Ok(())
}

/// The tags of every resource, by ARN.
#[derive(Default)]
pub struct TagStore {
    by_arn: Mutex<HashMap<String, Vec<Tag>>>,
}

impl TagStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Tag>>> {
        self.by_arn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// TagResource's work on the resource `arn`, which exists.
    pub fn tag(&self, arn: &str, tags: Vec<Tag>) -> Result<Value, ApiError> {
        let mut all = self.lock();
        set(all.entry(arn.to_owned()).or_default(), tags, arn)?;
        Ok(json!({}))
    }

    /// UntagResource's work on the resource `arn`, which exists.
    pub fn untag(&self, arn: &str, keys: &[String]) -> Value {
        if let Some(current) = self.lock().get_mut(arn) {
            current.retain(|t| !keys.contains(&t.key));
        }
        json!({})
    }

    /// ListTagsForResource's answer for the resource `arn`, which exists.
    pub fn list(&self, arn: &str) -> Value {
        json!({ "tags": self.lock().get(arn).cloned().unwrap_or_default() })
    }

    /// The tags of a resource just created: checked, then kept.
    pub fn create(&self, arn: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        let mut checked = Vec::new();
        set(&mut checked, tags, arn)?;
        self.lock().insert(arn.to_owned(), checked);
        Ok(())
    }

    pub fn remove(&self, arn: &str) {
        self.lock().remove(arn);
    }
}

pub fn not_found(arn: &str) -> ApiError {
    ApiError::of_resource(
        Code::ResourceNotFound,
        format!("Resource not found: '{arn}'"),
        arn,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn setting_a_key_again_replaces_its_value_up_to_fifty_tags() {
        let mut tags = vec![tag("team", "a")];
        set(&mut tags, vec![tag("team", "b"), tag("env", "")], "arn:x").unwrap();
        assert_eq!(tags, vec![tag("team", "b"), tag("env", "")]);
        let many: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
        let err = set(&mut tags, many, "arn:x").unwrap_err();
        assert_eq!(
            (err.code, err.resource_name.as_deref()),
            (Code::TooManyTags, Some("arn:x"))
        );
        assert_eq!(tags.len(), 2, "a refused request changes nothing");
    }

    #[test]
    fn keys_and_values_are_checked() {
        for bad in [
            tag("", "v"),
            tag(&"k".repeat(129), "v"),
            tag("k", &"v".repeat(257)),
            tag("k#", "v"),
        ] {
            let err = check(std::slice::from_ref(&bad)).unwrap_err();
            assert_eq!(err.code, Code::ValidationException, "{bad:?}");
        }
        check(&[tag("cost-center", "a b/c=d+e@f:g.h_i"), tag("ключ", "")]).unwrap();
    }
}
