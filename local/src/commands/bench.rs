//! `sfn-local bench`: transitions and cost per run, simulated makespan, the status view's ETA, the
//! executor's speed and, on request, a load run and Lambda-free definitions beside a peer's.

use std::path::PathBuf;

use sfn_local::bench::{self, Layout, TARGET_SECONDS};
use sfn_local::load;

use super::load::print_load;

#[derive(clap::Args)]
pub struct Args {
    /// Runs per latency setting in the makespan study.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Repetitions of each timed execution.
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// Also time every `*.json` Lambda-free definition in this folder.
    #[arg(long)]
    definitions: Option<PathBuf>,
    /// Another interpreter's figures for the same definitions (JSON from
    /// scripts/bench_moto_sfn.py), to compare wall times and outputs.
    #[arg(long, requires = "definitions")]
    peer: Option<PathBuf>,
    /// Also load `serve` over HTTP as `sfn-local load` does with its defaults (about 20 s).
    #[arg(long)]
    load: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// The makespan table (each setting's shipped and earlier layouts side by side) and the status
/// view's accuracy, as BENCHMARKS.md shows them.
fn print_makespans(makespans: &[bench::MakespanFigures], runs: usize) {
    println!("\n## Simulated makespan, 64 actions, {runs} runs each\n");
    println!(
        "| L50 | σ | {} (mean / p95) | {} (mean / p95) | 24 free slots (mean) | shipped over the bound | lower bound | 5-minute target (p95) |",
        Layout::Shipped.describe(),
        Layout::BatchWaves.describe()
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    let pairs = makespans.chunks(2).filter_map(|pair| match pair {
        [shipped, earlier] => Some((shipped, earlier)),
        _ => None,
    });
    for (m, earlier) in pairs.clone() {
        println!(
            "| {:.0} s | {} | {:.1} / {:.1} s | {:.1} / {:.1} s | {:.1} s | {:+.1} % | {:.1} s | {} |",
            m.median_latency_seconds,
            m.sigma,
            m.mean_seconds,
            m.p95_seconds,
            earlier.mean_seconds,
            earlier.p95_seconds,
            m.no_barrier_mean_seconds,
            100.0 * (m.mean_seconds / m.no_barrier_mean_seconds - 1.0),
            m.lower_bound_seconds,
            if m.p95_seconds <= TARGET_SECONDS { "met" } else { "missed" }
        );
    }
    println!("\n## The status view's ETA, mean absolute error against the time actually left\n");
    println!(
        "| L50 | σ | at 25 % | at 50 % | at 75 % | mean | longest lag of the processed count |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (m, _) in pairs {
        let errors = &m.eta_mean_abs_error;
        let cells: Vec<String> = errors
            .iter()
            .map(|e| format!("{:.1} %", 100.0 * e))
            .collect();
        println!(
            "| {:.0} s | {} | {} | {:.1} % | {:.1} s |",
            m.median_latency_seconds,
            m.sigma,
            cells.join(" | "),
            100.0 * errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            m.status_lag_max_seconds
        );
    }
}

pub fn main(args: Args) -> Result<(), String> {
    let transitions = bench::transitions()?;
    let mut makespans = Vec::new();
    for median in [5.0, 10.0, 20.0] {
        for sigma in [0.3, 0.6] {
            for layout in [Layout::Shipped, Layout::BatchWaves] {
                makespans.push(bench::makespan(layout, median, sigma, args.runs)?);
            }
        }
    }
    let mut overlapping = Vec::new();
    for n in OVERLAPPING_RUNS {
        for seed in 1..=3 {
            overlapping.push(bench::overlapping(n, 10.0, 0.6, seed)?);
        }
    }
    let speed = bench::speed(args.repeats)?;
    let load = match args.load {
        true => Some(load::load(&load::LoadPlan::default())?),
        false => None,
    };
    let definitions = match &args.definitions {
        Some(dir) => bench::definitions(dir, args.repeats)?,
        None => Vec::new(),
    };
    if args.json {
        let figures = serde_json::json!({
            "transitions": transitions,
            "makespan": makespans,
            "overlapping": overlapping,
            "speed": speed,
            "load": load,
            "definitions": definitions,
        });
        let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
        println!("{text}");
        return Ok(());
    }
    print_transitions(&transitions);
    print_makespans(&makespans, args.runs);
    print_overlapping(&overlapping);
    if let Some(load) = &load {
        println!("\n## Load: sfn-local serve on the real clock\n");
        print_load(load);
    }
    print_speed(&speed, args.repeats);
    if definitions.is_empty() {
        return Ok(());
    }
    let peers: Vec<bench::PeerFigures> = match &args.peer {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    print_definitions(&definitions, &peers, args.repeats);
    Ok(())
}

/// How many users start a goal at the same moment in the overlapping-runs study.
const OVERLAPPING_RUNS: [usize; 4] = [1, 2, 5, 10];

fn print_overlapping(figures: &[bench::OverlapFigures]) {
    println!("\n## Overlapping runs under the shared model quota (24 calls), L50 10 s, σ 0.6\n");
    println!("| N | seed | makespan | throttled invocations | state transitions | actions succeeded | starts refused (429) | longest wait to start |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in figures {
        println!(
            "| {} | {} | {:.1} s | {} | {} | {}/{} | {} | {:.1} s |",
            f.runs,
            f.seed,
            f.makespan_seconds,
            f.throttled_invocations,
            f.state_transitions,
            f.actions_succeeded,
            f.actions,
            f.starts_refused,
            f.longest_wait_seconds
        );
    }
}

fn print_transitions(transitions: &[bench::TransitionFigures]) {
    println!("## State transitions of a 64-action run\n");
    println!("| Run | Status | Failed actions | Transitions | Cost per run | Per 1,000 runs |");
    println!("|---|---|---:|---:|---:|---:|");
    for t in transitions {
        println!(
            "| {} | {} | {} | {} | ${:.5} | ${:.3} |",
            t.scenario,
            t.status,
            t.actions_failed,
            t.state_transitions,
            t.cost_per_run_usd,
            t.cost_per_1000_runs_usd
        );
    }
}

fn print_speed(speed: &bench::SpeedFigures, repeats: usize) {
    println!("\n## Executor speed\n");
    println!(
        "- 64-action run on the virtual clock: median {:.4} s, best {:.4} s of {repeats} runs",
        speed.run_wall_median_seconds, speed.run_wall_min_seconds
    );
    println!(
        "- Map-heavy definition: {} transitions in {:.3} s, {:.0} transitions/s",
        speed.map_heavy_transitions, speed.map_heavy_wall_seconds, speed.transitions_per_second
    );
}

/// Each Lambda-free definition's wall time beside the peer's, and whether their outputs agree.
fn print_definitions(
    definitions: &[bench::DefinitionFigures],
    peers: &[bench::PeerFigures],
    repeats: usize,
) {
    println!("\n## Lambda-free definitions, mean of {repeats} executions\n");
    println!("| Definition | Transitions | sfn-local | Peer | Peer / sfn-local | Same output |");
    println!("|---|---:|---:|---:|---:|---|");
    for d in definitions {
        let peer = peers.iter().find(|p| p.name == d.name);
        let (peer_wall, ratio, same) = match peer {
            Some(p) => (
                format!("{:.2} ms ({})", p.mean_wall_seconds * 1e3, p.status),
                format!(
                    "{:.0}×",
                    p.mean_wall_seconds / d.mean_wall_seconds.max(f64::EPSILON)
                ),
                if p.output.as_ref() == Some(&d.output) {
                    "yes"
                } else {
                    "no"
                },
            ),
            None => ("-".into(), "-".into(), "-"),
        };
        println!(
            "| {} | {} | {:.3} ms | {peer_wall} | {ratio} | {same} |",
            d.name,
            d.transitions,
            d.mean_wall_seconds * 1e3
        );
    }
}
