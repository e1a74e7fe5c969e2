//! Every handler, fed arbitrary JSON, answers with a value or a typed error and never panics.

use std::sync::Arc;

use chrono::Utc;
use function_dispatch::{Ports, FUNCTION_NAMES};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use shared::examples::{started_run, EXAMPLE_STATE_MACHINE_ARN};
use shared::memory::{InMemoryArchive, InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
use shared::ports::ManualClock;
use shared::ErrorKind;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        // Names the handlers look for, so that near-miss payloads are generated too.
        prop::sample::select(vec![
            "executionArn",
            "goalId",
            "2026-11-24T10:00:00Z",
            "arn:aws:states:us-east-1:123456789012:execution:StartActivity:x"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "executionArn",
            "goalId",
            "userId",
            "goalTitle",
            "input",
            "startedAt",
            "actions",
            "action",
            "batches",
            "batchIndex",
            "batchStartedAt",
            "actionResults",
            "succeededActionIds",
            "failedActions",
            "tasksWritten",
            "totalActions",
            "batchResults",
            "outcome",
            "error",
            "Error",
            "Cause",
            "requestContext",
            "pathParameters",
            "body",
            "headers",
            "authorizer",
            "jwt",
            "claims",
            "sub",
            "http",
            "version",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

/// A fresh world per handler (goal "g1" with a running run), so that no handler sees what
/// another did with the same payload.
async fn ports() -> Ports {
    let store = Arc::new(InMemoryStore::new());
    started_run(store.as_ref(), "g1", "u1", 3, Utc::now())
        .await
        .expect("seed");
    Ports {
        store,
        generator: Arc::new(OfflineGenerator::new()),
        notifier: Arc::new(RecordingNotifier::default()),
        control: Arc::new(InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now)),
        metrics: Arc::new(NoMetrics),
        archive: Arc::new(InMemoryArchive::default()),
        clock: Arc::new(ManualClock::new(Utc::now())),
        quota: shared::capacity::ModelQuota::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn handlers_never_panic(payload in json_value()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            for function in FUNCTION_NAMES {
                if let Err(e) = ports().await.invoke(function, payload.clone()).await {
                    prop_assert!(ErrorKind::ALL.contains(&e.kind), "{function}: {e:?}");
                    prop_assert!(!e.message.is_empty(), "{function}: {e:?}");
                }
            }
            Ok(())
        })?;
    }
}
