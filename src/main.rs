//! The `brokerlab` command line.

use clap::{Parser, Subcommand};
use std::io;
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
        /// Which pattern.
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
    let mut out = io::stdout().lock();
    let result = match pattern.as_str() {
        "work-queue" => brokerlab::walkthrough::work_queue(&mut out),
        other => {
            eprintln!("unknown pattern '{other}'; known: work-queue");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("brokerlab: {error}");
            ExitCode::FAILURE
        }
    }
}
