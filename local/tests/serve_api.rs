//! `sfn-local serve` over real HTTP: every route's success and error codes, malformed and oversized
//! bodies, and missing, forged and expired tokens, as the deployed API answers them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[cfg(feature = "aws")]
#[path = "../../shared/tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_sfn-local");

struct Server {
    child: Child,
    base: String,
    key_file: PathBuf,
    /// What the server logs (its standard error), read by the tests over a store.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.key_file.parent().unwrap_or(&self.key_file));
    }
}

impl Server {
    /// `sfn-local serve` on a free port, with a fresh key, seeded for users `u1` and `u2`.
    fn start(ai_latency: &str) -> Server {
        Server::start_with(ai_latency, |_| {})
    }

    /// The same, with more arguments or environment set by `configure`.
    fn start_with(ai_latency: &str, configure: impl FnOnce(&mut Command)) -> Server {
        let dir = std::env::temp_dir().join(format!("sfn-local-serve-{}", uuid()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let key_file = dir.join("dev-key");
        let log = dir.join("serve.log");
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--port", "0", "--user", "u1", "--user", "u2"])
            .args(["--ai-latency", ai_latency, "--key-file"])
            .arg(&key_file);
        configure(&mut command);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the log file"))
            .spawn()
            .expect("sfn-local serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        // Keep reading, so the server never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let base = line
            .split_once("listening on ")
            .map(|(_, url)| url.trim().to_owned())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child,
            base,
            key_file,
            log,
        }
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The loopback address and port the server listens on (`127.0.0.1:PORT`).
    fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A GET sent as raw HTTP/1.1 with exactly the given `Host` header (none for `None`): the
    /// status code and body.
    fn get_with_host(&self, path: &str, host: Option<&str>) -> (u16, Value) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.address()).expect("connect");
        let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
        (status, body)
    }

    /// A POST whose body is these bytes, as they are.
    fn post_bytes(&self, path: &str, token: &str, body: &[u8]) -> (u16, Value) {
        let result = ureq::post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"))
            .send_bytes(body);
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("POST {path}: {e}"),
        };
        let status = response.status();
        let body = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    fn token(&self, user: &str, minutes: &str) -> String {
        token(&self.key_file, user, minutes)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let answer = self.send(method, path, token, body);
        (answer.status, answer.body)
    }

    /// One request over HTTP, with what the tests read of the answer.
    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let mut request = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let challenge = response.header("www-authenticate").map(str::to_owned);
        let body = response.into_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            challenge,
        }
    }

    /// Polls get-status until the run has ended.
    fn wait_for_end(&self, token: &str, arn: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, view) = self.call("GET", &status_path(arn), Some(token), None);
            assert_eq!(status, 200, "{view}");
            if view["status"] != "RUNNING" || Instant::now() > deadline {
                return view;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct Answer {
    status: u16,
    body: Value,
    /// The `www-authenticate` header.
    challenge: Option<String>,
}

/// `sfn-local token`, signed with the key in `key_file`.
fn token(key_file: &std::path::Path, user: &str, minutes: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "--user", user, "--minutes", minutes, "--key-file"])
        .arg(key_file)
        .output()
        .expect("sfn-local token");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn uuid() -> String {
    format!("{}-{:?}", std::process::id(), Instant::now())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

fn status_path(arn: &str) -> String {
    format!("/api/workflows/{arn}/status")
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn tokens_are_checked_as_the_jwt_authorizer_does() {
    let server = Server::start("0.01");
    let other_key = server.key_file.with_file_name("another-key");
    let forged = token(&other_key, "u1", "60");
    let expired = server.token("u1", "0");
    std::thread::sleep(Duration::from_millis(1100));
    let refused =
        |why: &str| format!(r#"Bearer scope="" error="invalid_token" error_description="{why}""#);
    for (token, challenge) in [
        (None, "Bearer".to_owned()),
        (
            Some(forged.as_str()),
            refused("the token's signature is not valid"),
        ),
        (Some(expired.as_str()), refused("the token has expired")),
        (Some("not-a-jwt"), refused("the token is malformed")),
    ] {
        for (method, path) in [
            ("POST", "/api/goals/u1-small/start-activity"),
            ("GET", "/api/goals/u1-small"),
            ("GET", "/api/goals/u1-small/executions"),
            ("GET", "/api/workflows/arn/status"),
            ("POST", "/api/workflows/arn/cancel"),
            ("POST", "/api/workflows/arn/retry"),
            ("GET", "/local/goals"),
        ] {
            let answer = server.send(method, path, token, None);
            assert_eq!(
                (answer.status, &answer.body, answer.challenge.as_deref()),
                (
                    401,
                    &serde_json::json!({"message": "Unauthorized"}),
                    Some(challenge.as_str())
                ),
                "{method} {path}"
            );
        }
    }
    let good = server.token("u1", "60");
    let path = "/api/goals/u1-small/start-activity";
    assert_eq!(server.call("POST", path, Some(&good), None).0, 202);
}

#[test]
fn requests_no_route_takes_are_refused_as_api_gateway_does() {
    let server = Server::start("0.01");
    let u1 = server.token("u1", "60");
    let not_found = (404, serde_json::json!({"message": "Not Found"}));
    for (method, path) in [
        ("GET", "/api/goals/u1-small/start-activity"),
        ("POST", "/api/goals/u1-small/executions"),
        ("DELETE", "/api/goals/u1-small"),
        ("DELETE", "/api/workflows/arn/status"),
        ("POST", "/api/workflows/arn/unknown"),
        ("GET", "/api/nothing-here"),
    ] {
        assert_eq!(
            server.call(method, path, Some(&u1), None),
            not_found,
            "{method} {path}"
        );
    }
    // Over API Gateway's 10 MiB, the body never reaches the function.
    let huge = format!(
        r#"{{"idempotencyKey": "{}"}}"#,
        "k".repeat(10 * 1024 * 1024)
    );
    let (status, body) = server.call(
        "POST",
        "/api/goals/u1-small/start-activity",
        Some(&u1),
        Some(&huge),
    );
    assert_eq!(
        (status, body),
        (
            413,
            serde_json::json!({"message": "Request Entity Too Large"})
        )
    );
}

#[test]
fn every_route_answers_its_documented_codes() {
    // Slow enough model calls that the 64-action run is still going when it is cancelled.
    let server = Server::start("0.5");
    let (u1, u2) = (server.token("u1", "60"), server.token("u2", "60"));

    // Start: bad body, oversized body, unknown goal, someone else's goal, then a real start.
    let start = "/api/goals/u1-example/start-activity";
    let (status, body) = server.call("POST", start, Some(&u1), Some("{not json"));
    assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
    let (status, body) = server.call("POST", start, Some(&u1), Some(r#"{"surprise": 1}"#));
    assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
    let oversized = format!(r#"{{"idempotencyKey": "{}"}}"#, "k".repeat(20 * 1024));
    let (status, body) = server.call("POST", start, Some(&u1), Some(&oversized));
    assert_eq!(
        (status, error_code(&body)),
        (413, "PAYLOAD_TOO_LARGE"),
        "{body}"
    );
    let long_key = "k".repeat(300);
    let request = ureq::post(&format!("{}{start}", server.base))
        .set("Authorization", &format!("Bearer {u1}"))
        .set("Idempotency-Key", &long_key)
        .call();
    assert!(
        matches!(request, Err(ureq::Error::Status(400, _))),
        "an over-long Idempotency-Key header is a bad request"
    );
    let (status, body) = server.call("POST", "/api/goals/nope/start-activity", Some(&u1), None);
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = server.call("POST", start, Some(&u2), None);
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"), "{body}");

    let (status, started) = server.call(
        "POST",
        start,
        Some(&u1),
        Some(r#"{"idempotencyKey": "first"}"#),
    );
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The same request again is the same run; another start while it runs is refused.
    let (status, again) = server.call(
        "POST",
        start,
        Some(&u1),
        Some(r#"{"idempotencyKey": "first"}"#),
    );
    assert_eq!(
        (status, &again["executionArn"]),
        (202, &started["executionArn"])
    );
    let (status, body) = server.call(
        "POST",
        start,
        Some(&u1),
        Some(r#"{"idempotencyKey": "second"}"#),
    );
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
    // Retrying a run that has not ended is refused.
    let (status, body) = server.call(
        "POST",
        &format!("/api/workflows/{arn}/retry"),
        Some(&u1),
        None,
    );
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");

    // Status: a stranger; every run route: an unknown run, an ARN that is not UTF-8; the owner
    // with a percent-encoded ARN.
    assert_eq!(
        server.call("GET", &status_path(&arn), Some(&u2), None).0,
        404
    );
    let unknown = arn.replace("goal-u1-example", "goal-u1-unknown");
    for route in ["status", "cancel", "retry"] {
        let method = if route == "status" { "GET" } else { "POST" };
        for (run, expected) in [
            (unknown.as_str(), (404, "NOT_FOUND")),
            ("%FF%FE", (400, "BAD_REQUEST")),
        ] {
            let path = format!("/api/workflows/{run}/{route}");
            let (status, body) = server.call(method, &path, Some(&u1), None);
            assert_eq!((status, error_code(&body)), expected, "{path}: {body}");
        }
    }
    let encoded = arn.replace(':', "%3A");
    assert_eq!(
        server
            .call("GET", &status_path(&encoded), Some(&u1), None)
            .0,
        200
    );

    // Cancel mid-run, twice; the run ends ABORTED and the goal goes back to draft.
    let cancel = format!("/api/workflows/{arn}/cancel");
    assert_eq!(server.call("POST", &cancel, Some(&u2), None).0, 404);
    let (status, view) = server.call("POST", &cancel, Some(&u1), None);
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("ABORTED")),
        "{view}"
    );
    assert_eq!(server.call("POST", &cancel, Some(&u1), None).0, 200);
    assert_eq!(server.wait_for_end(&u1, &arn)["status"], "ABORTED");

    // A finished run cannot be cancelled; a run without failures has nothing to retry.
    let (status, small) = server.call(
        "POST",
        "/api/goals/u1-small/start-activity",
        Some(&u1),
        None,
    );
    assert_eq!(status, 202, "{small}");
    let small = small["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(server.wait_for_end(&u1, &small)["status"], "SUCCEEDED");
    let (status, body) = server.call(
        "POST",
        &format!("/api/workflows/{small}/cancel"),
        Some(&u1),
        None,
    );
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
    let (status, body) = server.call(
        "POST",
        &format!("/api/workflows/{small}/retry"),
        Some(&u1),
        None,
    );
    assert_eq!((status, error_code(&body)), (409, "CONFLICT"), "{body}");
}

/// The body a request for `id` got, with `id` replaced by `as_id`: two answers that differ only
/// in the id asked about compare equal.
fn with_id(body: &Value, id: &str, as_id: &str) -> Value {
    serde_json::from_str(&body.to_string().replace(id, as_id)).unwrap_or_default()
}

#[test]
fn another_users_goal_or_run_answers_exactly_as_a_missing_one() {
    let server = Server::start("0.01");
    let (u1, u2) = (server.token("u1", "60"), server.token("u2", "60"));
    let start = |goal: &str| format!("/api/goals/{goal}/start-activity");

    // A goal: u2 asking for u1's goal gets what u1 gets for a goal that does not exist.
    let (status, stranger) = server.call("POST", &start("u1-small"), Some(&u2), None);
    let (missing_status, missing) = server.call("POST", &start("u1-nothing"), Some(&u1), None);
    assert_eq!((status, missing_status), (404, 404), "{stranger} {missing}");
    assert_eq!(
        with_id(&stranger, "u1-small", "ID"),
        with_id(&missing, "u1-nothing", "ID")
    );
    assert_eq!(
        missing,
        serde_json::json!({"error": {"code": "NOT_FOUND", "message": "goal u1-nothing does not exist"}})
    );

    // A run, on every run route.
    let (status, started) = server.call("POST", &start("u1-small"), Some(&u1), None);
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server.wait_for_end(&u1, &arn);
    let unknown = arn.replace("goal-u1-small", "goal-u1-unknown");
    for (method, route) in [("GET", "status"), ("POST", "cancel"), ("POST", "retry")] {
        let (status, stranger) = server.call(
            method,
            &format!("/api/workflows/{arn}/{route}"),
            Some(&u2),
            None,
        );
        let (missing_status, missing) = server.call(
            method,
            &format!("/api/workflows/{unknown}/{route}"),
            Some(&u1),
            None,
        );
        assert_eq!((status, missing_status), (404, 404), "{route}: {stranger}");
        assert_eq!(
            with_id(&stranger, &arn, "ID"),
            with_id(&missing, &unknown, "ID"),
            "{route}"
        );
    }
    // The run is as it was: the stranger's cancel and retry did nothing.
    assert_eq!(server.wait_for_end(&u1, &arn)["status"], "SUCCEEDED");
}

#[test]
fn the_subject_claim_is_compared_exactly() {
    let server = Server::start("0.01");
    let u1 = server.token("u1", "60");
    let (status, started) = server.call(
        "POST",
        "/api/goals/u1-small/start-activity",
        Some(&u1),
        None,
    );
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for lookalike in ["u1 ", " u1", "U1", "u1\t"] {
        let token = server.token(lookalike, "60");
        let (status, body) = server.call("GET", &status_path(&arn), Some(&token), None);
        assert_eq!(
            (status, error_code(&body)),
            (404, "NOT_FOUND"),
            "{lookalike:?}: {body}"
        );
        let (status, body) = server.call(
            "POST",
            "/api/goals/u1-partial/start-activity",
            Some(&token),
            None,
        );
        assert_eq!(
            (status, error_code(&body)),
            (404, "NOT_FOUND"),
            "{lookalike:?}: {body}"
        );
    }
    assert_eq!(
        server.call("GET", &status_path(&arn), Some(&u1), None).0,
        200
    );
}

#[test]
fn a_binary_body_is_bounded_by_its_decoded_size() {
    // API Gateway hands a body that is not UTF-8 to the function base64-encoded; the function
    // allows 16 KiB once decoded.
    const LIMIT: usize = 16 * 1024;
    let server = Server::start("0.01");
    let u1 = server.token("u1", "60");
    let path = "/api/goals/u1-small/start-activity";
    let (status, body) = server.post_bytes(path, &u1, &vec![0xFF; LIMIT]);
    assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
    let (status, body) = server.post_bytes(path, &u1, &vec![0xFF; LIMIT + 1]);
    assert_eq!(
        (status, error_code(&body)),
        (413, "PAYLOAD_TOO_LARGE"),
        "{body}"
    );
    // Nothing was started by either.
    let (status, started) = server.call("POST", path, Some(&u1), None);
    assert_eq!(status, 202, "{started}");
}

#[test]
fn the_local_token_route_answers_only_its_own_loopback_address() {
    let server = Server::start("0.01");
    let path = "/local/token?user=u1";
    let (status, body) = server.get_with_host(path, Some(server.address()));
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        server.call("GET", "/local/goals", Some(&token), None).0,
        200
    );

    let port = server
        .address()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    for host in [
        Some("evil.example".to_owned()),
        Some(format!("evil.example:{port}")),
        Some(format!("localhost:{port}")),
        Some("127.0.0.1".to_owned()),
        Some(format!("127.0.0.2:{port}")),
        None,
    ] {
        let (status, body) = server.get_with_host(path, host.as_deref());
        assert_eq!(
            (status, error_code(&body)),
            (403, "FORBIDDEN"),
            "{host:?}: {body}"
        );
        assert!(body.get("token").is_none(), "{host:?}");
    }
}

#[test]
fn failed_actions_are_retried_once_complete_the_goal_and_both_runs_are_listed() {
    let server = Server::start("0.01");
    let u1 = server.token("u1", "60");
    let (status, started) = server.call(
        "POST",
        "/api/goals/u1-partial/start-activity",
        Some(&u1),
        None,
    );
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ended = server.wait_for_end(&u1, &arn);
    let failed: Vec<&str> = ended["failedActions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["actionId"].as_str())
        .collect();
    assert_eq!(failed.len(), 4, "{ended}");

    let retry = format!("/api/workflows/{arn}/retry");
    assert_eq!(
        server
            .call("POST", &retry, Some(&server.token("u2", "60")), None)
            .0,
        404
    );
    let (status, retried) = server.call("POST", &retry, Some(&u1), None);
    assert_eq!(status, 202, "{retried}");
    let (status, again) = server.call("POST", &retry, Some(&u1), None);
    assert_eq!(
        (status, &again["executionArn"]),
        (202, &retried["executionArn"]),
        "idempotent"
    );
    let second = retried["executionArn"].as_str().unwrap_or_default();
    assert_ne!(second, arn);
    let view = server.wait_for_end(&u1, second);
    assert_eq!(
        (view["status"].as_str(), view["totalActions"].as_u64()),
        (Some("SUCCEEDED"), Some(4)),
        "{view}"
    );
    assert_eq!(view["failedCount"], 0, "{view}");

    let (_, goals) = server.call("GET", "/local/goals", Some(&u1), None);
    let partial = goals
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["goalId"] == "u1-partial")
        .cloned()
        .unwrap_or_default();
    assert_eq!(partial["status"], "active", "{partial}");

    // The goal's history: the retry, then the run it retried, a page each.
    let history = "/api/goals/u1-partial/executions";
    let (status, first) = server.call("GET", &format!("{history}?limit=1"), Some(&u1), None);
    assert_eq!(status, 200, "{first}");
    let cursor = first["nextCursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let (status, second) = server.call(
        "GET",
        &format!("{history}?limit=1&cursor={cursor}"),
        Some(&u1),
        None,
    );
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["nextCursor"], Value::Null, "{second}");
    let newest = &first["executions"][0];
    let oldest = &second["executions"][0];
    assert_eq!(
        (
            &newest["executionArn"],
            &newest["retryOf"],
            &oldest["executionArn"]
        ),
        (
            &retried["executionArn"],
            &Value::from(arn.as_str()),
            &Value::from(arn.as_str())
        ),
    );
    assert_eq!(
        (
            &newest["status"],
            &newest["failedCount"],
            &newest["canRetry"]
        ),
        (
            &Value::from("SUCCEEDED"),
            &Value::from(0),
            &Value::from(false)
        )
    );
    // Its failed actions were retried by a newer run: no longer retryable.
    assert_eq!(
        (
            &oldest["failedCount"],
            &oldest["totalActions"],
            &oldest["canRetry"]
        ),
        (&Value::from(4), &Value::from(16), &Value::from(false))
    );
    assert_eq!(oldest["archived"], false);
    let (_, whole) = server.call("GET", history, Some(&u1), None);
    assert_eq!(
        whole["executions"].as_array().map(Vec::len),
        Some(2),
        "{whole}"
    );

    // The goal itself: active, every action holding the tasks of one run, the retry its latest.
    let (status, goal) = server.call("GET", "/api/goals/u1-partial", Some(&u1), None);
    assert_eq!(status, 200, "{goal}");
    assert_eq!(goal["status"], "active", "{goal}");
    let actions = goal["actions"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 16, "{goal}");
    let counts: Vec<u64> = actions
        .iter()
        .map(|a| a["taskCount"].as_u64().unwrap_or(0))
        .collect();
    assert!(counts.iter().all(|&n| n > 0), "{goal}");
    assert_eq!(goal["taskCount"].as_u64(), Some(counts.iter().sum()));
    assert_eq!(goal["latestRun"]["executionArn"], retried["executionArn"]);
    assert_eq!(goal["latestRun"]["status"], "SUCCEEDED");

    // A stranger's answer is a missing goal's; pages and cursors are checked.
    let u2 = server.token("u2", "60");
    let (status, stranger) = server.call("GET", "/api/goals/u1-partial", Some(&u2), None);
    let (_, missing) = server.call("GET", "/api/goals/u1-nothing", Some(&u1), None);
    assert_eq!(status, 404, "{stranger}");
    assert_eq!(
        with_id(&stranger, "u1-partial", "ID"),
        with_id(&missing, "u1-nothing", "ID")
    );
    let (status, stranger) = server.call("GET", history, Some(&u2), None);
    let (_, missing) = server.call("GET", "/api/goals/u1-nothing/executions", Some(&u1), None);
    assert_eq!(status, 404, "{stranger}");
    assert_eq!(
        with_id(&stranger, "u1-partial", "ID"),
        with_id(&missing, "u1-nothing", "ID")
    );
    for query in [
        "limit=0".to_owned(),
        "limit=51".to_owned(),
        "cursor=nonsense".to_owned(),
        format!("limit=1&cursor={cursor}x"),
    ] {
        let (status, body) = server.call("GET", &format!("{history}?{query}"), Some(&u1), None);
        assert_eq!(
            (status, error_code(&body)),
            (400, "BAD_REQUEST"),
            "{query}: {body}"
        );
    }
    // A cursor of one goal does not page through another.
    let (status, body) = server.call(
        "GET",
        &format!("/api/goals/u1-small/executions?cursor={cursor}"),
        Some(&u1),
        None,
    );
    assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
}

/// With `--aws-endpoint`, the seeded goals and the runs' records live in DynamoDB (here moto), and
/// DynamoDB's failures answer 500 or 503.
#[cfg(feature = "aws")]
#[test]
fn with_an_aws_endpoint_the_records_live_in_dynamodb() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::aws::DynamoStore;
    use shared::ports::Store;
    use shared::records::{ExecutionStatus, GoalStatus};

    let moto = support::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = runtime.block_on(moto.sdk_config());
    let tables = runtime.block_on(support::create_tables(&config, "serve"));
    let server = Server::start_with("0.01", |command| {
        command
            .args(["--aws-endpoint", &moto.endpoint])
            .env("GOALS_TABLE", &tables.goals)
            .env("ACTIONS_TABLE", &tables.actions)
            .env("TASKS_TABLE", &tables.tasks)
            .env("EXECUTIONS_TABLE", &tables.executions);
    });
    let u1 = server.token("u1", "60");
    let (status, started) = server.call(
        "POST",
        "/api/goals/u1-small/start-activity",
        Some(&u1),
        None,
    );
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"].as_str().unwrap_or_default();
    let view = server.wait_for_end(&u1, arn);
    assert_eq!(view["status"], "SUCCEEDED", "{view}");
    let (status, page) = server.call("GET", "/api/goals/u1-small/executions", Some(&u1), None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["executions"][0]["executionArn"], arn, "{page}");
    assert_eq!(page["executions"][0]["status"], "SUCCEEDED", "{page}");

    let tables_executions = tables.executions.clone();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    let record = runtime
        .block_on(store.get_execution(arn))
        .expect("get")
        .expect("the run's record is in DynamoDB");
    assert_eq!(
        (record.status, record.processed_actions, record.failed_count),
        (ExecutionStatus::Succeeded, 8, 0)
    );
    let goal = runtime
        .block_on(store.get_goal("u1-small"))
        .expect("get")
        .expect("the seeded goal is in DynamoDB");
    assert_eq!(goal.status, GoalStatus::Active);

    // A record the store cannot read is the service's fault: 500.
    let unreadable = arn.replace("goal-u1-small", "goal-u1-unreadable");
    runtime
        .block_on(
            aws_sdk_dynamodb::Client::new(&config)
                .put_item()
                .table_name(&tables_executions)
                .item("executionArn", AttributeValue::S(unreadable.clone()))
                .item("status", AttributeValue::S("NOT_A_STATUS".into()))
                .send(),
        )
        .expect("put");
    // It says only that, with the request id; the store's error goes to the log under that id.
    let (status, body) = server.call("GET", &status_path(&unreadable), Some(&u1), None);
    let request_id = body["error"]["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!request_id.is_empty(), "{body}");
    assert_eq!(
        (status, body),
        (
            500,
            serde_json::json!({"error": {"code": "INTERNAL", "message": "internal error", "requestId": request_id}})
        )
    );
    let logged = server.log();
    let line = logged
        .lines()
        .find(|l| l.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line for request {request_id} in {logged}"));
    assert!(
        line.contains("unreadable item"),
        "the detail is logged: {line}"
    );

    // DynamoDB out of reach is a dependency outage: 503, which the caller may retry; the
    // connection error is not the caller's business either.
    drop(moto);
    let (status, body) = server.call("GET", &status_path(arn), Some(&u1), None);
    assert_eq!((status, error_code(&body)), (503, "UNAVAILABLE"), "{body}");
    assert_eq!(
        body["error"]["message"],
        "the service is briefly unavailable; retry later"
    );
    assert!(body["error"]["requestId"].is_string(), "{body}");
}

/// With `--aws-endpoint`, the handlers reach Step Functions through the product's adapter
/// (aws-sdk-sfn) on serve's own Step Functions API: each run is an execution of the product's
/// state machine there, seen by any client of the API, and a status change the handlers did not
/// make (an operator's stop) reaches the finaliser as the EventBridge rule sends it.
#[cfg(feature = "aws")]
#[test]
fn with_an_aws_endpoint_runs_are_executions_of_the_step_functions_api() {
    use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};

    let moto = support::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = runtime.block_on(moto.sdk_config());
    let tables = runtime.block_on(support::create_tables(&config, "sfn"));
    let server = Server::start_with("0.5", |command| {
        command
            .args(["--aws-endpoint", &moto.endpoint])
            .env("GOALS_TABLE", &tables.goals)
            .env("ACTIONS_TABLE", &tables.actions)
            .env("TASKS_TABLE", &tables.tasks)
            .env("EXECUTIONS_TABLE", &tables.executions);
    });
    let sfn = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&config)
            .endpoint_url(&server.base)
            .build(),
    );
    let machines = runtime
        .block_on(sfn.list_state_machines().send())
        .expect("ListStateMachines");
    let machine = machines
        .state_machines()
        .iter()
        .find(|m| m.name() == "StartActivity")
        .map(|m| m.state_machine_arn().to_owned())
        .unwrap_or_else(|| panic!("no StartActivity in {machines:?}"));
    let describe = |arn: &str| {
        runtime
            .block_on(sfn.describe_execution().execution_arn(arn).send())
            .expect("DescribeExecution")
    };
    let history = |arn: &str| -> Vec<HistoryEventType> {
        runtime
            .block_on(
                sfn.get_execution_history()
                    .execution_arn(arn)
                    .max_results(1000)
                    .send(),
            )
            .expect("GetExecutionHistory")
            .events()
            .iter()
            .map(|e| e.r#type().clone())
            .collect()
    };
    let u1 = server.token("u1", "60");
    let start = |goal: &str| {
        let (status, started) = server.call(
            "POST",
            &format!("/api/goals/{goal}/start-activity"),
            Some(&u1),
            None,
        );
        assert_eq!(status, 202, "{started}");
        started["executionArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // A run to its end: the execution the API lists, with its input and its history.
    let small = start("u1-small");
    assert_eq!(server.wait_for_end(&u1, &small)["status"], "SUCCEEDED");
    // The record ends with the run's last task; the execution a moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    while describe(&small).status() == &ExecutionStatus::Running && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let listed = runtime
        .block_on(sfn.list_executions().state_machine_arn(&machine).send())
        .expect("ListExecutions");
    let item = listed
        .executions()
        .iter()
        .find(|e| e.execution_arn() == small)
        .unwrap_or_else(|| panic!("{small} not in {listed:?}"));
    assert_eq!(item.status(), &ExecutionStatus::Succeeded);
    let described = describe(&small);
    let input: Value = serde_json::from_str(described.input().unwrap_or("{}")).expect("input");
    assert_eq!(
        (input["goalId"].as_str(), input["userId"].as_str()),
        (Some("u1-small"), Some("u1"))
    );
    let events = history(&small);
    assert_eq!(events.first(), Some(&HistoryEventType::ExecutionStarted));
    assert_eq!(events.last(), Some(&HistoryEventType::ExecutionSucceeded));
    let tasks = events
        .iter()
        .filter(|e| **e == HistoryEventType::TaskSucceeded)
        .count();
    assert!(tasks >= 8, "the Lambda tasks ran: {events:?}");

    // A run cancelled through the app is stopped through the API.
    let example = start("u1-example");
    assert_eq!(describe(&example).status(), &ExecutionStatus::Running);
    let (status, view) = server.call(
        "POST",
        &format!("/api/workflows/{example}/cancel"),
        Some(&u1),
        None,
    );
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("ABORTED")),
        "{view}"
    );
    let stopped = describe(&example);
    assert_eq!(
        (stopped.status(), stopped.error()),
        (&ExecutionStatus::Aborted, Some("Cancelled"))
    );
    assert_eq!(
        history(&example).last(),
        Some(&HistoryEventType::ExecutionAborted)
    );
    let (_, goal) = server.call("GET", "/api/goals/u1-example", Some(&u1), None);
    assert_eq!(goal["status"], "draft", "{goal}");

    // A run an operator stops through the API: the finaliser ends its record and its goal.
    let partial = start("u1-partial");
    runtime
        .block_on(
            sfn.stop_execution()
                .execution_arn(&partial)
                .error("Operator")
                .cause("stopped by hand")
                .send(),
        )
        .expect("StopExecution");
    let view = server.wait_for_end(&u1, &partial);
    assert_eq!(
        (
            view["status"].as_str(),
            view["error"].as_str(),
            view["cause"].as_str()
        ),
        (Some("ABORTED"), Some("Operator"), Some("stopped by hand")),
        "{view}"
    );
    let (_, goal) = server.call("GET", "/api/goals/u1-partial", Some(&u1), None);
    assert_eq!(goal["status"], "draft", "{goal}");
}
