//! Waits that cost no test time: on `serve --api-clock virtual`, task-token and activity waits
//! with TimeoutSeconds or HeartbeatSeconds run out in virtual time, while an answer that comes in
//! time still ends the task; on the real clock, WAIT_TIME_SCALE scales the waits of `serve` and
//! `exec`. Over real HTTP on a free port of 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_sfn-local");
const ROLE: &str = "arn:aws:iam::123456789012:role/sfn";
const CALLBACK: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

struct Server {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = std::env::temp_dir().join(format!("sfn-local-waits-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--key-file"])
            .arg(dir.join("dev-key"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sfn-local serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        std::thread::spawn(move || lines.for_each(drop));
        let base = line
            .split_once("listening on ")
            .map(|(_, url)| url.trim().to_owned())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, base, dir }
    }

    /// One operation of the Step Functions API: its answer, or its error's `__type`.
    fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        let answer = ureq::post(&self.base)
            .set("Content-Type", "application/x-amz-json-1.0")
            .set("X-Amz-Target", &format!("AWSStepFunctions.{operation}"))
            .send_string(&body.to_string());
        match answer {
            Ok(r) => {
                Ok(serde_json::from_str(&r.into_string().unwrap_or_default())
                    .unwrap_or(Value::Null))
            }
            Err(ureq::Error::Status(_, r)) => {
                let error: Value =
                    serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default();
                Err(error["__type"].as_str().unwrap_or_default().to_owned())
            }
            Err(e) => panic!("{operation}: no answer: {e}"),
        }
    }

    fn ok(&self, operation: &str, body: Value) -> Value {
        self.call(operation, body)
            .unwrap_or_else(|e| panic!("{operation} answers: {e}"))
    }

    /// Creates a state machine of `states` starting at `start` and starts it with `input`.
    fn start_execution(&self, name: &str, states: Value, start: &str, input: Value) -> String {
        let definition = json!({"StartAt": start, "States": states}).to_string();
        let machine = self.ok(
            "CreateStateMachine",
            json!({"name": name, "definition": definition, "roleArn": ROLE}),
        );
        let started = self.ok(
            "StartExecution",
            json!({"stateMachineArn": machine["stateMachineArn"], "input": input.to_string()}),
        );
        started["executionArn"]
            .as_str()
            .expect("an execution ARN")
            .to_owned()
    }

    /// DescribeExecution once the execution has ended (or after 20 s of wall time).
    fn until_closed(&self, execution: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let described = self.ok("DescribeExecution", json!({"executionArn": execution}));
            if described["status"] != "RUNNING" || Instant::now() > deadline {
                return described;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn history(&self, execution: &str) -> Vec<Value> {
        let history = self.ok(
            "GetExecutionHistory",
            json!({"executionArn": execution, "maxResults": 1000}),
        );
        history["events"].as_array().cloned().unwrap_or_default()
    }
}

/// A Lambda Invoke endpoint whose functions answer `{}` at once; each invocation's payload goes
/// to the receiver.
fn lambda_stub() -> (String, mpsc::Receiver<Value>) {
    lambda_stub_with(|_| {})
}

/// A Lambda Invoke endpoint whose functions run `function` on their payload, then answer `{}`;
/// each invocation's payload goes to the receiver.
fn lambda_stub_with(function: impl Fn(&Value) + Send + 'static) -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("an address");
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
            function(&payload);
            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
            let _ = reader.get_mut().write_all(reply.as_bytes());
            let _ = sent.send(payload);
        }
    });
    (format!("http://{address}"), received)
}

/// A serve on the virtual clock whose Lambda functions are the stub's.
fn virtual_server() -> (Server, mpsc::Receiver<Value>) {
    let (endpoint, invocations) = lambda_stub();
    let server = Server::start(
        &["--api-clock", "virtual", "--lambda-endpoint", &endpoint],
        &[],
    );
    (server, invocations)
}

/// A Task state on `resource`, ending the execution, with `fields` (limits, parameters).
fn task_on(resource: &str, fields: Value) -> Value {
    let mut task = json!({"Type": "Task", "Resource": resource, "End": true});
    if let (Some(task), Some(fields)) = (task.as_object_mut(), fields.as_object()) {
        task.extend(fields.clone());
    }
    task
}

/// A task waiting for its token, handed to the function as `token`, under `limits`.
fn callback_task(mut limits: Value) -> Value {
    limits["Parameters"] =
        json!({"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}});
    json!({"Approve": task_on(CALLBACK, limits)})
}

/// Seconds of the execution's own clock from its start to the first event of `kind`.
fn seconds_to(history: &[Value], kind: &str) -> f64 {
    let at = |kind: &str| {
        history
            .iter()
            .find(|e| e["type"] == kind)
            .and_then(|e| e["timestamp"].as_f64())
            .unwrap_or_else(|| panic!("no {kind} in {history:?}"))
    };
    at(kind) - at("ExecutionStarted")
}

fn kinds(history: &[Value]) -> Vec<&str> {
    history.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[test]
fn a_task_token_wait_times_out_in_virtual_time() {
    let (server, invocations) = virtual_server();
    let wall = Instant::now();
    let execution = server.start_execution(
        "timed",
        callback_task(json!({"TimeoutSeconds": 3600})),
        "Approve",
        json!({}),
    );
    let described = server.until_closed(&execution);
    let took = wall.elapsed();
    assert_eq!(described["status"], "FAILED", "{described}");
    assert_eq!(described["error"], "States.Timeout");
    assert!(took < Duration::from_secs(1), "{took:?} of wall time");
    let token = invocations.try_recv().expect("the function was invoked");
    assert!(token["token"].as_str().is_some_and(|t| !t.is_empty()));
    let history = server.history(&execution);
    let seconds = seconds_to(&history, "TaskTimedOut");
    assert!((3600.0..3601.0).contains(&seconds), "{seconds} s");
    let timed_out = history.iter().find(|e| e["type"] == "TaskTimedOut");
    assert_eq!(
        timed_out.map(|e| &e["taskTimedOutEventDetails"]["error"]),
        Some(&json!("States.Timeout"))
    );
    assert!(kinds(&history).contains(&"TaskSubmitted"), "{history:?}");
    // The token is no longer waited on.
    let late = server.call(
        "SendTaskSuccess",
        json!({"taskToken": token["token"], "output": "{}"}),
    );
    assert_eq!(late.err().as_deref(), Some("TaskTimedOut"));
}

#[test]
fn a_task_token_wait_without_heartbeats_times_out_in_virtual_time() {
    let (server, _invocations) = virtual_server();
    let wall = Instant::now();
    let execution = server.start_execution(
        "quiet",
        callback_task(json!({"TimeoutSeconds": 3600, "HeartbeatSeconds": 60})),
        "Approve",
        json!({}),
    );
    let described = server.until_closed(&execution);
    assert!(
        wall.elapsed() < Duration::from_secs(1),
        "{:?}",
        wall.elapsed()
    );
    assert_eq!(described["error"], "States.HeartbeatTimeout", "{described}");
    let history = server.history(&execution);
    let seconds = seconds_to(&history, "TaskTimedOut");
    assert!((60.0..61.0).contains(&seconds), "{seconds} s");
}

#[test]
fn a_token_sent_in_time_ends_the_task_after_heartbeats() {
    let (server, invocations) = virtual_server();
    let execution = server.start_execution(
        "answered",
        callback_task(json!({"TimeoutSeconds": 3600, "HeartbeatSeconds": 60})),
        "Approve",
        json!({}),
    );
    let payload = invocations
        .recv_timeout(Duration::from_secs(10))
        .expect("the function was invoked");
    let token = payload["token"].clone();
    for _ in 0..3 {
        server.ok("SendTaskHeartbeat", json!({"taskToken": token}));
    }
    server.ok(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": r#"{"approved": true}"#}),
    );
    let described = server.until_closed(&execution);
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(described["output"], r#"{"approved":true}"#);
    let history = server.history(&execution);
    assert!(kinds(&history).contains(&"TaskSucceeded"), "{history:?}");
    assert!(seconds_to(&history, "TaskSucceeded") < 60.0);
}

#[test]
fn a_function_returns_its_token_before_it_returns_itself() {
    let server_address = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let (endpoint, _invocations) = lambda_stub_with({
        let server_address = server_address.clone();
        move |payload| {
            let base = server_address.get().cloned().unwrap_or_default();
            let body = json!({"taskToken": payload["token"], "output": r#"{"early": true}"#});
            let _ = ureq::post(&base)
                .set("Content-Type", "application/x-amz-json-1.0")
                .set("X-Amz-Target", "AWSStepFunctions.SendTaskSuccess")
                .send_string(&body.to_string());
        }
    });
    let server = Server::start(
        &["--api-clock", "virtual", "--lambda-endpoint", &endpoint],
        &[],
    );
    let _ = server_address.set(server.base.clone());
    let execution = server.start_execution(
        "early",
        callback_task(json!({"TimeoutSeconds": 3600})),
        "Approve",
        json!({}),
    );
    let described = server.until_closed(&execution);
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(described["output"], r#"{"early":true}"#);
    let history = server.history(&execution);
    let task_events: Vec<&str> = kinds(&history)
        .into_iter()
        .filter(|k| k.starts_with("Task") && !k.starts_with("TaskState"))
        .collect();
    assert_eq!(
        task_events,
        [
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded"
        ]
    );
}

#[test]
fn activity_waits_run_out_in_virtual_time_and_a_worker_in_time_wins() {
    let (server, _invocations) = virtual_server();
    let activity = server.ok("CreateActivity", json!({"name": "review"}))["activityArn"].clone();
    let arn = activity.as_str().expect("an activity ARN").to_owned();
    let with = |limits: Value| json!({"Review": task_on(&arn, limits)});

    // No worker takes the task: it times out, from its schedule, an hour later.
    let wall = Instant::now();
    let unworked = server.start_execution(
        "unworked",
        with(json!({"TimeoutSeconds": 3600})),
        "Review",
        json!({"doc": 1}),
    );
    let described = server.until_closed(&unworked);
    assert!(
        wall.elapsed() < Duration::from_secs(1),
        "{:?}",
        wall.elapsed()
    );
    assert_eq!(described["error"], "States.Timeout", "{described}");
    let history = server.history(&unworked);
    let seconds = seconds_to(&history, "ActivityTimedOut");
    assert!((3600.0..3601.0).contains(&seconds), "{seconds} s");
    assert!(!kinds(&history).contains(&"ActivityStarted"));

    // A worker takes the task and stops beating: its heartbeat runs out a minute after its start.
    let silent = server.start_execution(
        "silent",
        with(json!({"TimeoutSeconds": 3600, "HeartbeatSeconds": 60})),
        "Review",
        json!({"doc": 2}),
    );
    let taken = server.ok(
        "GetActivityTask",
        json!({"activityArn": activity, "workerName": "w1"}),
    );
    assert_eq!(taken["input"], r#"{"doc":2}"#);
    let described = server.until_closed(&silent);
    assert_eq!(described["error"], "States.HeartbeatTimeout", "{described}");
    let history = server.history(&silent);
    assert_eq!(
        kinds(&history)
            .into_iter()
            .filter(|k| k.starts_with("Activity"))
            .collect::<Vec<_>>(),
        ["ActivityScheduled", "ActivityStarted", "ActivityTimedOut"]
    );
    let beat = seconds_to(&history, "ActivityTimedOut") - seconds_to(&history, "ActivityStarted");
    assert!((60.0..61.0).contains(&beat), "{beat} s");

    // A worker already polling takes the task, beats, and answers in time.
    let worker = {
        let base = server.base.clone();
        let activity = activity.clone();
        std::thread::spawn(move || {
            let poll = ureq::post(&base)
                .set("Content-Type", "application/x-amz-json-1.0")
                .set("X-Amz-Target", "AWSStepFunctions.GetActivityTask")
                .send_string(&json!({"activityArn": activity, "workerName": "w2"}).to_string());
            let text = poll.map(|r| r.into_string().unwrap_or_default());
            serde_json::from_str::<Value>(&text.unwrap_or_default()).unwrap_or_default()
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let worked = server.start_execution(
        "worked",
        with(json!({"TimeoutSeconds": 3600, "HeartbeatSeconds": 60})),
        "Review",
        json!({"doc": 3}),
    );
    let taken = worker.join().expect("the worker polls");
    assert_eq!(taken["input"], r#"{"doc":3}"#, "{taken}");
    server.ok(
        "SendTaskHeartbeat",
        json!({"taskToken": taken["taskToken"]}),
    );
    server.ok(
        "SendTaskSuccess",
        json!({"taskToken": taken["taskToken"], "output": r#"{"ok": 3}"#}),
    );
    let described = server.until_closed(&worked);
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(described["output"], r#"{"ok":3}"#);
}

/// A definition that waits `seconds`, then a retried failure of `interval` seconds, caught.
fn waiting(seconds: u64, interval: u64) -> Value {
    json!({
        "W": {"Type": "Wait", "Seconds": seconds, "Next": "F"},
        "F": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:none",
              "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": interval, "MaxAttempts": 1}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}], "Next": "Done"},
        "Done": {"Type": "Succeed"}
    })
}

#[test]
fn wait_time_scale_scales_the_real_clock_of_serve() {
    let server = Server::start(&[], &[("WAIT_TIME_SCALE", "0")]);
    let wall = Instant::now();
    let execution = server.start_execution("at-once", waiting(60, 30), "W", json!({}));
    let described = server.until_closed(&execution);
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "{:?}",
        wall.elapsed()
    );

    // A twentieth: 20 s of Wait and a 10 s retry interval take 1.5 s.
    let scaled = Server::start(&["--wait-time-scale", "0.05"], &[("WAIT_TIME_SCALE", "7")]);
    let wall = Instant::now();
    let execution = scaled.start_execution("scaled", waiting(20, 10), "W", json!({}));
    let described = scaled.until_closed(&execution);
    let took = wall.elapsed();
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(10)).contains(&took),
        "{took:?}"
    );
}

#[test]
fn wait_time_scale_scales_the_real_clock_of_exec() {
    let dir = std::env::temp_dir().join(format!("sfn-local-waits-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("definition.json");
    let definition = json!({"StartAt": "W", "States": waiting(60, 30)});
    std::fs::write(&file, definition.to_string()).expect("definition written");
    let exec = |scale: &str| {
        let wall = Instant::now();
        let out = Command::new(BIN)
            .args([
                "exec",
                "--clock",
                "real",
                "--lambda-endpoint",
                "http://127.0.0.1:9",
            ])
            .arg("--definition")
            .arg(&file)
            .env("WAIT_TIME_SCALE", scale)
            .output()
            .expect("the binary runs");
        (out, wall.elapsed())
    };
    let (out, took) = exec("0");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(result["status"], "SUCCEEDED", "{out:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (out, _) = exec("-1");
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WAIT_TIME_SCALE"));
    let _ = std::fs::remove_dir_all(dir);
}
