//! Runs JSONata's own test suite (`test-suite/`, from jsonata-js 2.2.2) in process and checks how
//! many cases pass, in total and per group.
//!
//! A case passes when its result is deep-equal to the expected one (numbers by value), undefined where
//! the suite says so, or an error with the expected code. The counts below are exact: a case that
//! starts to fail, or to pass, changes them and fails the test, so they stay true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jsonata_engine::{Expression, Options};
use serde_json::Value;

/// Cases in the suite.
const CASES: usize = 1686;
/// Cases that pass.
const PASSED: usize = 1684;
/// Failed cases that answered a value where the suite expects another value, undefined or an error.
const WRONG_VALUES: usize = 0;
/// No group passes less than this share of its cases.
const GROUP_MINIMUM: f64 = 0.90;

struct Case {
    group: String,
    name: String,
    spec: Value,
    expr: Option<String>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Passed,
    /// Failed with an error, or could not be read.
    Errored(String),
    /// Answered something other than what the suite expects.
    Wrong(String),
}

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-suite")
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every case, in the order of the suite's runner; a file that cannot be read is one errored case.
fn cases(errored: &mut Vec<(String, String)>) -> Vec<Case> {
    let mut groups: Vec<PathBuf> = std::fs::read_dir(suite_dir().join("groups"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    groups.sort();
    let mut out = Vec::new();
    for group in groups.iter().filter(|g| g.is_dir()) {
        let group_name = group
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(group)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|e| e == "json"));
        files.sort();
        for file in files {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let spec = match read_json(&file) {
                Ok(spec) => spec,
                Err(e) => {
                    errored.push((format!("{group_name}/{stem}"), e));
                    continue;
                }
            };
            let (specs, listed) = match spec {
                Value::Array(items) => (items, true),
                one => (vec![one], false),
            };
            for (i, spec) in specs.into_iter().enumerate() {
                let name = if listed {
                    format!("{group_name}/{stem}[{i}]")
                } else {
                    format!("{group_name}/{stem}")
                };
                let expr = match spec.get("expr-file").and_then(Value::as_str) {
                    Some(f) => std::fs::read_to_string(group.join(f)).ok(),
                    None => spec.get("expr").and_then(Value::as_str).map(str::to_string),
                };
                out.push(Case {
                    group: group_name.clone(),
                    name,
                    spec,
                    expr,
                });
            }
        }
    }
    out
}

/// Deep equality with numbers compared by value, as the suite's runner compares.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn run(case: &Case, datasets: &BTreeMap<String, Value>) -> Outcome {
    let spec = &case.spec;
    let Some(text) = &case.expr else {
        return Outcome::Errored("no readable expression".into());
    };
    let input = match (
        spec.get("data"),
        spec.get("dataset").and_then(Value::as_str),
    ) {
        (Some(data), _) => Some(data),
        (None, Some(name)) => datasets.get(name),
        (None, None) => None,
    };
    let bindings = spec
        .get("bindings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let want_code = spec
        .get("code")
        .or_else(|| spec.pointer("/error/code"))
        .and_then(Value::as_str);
    // The suite's time limits stop runaway expressions in its reference implementation. A case
    // that expects the timeout (U1001) keeps its limit; any other gets thirty times as long, so a
    // slow or loaded machine fails no case for time while a runaway loop still ends.
    let slack = if want_code == Some("U1001") { 1 } else { 30 };
    let options = Options {
        max_depth: spec.get("depth").and_then(Value::as_u64).map(|d| d as u32),
        time_limit: spec
            .get("timelimit")
            .and_then(Value::as_u64)
            .map(|ms| Duration::from_millis(ms * slack)),
        ..Options::default()
    };
    let got = Expression::compile(text).and_then(|e| e.evaluate_with(input, &bindings, &options));
    match (got, want_code) {
        (Err(e), Some(code)) if e.code == code => Outcome::Passed,
        (Err(e), _) => Outcome::Errored(format!("{}: {}", e.code, e.message)),
        (Ok(v), Some(code)) => Outcome::Wrong(format!("want error {code}, got {v:?}")),
        (Ok(None), None) if spec.get("undefinedResult") == Some(&Value::Bool(true)) => {
            Outcome::Passed
        }
        (Ok(Some(v)), None) if spec.get("result").is_some_and(|want| same(&v, want)) => {
            Outcome::Passed
        }
        (Ok(v), None) => Outcome::Wrong(format!("want {:?}, got {v:?}", spec.get("result"))),
    }
}

fn datasets() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(suite_dir().join("datasets")) {
        for path in dir.filter_map(|e| e.ok().map(|e| e.path())) {
            if let (Some(stem), Ok(v)) = (path.file_stem(), read_json(&path)) {
                out.insert(stem.to_string_lossy().into_owned(), v);
            }
        }
    }
    out
}

#[test]
fn jsonata_test_suite() {
    assert!(
        suite_dir().join("groups").is_dir() && suite_dir().join("datasets").is_dir(),
        "JSONata's test suite is missing from {}",
        suite_dir().display()
    );
    let datasets = datasets();
    let mut unreadable = Vec::new();
    let cases = cases(&mut unreadable);
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut passed, mut wrong) = (0, 0);
    let started = Instant::now();
    for case in &cases {
        let outcome = run(case, &datasets);
        let entry = tally.entry(case.group.clone()).or_default();
        match &outcome {
            Outcome::Passed => {
                passed += 1;
                entry.0 += 1;
            }
            Outcome::Errored(why) => println!("FAIL {} (error) {why:.160}", case.name),
            Outcome::Wrong(why) => {
                wrong += 1;
                println!("FAIL {} (wrong value) {why:.160}", case.name);
            }
        }
        entry.1 += 1;
    }
    let elapsed = started.elapsed();
    for (file, why) in &unreadable {
        println!("FAIL {file} (unreadable) {why:.160}");
    }
    let total = cases.len() + unreadable.len();
    for (group, (p, n)) in &tally {
        println!("  {group:32} {p:4} of {n:4}");
    }
    println!(
        "suite: {passed} of {total} passed, {wrong} wrong values, {:.0} cases/s",
        cases.len() as f64 / elapsed.as_secs_f64()
    );
    let low: Vec<_> = tally
        .iter()
        .filter(|(_, (p, n))| (*p as f64) < GROUP_MINIMUM * *n as f64)
        .map(|(g, (p, n))| format!("{g} {p}/{n}"))
        .collect();
    assert_eq!(total, CASES, "cases in the suite");
    assert_eq!(passed, PASSED, "cases passed");
    assert_eq!(wrong, WRONG_VALUES, "failed cases with a wrong value");
    assert!(low.is_empty(), "groups below {GROUP_MINIMUM}: {low:?}");
}
