//! A load run against `sfn-local serve` on the real clock: many users start their goals at once
//! over HTTP and poll each run's status, as the page does, until every run has ended. It measures
//! what the API answered (latency of starts and status reads, polls per second, server errors),
//! checks every run's counts, and reads the server's peak memory.

use shared::capacity::{RunShare, MODEL_CONCURRENCY_ENV};
use shared::workflow::MAX_ACTIONS_PER_RUN;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub users: usize,
    pub goals_per_user: usize,
    /// Median simulated model latency, in seconds of real time.
    pub ai_latency: f64,
    /// DynamoDB at this endpoint (e.g. moto) instead of serve's in-memory store.
    pub aws_endpoint: Option<String>,
    /// How often each user reads each of its runs' status.
    pub poll: Duration,
}

impl Default for LoadPlan {
    /// 50 users, 4 goals each, model latency around 2 s, status read each second.
    fn default() -> Self {
        Self {
            users: 50,
            goals_per_user: 4,
            ai_latency: 2.0,
            aws_endpoint: None,
            poll: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadFigures {
    pub users: usize,
    pub runs: usize,
    pub actions_per_run: u64,
    /// Runs that ended SUCCEEDED with every action processed, none failed and 100 %.
    pub runs_exact: usize,
    pub server_errors: usize,
    pub start_p50_ms: f64,
    pub start_p99_ms: f64,
    pub status_p50_ms: f64,
    pub status_p99_ms: f64,
    pub status_reads: usize,
    pub status_reads_per_second: f64,
    /// From the first start to the last run's end.
    pub wall_seconds: f64,
    /// The server's peak resident memory (VmHWM), in MiB.
    pub serve_peak_mib: f64,
}

const ACTIONS_PER_GOAL: u64 = 64;

/// Starts `serve` (this very binary) on a free port of 127.0.0.1, runs `plan` against it and stops
/// it.
pub fn load(plan: &LoadPlan) -> Result<LoadFigures, String> {
    let mut server = Server::start(plan)?;
    let result = drive(plan, &server.base);
    let peak = server.peak_mib();
    server.stop();
    let (starts, reads, finals, server_errors, wall) = result?;
    let runs_exact = finals.iter().filter(|body| is_exact(body)).count();
    let mut start_ms: Vec<f64> = starts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let mut read_ms: Vec<f64> = reads.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    Ok(LoadFigures {
        users: plan.users,
        runs: plan.users * plan.goals_per_user,
        actions_per_run: ACTIONS_PER_GOAL,
        runs_exact,
        server_errors,
        start_p50_ms: percentile(&mut start_ms, 0.5),
        start_p99_ms: percentile(&mut start_ms, 0.99),
        status_p50_ms: percentile(&mut read_ms, 0.5),
        status_p99_ms: percentile(&mut read_ms, 0.99),
        status_reads: reads.len(),
        status_reads_per_second: reads.len() as f64 / wall.as_secs_f64().max(f64::EPSILON),
        wall_seconds: wall.as_secs_f64(),
        serve_peak_mib: peak,
    })
}

fn is_exact(status: &Value) -> bool {
    status["status"] == "SUCCEEDED"
        && status["processedActions"] == ACTIONS_PER_GOAL
        && status["totalActions"] == ACTIONS_PER_GOAL
        && status["failedCount"] == 0
        && status["progressPercent"] == 100
}

/// Start latencies, status-read latencies, each run's final status, server errors, wall time.
type Driven = (Vec<Duration>, Vec<Duration>, Vec<Value>, usize, Duration);

fn drive(plan: &LoadPlan, base: &str) -> Result<Driven, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(180))
        .build();
    let users: Vec<(String, String)> = (0..plan.users)
        .map(|i| {
            let user = user_name(i);
            let answer: Value = agent
                .get(&format!("{base}/local/token"))
                .query("user", &user)
                .call()
                .map_err(|e| format!("token for {user}: {e}"))?
                .into_json()
                .map_err(|e| e.to_string())?;
            let token = answer["token"].as_str().unwrap_or_default().to_owned();
            Ok((user, token))
        })
        .collect::<Result<_, String>>()?;
    let together = Arc::new(Barrier::new(users.len()));
    let started = Instant::now();
    let workers: Vec<_> = users
        .into_iter()
        .map(|(user, token)| {
            let (agent, base, together) = (agent.clone(), base.to_owned(), together.clone());
            let (goals, poll) = (plan.goals_per_user, plan.poll);
            std::thread::spawn(move || {
                together.wait();
                user_session(&agent, &base, &user, &token, goals, poll)
            })
        })
        .collect();
    let mut driven: Driven = Default::default();
    for worker in workers {
        let session = worker
            .join()
            .map_err(|_| "a user's session panicked".to_owned())??;
        driven.0.extend(session.starts);
        driven.1.extend(session.reads);
        driven.2.extend(session.finals);
        driven.3 += session.server_errors;
    }
    driven.4 = started.elapsed();
    Ok(driven)
}

#[derive(Default)]
struct Session {
    starts: Vec<Duration>,
    reads: Vec<Duration>,
    finals: Vec<Value>,
    server_errors: usize,
}

/// One user: starts each of its goals, then reads every run's status each `poll` until all end.
fn user_session(
    agent: &ureq::Agent,
    base: &str,
    user: &str,
    token: &str,
    goals: usize,
    poll: Duration,
) -> Result<Session, String> {
    let bearer = format!("Bearer {token}");
    let mut session = Session::default();
    let mut running = Vec::new();
    for i in 0..goals {
        let url = format!("{base}/api/goals/{user}-load-{i}/start-activity");
        let sent = Instant::now();
        let answer = agent
            .post(&url)
            .set("Authorization", &bearer)
            .send_string("{}");
        session.starts.push(sent.elapsed());
        if let Some(body) = answered(answer, &mut session, &url)? {
            let arn = body["executionArn"].as_str().unwrap_or_default();
            running.push(arn.replace(':', "%3A"));
        }
    }
    while !running.is_empty() {
        std::thread::sleep(poll);
        let mut still = Vec::new();
        for arn in running {
            let url = format!("{base}/api/workflows/{arn}/status");
            let sent = Instant::now();
            let answer = agent.get(&url).set("Authorization", &bearer).call();
            session.reads.push(sent.elapsed());
            match answered(answer, &mut session, &url)? {
                Some(body) if body["status"] != "RUNNING" => session.finals.push(body),
                _ => still.push(arn),
            }
        }
        running = still;
    }
    Ok(session)
}

/// The body of a 2xx answer; a 5xx is counted and answers nothing (a start is not tried again,
/// a status read is on the next round); any other answer ends the load run.
fn answered(
    answer: Result<ureq::Response, ureq::Error>,
    session: &mut Session,
    url: &str,
) -> Result<Option<Value>, String> {
    match answer {
        Ok(response) => response
            .into_json()
            .map(Some)
            .map_err(|e| format!("{url}: {e}")),
        Err(ureq::Error::Status(code, _)) if code >= 500 => {
            session.server_errors += 1;
            Ok(None)
        }
        Err(ureq::Error::Status(code, response)) => Err(format!(
            "{url}: {code} {}",
            response.into_string().unwrap_or_default()
        )),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

fn user_name(i: usize) -> String {
    format!("load-user-{i:02}")
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len().max(1));
    values.get(rank - 1).copied().unwrap_or(0.0)
}

/// The model calls at once that let every run of `plan` hold a whole goal's share.
fn quota_for_every_run(plan: &LoadPlan) -> u32 {
    let whole = RunShare::whole(MAX_ACTIONS_PER_RUN).calls;
    u32::try_from(plan.users * plan.goals_per_user)
        .unwrap_or(u32::MAX)
        .saturating_mul(whole)
        .max(whole)
}

/// `sfn-local serve` as a child process.
struct Server {
    child: Child,
    base: String,
    key_dir: PathBuf,
}

impl Server {
    fn start(plan: &LoadPlan) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let key_dir = std::env::temp_dir().join(format!("sfn-local-load-{}", std::process::id()));
        let mut command = Command::new(exe);
        command
            .args(["serve", "--port", "0"])
            .args(["--ai-latency", &plan.ai_latency.to_string()])
            .args(["--load-goals", &plan.goals_per_user.to_string()])
            .arg("--key-file")
            .arg(key_dir.join("key"))
            // A model quota that admits every run at once: the load is on the server, not on the
            // quota (which `run --concurrent-runs` and `bench` study).
            .env(MODEL_CONCURRENCY_ENV, quota_for_every_run(plan).to_string());
        for i in 0..plan.users {
            command.args(["--user", &user_name(i)]);
        }
        if let Some(endpoint) = &plan.aws_endpoint {
            command.args(["--aws-endpoint", endpoint]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start serve: {e}"))?;
        let stdout = child.stdout.take().ok_or("serve has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = lines.next().and_then(Result::ok).and_then(|line| {
            line.split_once("listening on ")
                .map(|(_, url)| url.to_owned())
        });
        // Keep reading, so serve never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let mut server = Server {
            child,
            base: String::new(),
            key_dir,
        };
        match base {
            Some(base) => {
                server.base = base;
                Ok(server)
            }
            None => {
                server.stop();
                Err("serve did not say where it listens".into())
            }
        }
    }

    /// The child's peak resident memory, in MiB (0 where /proc does not say).
    fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.key_dir);
    }
}
