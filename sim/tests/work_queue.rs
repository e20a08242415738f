//! The simulator end to end on the `work-queue` workload: runs replay byte
//! for byte, the correct core passes, and the runs meet their faults.

use brokerlab_core::Mutant;
use brokerlab_sim::{run_catching, Options, Report, Simulation, Workload, EXIT_PASS};

fn run(seed: u64, mutant: Option<Mutant>) -> Report {
    let options = Options::swarm(seed, Workload::WorkQueue).with_mutant(mutant);
    run_catching(seed, options).unwrap_or_else(|panic| panic!("seed {seed} panicked: {panic}"))
}

#[test]
fn a_seed_replays_to_a_byte_identical_trace_and_summary() {
    for seed in 0..100 {
        let options = Options::swarm(seed, Workload::WorkQueue);
        let first = Simulation::new(seed, options.clone()).keeping_trace().run();
        let second = Simulation::new(seed, options).keeping_trace().run();
        assert!(first.trace.as_ref().is_some_and(|lines| !lines.is_empty()));
        assert_eq!(first.trace, second.trace, "seed {seed}: traces differ");
        assert_eq!(
            first.to_string(),
            second.to_string(),
            "seed {seed}: reports differ"
        );
    }
}

#[test]
fn different_seeds_give_different_runs() {
    assert_ne!(
        run(1, None).summary.trace_digest,
        run(2, None).summary.trace_digest
    );
}

#[test]
fn the_correct_core_passes_three_hundred_seeds() {
    for seed in 0..300 {
        let report = run(seed, None);
        assert_eq!(report.exit_code(), EXIT_PASS, "seed {seed}:\n{report}");
    }
}

#[test]
fn the_runs_meet_their_faults() {
    // A sweep that never crashed the broker or redelivered would prove little.
    let reports: Vec<Report> = (0..50).map(|seed| run(seed, None)).collect();
    let crashes: u64 = reports.iter().map(|report| report.summary.faults[3]).sum();
    let redeliveries: u64 = reports
        .iter()
        .map(|report| report.summary.redeliveries)
        .sum();
    let retries = reports
        .iter()
        .filter(|report| report.summary.publishes > report.summary.confirms)
        .count();
    assert!(
        crashes > 10 && redeliveries > 100 && retries > 5,
        "{crashes} {redeliveries} {retries}"
    );
}
