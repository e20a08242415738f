//! The `brokerlab` command line.

use brokerlab::core::Mutant;
use brokerlab::sim::{self, Options, Workload};
use brokerlab::walkthrough::{self, PATTERNS};
use clap::{Parser, Subcommand};
use std::io::{self, Write};
use std::process::ExitCode;

/// brokerlab: a reference AMQP 0-9-1 broker on a sans-IO core, and the lab that proves it.
#[derive(Parser)]
#[command(name = "brokerlab", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Subcommand)]
enum Commands {
    /// Walk through one of the seed document's patterns step by step (the default).
    Walkthrough {
        /// Which pattern: work-queue, pubsub, routing, request-reply, dlq-retry, ttl,
        /// priority, ordering-by-key, idempotency, prefetch, or all of them in turn.
        #[arg(long, default_value = "work-queue")]
        pattern: String,
    },
    /// Run one seed of the deterministic simulator and check its history.
    ///
    /// Prints the seed's plan, a summary and any violation. Exit codes: 0 pass,
    /// 127 panic in the system under test, 128 liveness violation, 129 safety violation.
    Sim {
        /// Which workload: work-queue.
        #[arg(long, default_value = "work-queue")]
        workload: String,
        /// The seed: it draws the plan and every choice of the run.
        #[arg(long)]
        seed: u64,
        /// Run a deliberately broken broker (lose-on-requeue, no-redelivered-flag, ...).
        #[arg(long)]
        mutant: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pattern = match cli.command {
        Some(Commands::Walkthrough { pattern }) => pattern,
        Some(Commands::Sim {
            workload,
            seed,
            mutant,
        }) => return run_sim(&workload, seed, mutant.as_deref()),
        None => "work-queue".to_owned(),
    };
    let patterns: Vec<&str> = match pattern.as_str() {
        "all" => PATTERNS.to_vec(),
        one if PATTERNS.contains(&one) => vec![one],
        other => {
            eprintln!(
                "unknown pattern '{other}'; known: {}, all",
                PATTERNS.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    match run_all(&patterns) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("brokerlab: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the walkthroughs one after the other, separated by a blank line.
fn run_all(patterns: &[&str]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for (index, pattern) in patterns.iter().enumerate() {
        if index > 0 {
            writeln!(out, "\n")?;
        }
        walkthrough::run(pattern, &mut out).expect("the pattern was checked against PATTERNS")?;
    }
    Ok(())
}

/// `brokerlab sim`: runs one seed and exits with the simulator's exit code.
fn run_sim(workload: &str, seed: u64, mutant: Option<&str>) -> ExitCode {
    let Some(workload) = Workload::from_name(workload) else {
        let known: Vec<&str> = Workload::ALL.iter().map(|known| known.name()).collect();
        eprintln!("unknown workload '{workload}'; known: {}", known.join(", "));
        return ExitCode::from(2);
    };
    let mutant = match mutant.map(|name| (name, Mutant::from_name(name))) {
        None => None,
        Some((_, Some(mutant))) => Some(mutant),
        Some((name, None)) => {
            let known: Vec<&str> = Mutant::ALL.iter().map(|known| known.name()).collect();
            eprintln!("unknown mutant '{name}'; known: {}", known.join(", "));
            return ExitCode::from(2);
        }
    };
    let options = Options::swarm(seed, workload).with_mutant(mutant);
    println!("{}", sim::plan_line(seed, &options));
    match sim::run_catching(seed, options) {
        Ok(report) => {
            println!("{report}");
            ExitCode::from(report.exit_code())
        }
        Err(panic) => {
            println!("PANIC in the system under test: {panic}");
            println!("result: panic (exit {})", sim::EXIT_PANIC);
            ExitCode::from(sim::EXIT_PANIC)
        }
    }
}
