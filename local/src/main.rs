//! `sfn-local`: parses the command line and runs the command.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{bench, exec, jsonata, load, run, serve, token};

#[derive(Parser)]
#[command(
    name = "sfn-local",
    about = "Runs Amazon States Language definitions locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one execution and print its result as JSON.
    Exec(exec::Args),
    /// Run a whole goal through the product's state machine with its own handlers, in process.
    Run(run::Args),
    /// Measure transitions and cost per run, simulated makespan and the executor's speed.
    Bench(bench::Args),
    /// Serve the HTTP API (same handlers as the Lambdas), the executor and a status page on
    /// 127.0.0.1, over the embedded store seeded with example goals.
    Serve(serve::Args),
    /// Print a development token for `serve`'s API.
    Token(token::Args),
    /// Start `serve` on a free port and load it: users start goals of 64 actions at once over
    /// HTTP and poll their status until every run ends; prints latencies, throughput and memory.
    Load(load::Args),
    /// Evaluate one JSONata expression; prints {"result": ...}, {"undefined": true} or
    /// {"error": {"code", "message", "position"}}.
    Jsonata(jsonata::Args),
}

fn main() -> ExitCode {
    // `exec`, `run` and `jsonata` exit 2 when they cannot run (an unusable definition or file, say);
    // the others 1.
    let command = Cli::parse().command;
    if !matches!(command, Command::Serve(_) | Command::Load(_)) {
        stdout_closing_ends_the_process();
    }
    let (outcome, failure) = match command {
        Command::Exec(args) => (exec::main(args), 2),
        Command::Run(args) => (run::main(args), 2),
        Command::Bench(args) => (bench::main(args), 1),
        Command::Serve(args) => (serve::main(args), 1),
        Command::Token(args) => (token::main(args), 1),
        Command::Load(args) => (load::main(args), 1),
        Command::Jsonata(args) => (jsonata::main(args), 2),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sfn-local: {message}");
            ExitCode::from(failure)
        }
    }
}

/// A command whose reader stops reading (`sfn-local exec ... | head`) ends as other Unix tools
/// do, by SIGPIPE, instead of panicking in `println!`. Not for the servers: their sockets' peers
/// may go away at any time.
fn stdout_closing_ends_the_process() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
