//! `sfn-local load`: starts `serve` on a free port and loads it over HTTP.

use sfn_local::load;

use super::latency_seconds;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
    users: u16,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=100))]
    goals_per_user: u16,
    /// Median simulated latency of one AI call, in seconds (real time).
    #[arg(long, default_value_t = 2.0, value_parser = latency_seconds)]
    ai_latency: f64,
    /// Seconds between one user's reads of a run's status.
    #[arg(long, default_value_t = 1.0, value_parser = latency_seconds)]
    poll: f64,
    /// Keep the records in DynamoDB at this local AWS-API endpoint (e.g. moto).
    #[arg(long)]
    aws_endpoint: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// The load figures as BENCHMARKS.md's table shows them.
pub fn print_load(f: &load::LoadFigures) {
    println!("| runs | exact counts | 5xx | start p50 / p99 | status p50 / p99 | status reads | reads a second | wall | serve peak memory |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} × {} actions, {} users | {} | {} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {} | {:.0} | {:.1} s | {:.0} MiB |",
        f.runs,
        f.actions_per_run,
        f.users,
        f.runs_exact,
        f.server_errors,
        f.start_p50_ms,
        f.start_p99_ms,
        f.status_p50_ms,
        f.status_p99_ms,
        f.status_reads,
        f.status_reads_per_second,
        f.wall_seconds,
        f.serve_peak_mib
    );
}

pub fn main(args: Args) -> Result<(), String> {
    let plan = load::LoadPlan {
        users: usize::from(args.users),
        goals_per_user: usize::from(args.goals_per_user),
        ai_latency: args.ai_latency,
        aws_endpoint: args.aws_endpoint,
        poll: std::time::Duration::from_secs_f64(args.poll),
    };
    let f = load::load(&plan)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&f).map_err(|e| e.to_string())?
        );
    } else {
        print_load(&f);
    }
    if f.runs_exact == f.runs && f.server_errors == 0 {
        Ok(())
    } else {
        Err("some runs ended with wrong counts or the server failed requests".into())
    }
}
