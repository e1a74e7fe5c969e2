//! What a Task state's `Resource` names: a Lambda function, directly or through the
//! `lambda:invoke` integration, the callback pattern on it, or an activity.

/// How a Lambda task's result comes back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Integration {
    /// The function's output is the task result.
    Direct(String),
    /// The result is the Invoke API envelope.
    Invoke,
}

/// The Lambda integration `resource` names, if it names one.
pub(crate) fn integration(resource: &str) -> Option<Integration> {
    if resource.starts_with("arn:aws:lambda:") && resource.contains(":function:") {
        return Some(Integration::Direct(resource.to_string()));
    }
    if resource.starts_with("arn:") && resource.ends_with(":states:::lambda:invoke")
        || resource == "arn:aws:states:::lambda:invoke"
    {
        return Some(Integration::Invoke);
    }
    None
}

/// The suffix of a service integration that waits for its task token.
pub(crate) const CALLBACK: &str = ".waitForTaskToken";

/// Whether a Task naming `resource` waits for a task token: the callback pattern
/// (`...lambda:invoke.waitForTaskToken`) or an activity.
pub(crate) fn is_callback(resource: &str) -> bool {
    resource.ends_with(CALLBACK) || crate::invoker::is_activity(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_integrations() {
        assert_eq!(
            integration("arn:aws:lambda:us-east-1:1:function:f"),
            Some(Integration::Direct(
                "arn:aws:lambda:us-east-1:1:function:f".into()
            ))
        );
        assert_eq!(
            integration("arn:aws:states:::lambda:invoke"),
            Some(Integration::Invoke)
        );
        assert_eq!(integration("arn:aws:states:::sqs:sendMessage"), None);
    }

    #[test]
    fn callbacks_wait_for_their_token() {
        assert!(is_callback(
            "arn:aws:states:::lambda:invoke.waitForTaskToken"
        ));
        assert!(is_callback("arn:aws:states:us-east-1:1:activity:a"));
        assert!(!is_callback("arn:aws:states:::lambda:invoke"));
    }
}
