//! `docs/openapi.yaml` describes what the API handlers answer: every status and error code they
//! can produce, and the exact fields of their bodies.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Utc;
use serde_json::Value;
use shared::api::{StartResponse, StatusView, MAX_IDEMPOTENCY_KEY_LEN};
use shared::examples::{started_run, ApiWorld};
use shared::history::{goal_executions, goal_view, MAX_PAGE_SIZE};
use shared::memory::{InMemoryArchive, InMemoryStore};
use shared::ports::SystemClock;
use shared::records::ExecutionStatus;
use shared::ErrorCode;

fn spec() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("valid YAML")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn required(spec: &Value, schema: &str) -> BTreeSet<String> {
    spec["components"]["schemas"][schema]["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_route_documents_its_success_and_every_error_status() {
    let spec = spec();
    let routes = [
        ("/api/goals/{goalId}/start-activity", "post", "202"),
        ("/api/goals/{goalId}", "get", "200"),
        ("/api/goals/{goalId}/executions", "get", "200"),
        ("/api/workflows/{executionArn}/status", "get", "200"),
        ("/api/workflows/{executionArn}/cancel", "post", "200"),
        ("/api/workflows/{executionArn}/retry", "post", "202"),
    ];
    assert_eq!(keys(&spec["paths"]).len(), routes.len());
    for (path, method, success) in routes {
        let responses = &spec["paths"][path][method]["responses"];
        let documented = keys(responses);
        assert!(
            documented.contains(success),
            "{method} {path} lacks {success}"
        );
        // Every status a domain error maps to, except the request-shape ones a route cannot hit.
        for code in ErrorCode::ALL {
            let status = code.http_status().to_string();
            let route_can_answer = match code {
                ErrorCode::PayloadTooLarge => method == "post" && path.contains("start-activity"),
                ErrorCode::Conflict => method == "post",
                // Another user's goal or run answers 404, as a missing one does.
                ErrorCode::Forbidden => false,
                _ => true,
            };
            if route_can_answer {
                assert!(
                    documented.contains(&status),
                    "{method} {path} lacks {status} ({code})"
                );
            }
        }
        assert!(!documented.contains("403"), "{method} {path} answers 403");
    }
}

#[test]
fn error_codes_are_the_ones_the_handlers_send() {
    let spec = spec();
    let documented: BTreeSet<String> = spec["components"]["schemas"]["Error"]["properties"]
        ["error"]["properties"]["code"]["enum"]
        .as_array()
        .expect("code enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let sent: BTreeSet<String> = ErrorCode::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(documented, sent);
}

#[tokio::test]
async fn bodies_have_exactly_the_documented_fields() {
    let spec = spec();
    let store = InMemoryStore::new();
    let (run, _) = started_run(&store, "g", "u", 2, Utc::now())
        .await
        .expect("run");
    let status = serde_json::to_value(StatusView::of(run.clone(), Utc::now())).expect("json");
    assert_eq!(keys(&status), required(&spec, "StatusView"));
    let start = serde_json::to_value(StartResponse {
        execution_arn: run.execution_arn,
        start_date: run.started_at,
        status: ExecutionStatus::Running,
    })
    .expect("json");
    assert_eq!(keys(&start), required(&spec, "StartResponse"));
    let page = goal_executions(
        &store,
        &InMemoryArchive::default(),
        &SystemClock,
        "u",
        "g",
        50,
        None,
    )
    .await
    .expect("page");
    let page = serde_json::to_value(page).expect("json");
    assert_eq!(keys(&page), required(&spec, "ExecutionsPage"));
    assert_eq!(keys(&page["executions"][0]), required(&spec, "RunEntry"));
    assert_eq!(keys(&page["olderRuns"]), required(&spec, "OlderRuns"));
    let goal = goal_view(&store, &SystemClock, "u", "g")
        .await
        .expect("goal");
    let goal = serde_json::to_value(goal).expect("json");
    assert_eq!(keys(&goal), required(&spec, "GoalView"));
    assert_eq!(keys(&goal["actions"][0]), required(&spec, "ActionEntry"));
    assert_eq!(keys(&goal["latestRun"]), required(&spec, "StatusView"));
    // A retry answers with the same body as a start.
    for path in [
        "/api/goals/{goalId}/start-activity",
        "/api/workflows/{executionArn}/retry",
    ] {
        let schema = &spec["paths"][path]["post"]["responses"]["202"]["content"]
            ["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/StartResponse", "{path}");
    }
}

#[tokio::test]
async fn the_start_request_is_bounded_as_the_handler_bounds_it() {
    let spec = spec();
    let start = &spec["paths"]["/api/goals/{goalId}/start-activity"]["post"];
    let body = &start["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["additionalProperties"], false);
    assert_eq!(
        keys(&body["properties"]),
        BTreeSet::from(["idempotencyKey".to_owned()])
    );
    let header = start["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"))
        .expect("the Idempotency-Key header");
    for key in [&body["properties"]["idempotencyKey"], &header["schema"]] {
        assert_eq!(key["minLength"], 1);
        assert_eq!(key["maxLength"], MAX_IDEMPOTENCY_KEY_LEN);
    }

    // The handler takes exactly the documented lengths and refuses one more.
    let world = ApiWorld::new(2).await.expect("world");
    assert!(world
        .start(&"k".repeat(MAX_IDEMPOTENCY_KEY_LEN))
        .await
        .is_ok());
    let world = ApiWorld::new(2).await.expect("world");
    let refused = world
        .start(&"k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1))
        .await
        .expect_err("too long");
    assert_eq!(refused.code, ErrorCode::BadRequest);
}

#[test]
fn the_history_page_is_bounded_as_the_handler_bounds_it() {
    let spec = spec();
    let list = &spec["paths"]["/api/goals/{goalId}/executions"]["get"];
    let limit = list["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("the limit parameter");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], MAX_PAGE_SIZE);
    assert_eq!(
        limit["schema"]["default"],
        shared::history::DEFAULT_PAGE_SIZE
    );
    assert_eq!(
        spec["components"]["schemas"]["ExecutionsPage"]["properties"]["executions"]["maxItems"],
        MAX_PAGE_SIZE
    );
}
