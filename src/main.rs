//! The `brokerlab` command line.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pattern = match cli.command {
        Some(Commands::Walkthrough { pattern }) => pattern,
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
