//! `sfn-local serve`: the product's HTTP API on 127.0.0.1 with the Lambdas' own handlers, behind a
//! JWT check that answers as API Gateway's JWT authorizer does, runs executed by the local
//! executor, and a status page. Tokens are signed with a local development key
//! (`sfn-local token --user U`).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shared::examples::{example_goal, mark, seed};
use shared::http_api::RequestEvent;
use shared::ports::Store;

use crate::stack::LocalStack;

/// Who issues the development tokens, and for whom: what the deployed authorizer's issuer and
/// audience parameters are in AWS.
pub const ISSUER: &str = "sfn-local";
pub const AUDIENCE: &str = "start-activity-local";

/// API Gateway's limit on a request body; the handlers apply their own, smaller one.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The HMAC key development tokens are signed with, kept in a file so `serve` and `token` agree.
pub struct DevKey(Vec<u8>);

#[derive(Serialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
}

impl DevKey {
    /// Reads the key at `path`, creating a random one there first if there is none.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(DevKey(text.trim().as_bytes().to_vec())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = format!(
                    "{:x}{:x}",
                    uuid::Uuid::new_v4().as_u128(),
                    uuid::Uuid::new_v4().as_u128()
                );
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(path, &key)?;
                Ok(DevKey(key.into_bytes()))
            }
            Err(e) => Err(e),
        }
    }

    /// A token for `user`, valid for `minutes` from now.
    pub fn mint(&self, user: &str, minutes: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.mint_at(user, now, minutes)
    }

    fn mint_at(
        &self,
        user: &str,
        now: u64,
        minutes: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + minutes * 60,
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.0),
        )
    }

    /// The claims of a valid `Authorization: Bearer` token, as the authorizer passes them on.
    fn verify(&self, headers: &HeaderMap) -> Result<Map<String, Value>, Refusal> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(Refusal::Missing)?
            .to_str()
            .map_err(|_| Refusal::Invalid("the token is malformed".into()))?;
        let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
        if token.is_empty() {
            return Err(Refusal::Missing);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        // As the authorizer: `exp` required, `nbf` checked when present; `sub` is the function's
        // business (it answers 401 without one).
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        let claims =
            decode::<Map<String, Value>>(token, &DecodingKey::from_secret(&self.0), &validation)
                .map_err(|e| Refusal::Invalid(describe(e.kind()).into()))?
                .claims;
        // API Gateway hands every claim to the function as a string.
        Ok(claims
            .into_iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                (name, Value::String(text))
            })
            .collect())
    }
}

/// Why a request was not let through to the function.
#[derive(Debug, PartialEq)]
enum Refusal {
    Missing,
    Invalid(String),
}

/// The `error_description` the authorizer's `www-authenticate` header gives a refused token.
fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token does not have a valid audience",
        ErrorKind::InvalidIssuer => "the token does not have a valid issuer",
        ErrorKind::InvalidSignature => "the token's signature is not valid",
        ErrorKind::MissingRequiredClaim(_) => "the token is missing a required claim",
        _ => "the token is malformed",
    }
}

/// A goal seeded for the page and the tests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededGoal {
    pub goal_id: String,
    pub label: &'static str,
}

/// Seeds `user`'s example goals, unless they exist: one that succeeds, one with failing actions,
/// a small one.
/// Seeds `user`'s example goals, and `load_goals` more of 64 actions (`{user}-load-{i}`, for
/// load runs).
pub async fn seed_goals(
    store: &dyn Store,
    user: &str,
    load_goals: usize,
) -> Result<Vec<SeededGoal>, String> {
    let now = chrono::Utc::now();
    let mut seeded = Vec::new();
    // The partial goal's failing actions are throttled on every attempt of the first run (1 + 3
    // retries) and answer on the next: retrying the failed actions completes the goal.
    let examples = [
        ("example".to_owned(), "64 actions, all succeed", 64, 0),
        (
            "partial".to_owned(),
            "16 actions, 4 fail until retried",
            16,
            4,
        ),
        ("small".to_owned(), "8 actions, all succeed", 8, 0),
    ];
    let load = (0..load_goals).map(|i| (format!("load-{i}"), "64 actions, for load runs", 64, 0));
    for (suffix, label, count, failing) in examples.into_iter().chain(load) {
        let goal_id = format!("{user}-{suffix}");
        // A goal kept from an earlier `serve` (on DynamoDB) stays as it is, with its runs and tasks.
        if store
            .get_goal(&goal_id)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            let (goal, mut actions) = example_goal(&goal_id, user, count, now);
            mark(
                &mut actions,
                (0..count).step_by(4).take(failing),
                "[flaky:4]",
            );
            seed(store, &goal, &actions)
                .await
                .map_err(|e| e.to_string())?;
        }
        seeded.push(SeededGoal { goal_id, label });
    }
    Ok(seeded)
}

struct App {
    stack: Arc<LocalStack>,
    key: DevKey,
    goals: Vec<SeededGoal>,
    /// The `Host` a request to the server's own loopback address carries (`127.0.0.1:8080`).
    host: String,
}

/// The routes: the API as deployed, the page, and two local-only helpers (`/local/...`), for a
/// server listening on `address`.
pub fn router(
    stack: Arc<LocalStack>,
    key: DevKey,
    goals: Vec<SeededGoal>,
    address: SocketAddr,
) -> Router {
    let host = address.to_string();
    let app = Arc::new(App {
        stack,
        key,
        goals,
        host,
    });
    Router::new()
        .route(
            "/api/goals/{goalId}/start-activity",
            post_to("start-workflow"),
        )
        .route("/api/goals/{goalId}", get_to("get-goal"))
        .route("/api/goals/{goalId}/executions", get_to("list-executions"))
        .route("/api/workflows/{executionArn}/status", get_to("get-status"))
        .route("/api/workflows/{executionArn}/cancel", post_to("cancel"))
        .route(
            "/api/workflows/{executionArn}/retry",
            post_to("retry-failed"),
        )
        .route("/local/goals", get(list_goals))
        .route("/local/token", get(mint_token))
        .route(
            "/",
            get(|| async {
                page(
                    "text/html; charset=utf-8",
                    include_str!("../static/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript", include_str!("../static/app.js")) }),
        )
        .route(
            "/style.css",
            get(|| async { page("text/css", include_str!("../static/style.css")) }),
        )
        // No route matches: API Gateway answers 404 whatever the method.
        .fallback(|| async { gateway_error(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async { gateway_error(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(app)
}

fn page(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

fn post_to(function: &'static str) -> MethodRouter<Arc<App>> {
    post(move |state, request| call(state, function, request))
}

fn get_to(function: &'static str) -> MethodRouter<Arc<App>> {
    get(move |state, request| call(state, function, request))
}

/// Every API route is `/api/<collection>/{parameter}/...`: the route's template, and the
/// parameter's name and raw (still percent-encoded) value, as API Gateway hands them to the
/// function.
fn route(path: &str) -> (String, Option<(&'static str, &str)>) {
    let segments: Vec<&str> = path.split('/').collect();
    let name = match segments.get(2) {
        Some(&"goals") => "goalId",
        _ => "executionArn",
    };
    match segments.get(3) {
        Some(value) => {
            let mut template = segments.clone();
            let placeholder = format!("{{{name}}}");
            template[3] = &placeholder;
            (template.join("/"), Some((name, *value)))
        }
        None => (path.to_owned(), None),
    }
}

/// The query string's parameters, decoded.
fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// What API Gateway's JWT authorizer answers when the token is missing or invalid: 401 with
/// `{"message":"Unauthorized"}`, and for a token it rejected, the reason in `www-authenticate`.
fn unauthorized(refusal: Refusal) -> Response {
    let challenge = match refusal {
        Refusal::Missing => "Bearer".to_owned(),
        Refusal::Invalid(why) => {
            format!(r#"Bearer scope="" error="invalid_token" error_description="{why}""#)
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        Json(json!({"message": "Unauthorized"})),
    )
        .into_response()
}

/// API Gateway's own answers, for requests it refuses before any function sees them.
fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// One API request: verify the token, build the HTTP API v2 event, run the function's handler,
/// and hand the executor any run the handler started.
async fn call(State(app): State<Arc<App>>, function: &'static str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let claims = match app.key.verify(&parts.headers) {
        Ok(claims) => claims,
        Err(refusal) => return unauthorized(refusal),
    };
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let path = parts.uri.path();
    let (template, parameter) = route(path);
    let mut event = RequestEvent::new(parts.method.as_str(), path)
        .route(&template)
        .claims(Value::Object(claims))
        .raw_query(parts.uri.query().unwrap_or(""))
        .request_id(&uuid::Uuid::new_v4().to_string());
    if let Some((name, value)) = parameter {
        event = event.path_parameter(name, value);
    }
    for (name, value) in query_pairs(&parts.uri) {
        event = event.query_parameter(&name, &value);
    }
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            event = event.header(name.as_str(), value);
        }
    }
    event = match std::str::from_utf8(&body) {
        Ok("") => event,
        Ok(text) => event.body(text),
        Err(_) => event.binary_body(&body),
    };
    let event = event.into_value();
    let response = match app.stack.invoke(function, event).await {
        Ok(response) => response,
        Err(e) => {
            // A function that fails rather than answers: API Gateway's own 500.
            tracing::error!(function, error = %e, "the function failed");
            return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok());
    let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = response["body"].as_str().unwrap_or_default().to_owned();
    // A run the handlers started through a Step Functions API is executed there.
    if status == StatusCode::ACCEPTED && app.stack.runs_in_process() {
        if let Some(arn) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|b| b["executionArn"].as_str().map(str::to_owned))
        {
            execute(&app, arn);
        }
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(text),
    )
        .into_response()
}

/// Runs a started execution in the background. A repeated start or retry answers the ARN of a
/// run that is already executing (or done): the stack refuses to execute it again.
fn execute(app: &Arc<App>, arn: String) {
    let app = app.clone();
    tokio::spawn(async move {
        match app.stack.execute(&arn).await {
            Ok(result) => {
                tracing::info!(execution_arn = %arn, status = result.status.as_str(), "run ended")
            }
            Err(not_queued) => tracing::debug!("{not_queued}"),
        }
    });
}

/// The caller's seeded goals with their state, for the page's picker (local only).
async fn list_goals(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let claims = match app.key.verify(&headers) {
        Ok(claims) => claims,
        Err(refusal) => return unauthorized(refusal),
    };
    let user = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut goals = Vec::new();
    for seeded in &app.goals {
        let Ok(Some(goal)) = app.stack.store.get_goal(&seeded.goal_id).await else {
            continue;
        };
        if goal.user_id != user {
            continue;
        }
        let actions = app
            .stack
            .store
            .list_actions(&goal.goal_id)
            .await
            .map(|a| a.len())
            .unwrap_or(0);
        goals.push(json!({
            "goalId": goal.goal_id,
            "title": goal.title,
            "label": seeded.label,
            "status": goal.status,
            "actions": actions,
            "currentExecutionArn": goal.current_execution_arn,
        }));
    }
    Json(goals).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    user: String,
}

/// A development token for the page (local only: the deployed API has no such route). Only for a
/// request addressed to the loopback address the server listens on: a page of another site
/// whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name as `Host` and gets none.
async fn mint_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: axum::extract::Query<TokenQuery>,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if host != Some(app.host.as_str()) {
        return error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("tokens are given only to requests for {}", app.host),
        );
    }
    match app.key.mint(&query.user, 60) {
        Ok(token) => Json(json!({"token": token})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a development token");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DevKey {
        DevKey(b"test key".to_vec())
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = format!("Bearer {token}").parse() {
            headers.insert(header::AUTHORIZATION, value);
        }
        headers
    }

    #[test]
    fn routes_name_their_template_and_parameter() {
        assert_eq!(
            route("/api/goals/g%2F1/start-activity"),
            (
                "/api/goals/{goalId}/start-activity".to_owned(),
                Some(("goalId", "g%2F1"))
            )
        );
        assert_eq!(
            route("/api/workflows/arn:x/status"),
            (
                "/api/workflows/{executionArn}/status".to_owned(),
                Some(("executionArn", "arn:x"))
            )
        );
        assert_eq!(route("/api/goals"), ("/api/goals".to_owned(), None));
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_user() {
        let token = key().mint("u-1", 5).expect("token");
        let claims = key().verify(&bearer(&token)).expect("valid");
        assert_eq!(claims["sub"], "u-1");
    }

    #[test]
    fn forged_expired_and_missing_tokens_are_refused_with_the_reason() {
        let invalid = |why: &str| Err(Refusal::Invalid(why.into()));
        let forged = DevKey(b"another key".to_vec())
            .mint("u-1", 5)
            .expect("token");
        assert_eq!(
            key().verify(&bearer(&forged)),
            invalid("the token's signature is not valid")
        );
        let two_hours_ago = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() - 7200)
            .unwrap_or(0);
        let expired = key().mint_at("u-1", two_hours_ago, 60).expect("token");
        assert_eq!(
            key().verify(&bearer(&expired)),
            invalid("the token has expired")
        );
        assert_eq!(key().verify(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(key().verify(&bearer("")), Err(Refusal::Missing));
        assert_eq!(
            key().verify(&bearer("not.a.token")),
            invalid("the token is malformed")
        );
    }
}
