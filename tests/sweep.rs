//! The simulator's sweep, as CI runs it: the correct core passes thousands of
//! seeds of every workload, and a sweep's summary does not depend on how
//! many threads ran it.

use brokerlab::sim::{Options, Simulation, Workload};
use brokerlab::sweep::{run, Plan};

/// Seeds per workload CI sweeps.
const CI_SEEDS: u64 = 3_000;

#[test]
fn the_correct_core_passes_three_thousand_seeds_of_every_workload() {
    let plan = Plan {
        workloads: Workload::ALL.to_vec(),
        seeds: 0..CI_SEEDS,
        jobs: 2,
        mutant: None,
        messages: None,
        shard: None,
    };
    let sweep = run(&plan);
    assert_eq!(sweep.runs(), CI_SEEDS * Workload::ALL.len() as u64);
    assert_eq!(sweep.exit_code(), 0, "{sweep}");
}

#[test]
fn a_sweep_reports_the_same_with_one_job_or_two() {
    let plan = |jobs| Plan {
        workloads: Workload::ALL.to_vec(),
        seeds: 5_000..5_040,
        jobs,
        mutant: Some(brokerlab::core::Mutant::LoseOnRequeue),
        messages: None,
        shard: None,
    };
    let one = run(&plan(1));
    let two = run(&plan(2));
    assert!(one.exit_code() != 0, "the mutant should fail some seed");
    // Equal tallies include equal sums of the runs' trace digests.
    assert_eq!(one, two);
    assert_eq!(one.to_string(), two.to_string());
}

#[test]
fn every_workload_replays_360_seeds_to_identical_traces() {
    for workload in Workload::ALL {
        for seed in 0..40 {
            let trace = || {
                let options = Options::swarm(seed, workload);
                Simulation::new(seed, options).keeping_trace().run()
            };
            let (first, second) = (trace(), trace());
            assert!(first.trace.as_ref().is_some_and(|lines| lines.len() > 10));
            assert_eq!(first, second, "{} seed {seed}", workload.name());
        }
    }
}
