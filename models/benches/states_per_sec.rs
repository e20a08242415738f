//! `models/states_per_sec`: how fast the checker explores the work-queue
//! model on 2 threads (states generated and unique states per second, best
//! of three runs), then each model's standard configuration with and
//! without symmetry: unique states and check time, as a Markdown table for
//! reports/bench-models.md.
//!
//! `cargo bench -p brokerlab-models` runs everything; an argument naming a
//! model (`cargo bench -p brokerlab-models -- ttl`) limits the table to it,
//! and `THREADS=1 cargo bench -p brokerlab-models` runs on one thread.
//! A last table checks the models whose network is a parameter over each
//! network (work-queue with one message, to stay small; idempotency without
//! crashes, which the unordered networks exclude) and names the
//! properties that fail there, as `network::Links` says they must.

use brokerlab_models::check::{
    check, model_by_name, Options, Outcome, Overrides, MODELS, NETWORK_MODELS,
};
use brokerlab_models::Links;
use std::time::Duration;

/// The allocator `brokerlab check` runs with (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs of the work-queue model whose best is reported.
const RUNS: usize = 3;

/// Checker threads, as the target states them (the environment
/// variable `THREADS` may say otherwise, to see how the checker scales).
fn threads() -> usize {
    std::env::var("THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or(2)
}

fn run(name: &str, symmetry: bool) -> Outcome {
    let outcome = run_with(name, symmetry, &Overrides::default());
    assert!(outcome.all_hold(), "{name}: a property fails");
    outcome
}

fn run_with(name: &str, symmetry: bool, overrides: &Overrides) -> Outcome {
    let (_, model) = model_by_name(name, overrides).expect("a known model");
    let options = Options {
        threads: threads(),
        symmetry,
        ..Options::default()
    };
    check(model, &options)
}

/// Each model whose network is a parameter, over each network.
fn networks(wanted: impl Fn(&str) -> bool) {
    println!("\n| model | network | unique states | time (s) | states/s | failing |");
    println!("|---|---|---:|---:|---:|---|");
    for name in NETWORK_MODELS.into_iter().filter(|name| wanted(name)) {
        for (network, network_name) in Links::ALL.into_iter().zip(Links::NAMES) {
            let overrides = Overrides {
                messages: (name == "work-queue").then_some(1),
                crashes: (name == "idempotency").then_some(0),
                network: Some(network),
                ..Overrides::default()
            };
            let outcome = run_with(name, false, &overrides);
            let failing: Vec<&str> = (outcome.verdicts.iter())
                .filter(|verdict| !verdict.holds)
                .map(|verdict| verdict.name)
                .collect();
            println!(
                "| {name} | {network_name} | {} | {} | {:.0} | {} |",
                outcome.unique_states,
                seconds(outcome.elapsed),
                outcome.states_per_second(),
                failing.join(", ")
            );
        }
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.2}", elapsed.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; anything else names models.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    if wanted("work-queue") {
        let best = (0..RUNS)
            .map(|_| run("work-queue", false))
            .min_by_key(|outcome| outcome.elapsed)
            .expect("at least one run");
        let unique_per_second = best.unique_states as f64 / best.elapsed.as_secs_f64();
        let threads = threads();
        println!("models/states_per_sec work-queue, {threads} threads, best of {RUNS}:");
        println!(
            "  {} states ({} unique) in {} s: {:.0} states/s, {:.0} unique states/s\n",
            best.states,
            best.unique_states,
            seconds(best.elapsed),
            best.states_per_second(),
            unique_per_second
        );
    }
    println!(
        "| model | unique states | time (s) | states/s | with symmetry | time (s) | reduction |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in MODELS.into_iter().filter(|name| wanted(name)) {
        let plain = run(name, false);
        let reduced = run(name, true);
        let (count, time, reduction) = match reduced.symmetry {
            true => (
                reduced.unique_states.to_string(),
                seconds(reduced.elapsed),
                format!(
                    "{:.2}x",
                    plain.unique_states as f64 / reduced.unique_states as f64
                ),
            ),
            false => ("n/a".to_owned(), "".to_owned(), "".to_owned()),
        };
        println!(
            "| {name} | {} | {} | {:.0} | {count} | {time} | {reduction} |",
            plain.unique_states,
            seconds(plain.elapsed),
            plain.states_per_second()
        );
    }
    networks(wanted);
}
