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

#[test]
fn the_shards_of_a_sweep_merge_into_the_whole_sweeps_summary() {
    use brokerlab::sweep::{merge, write_summaries};
    let plan = |shard| Plan {
        workloads: vec![Workload::WorkQueue, Workload::StreamKeyed],
        seeds: 0..30,
        jobs: 2,
        mutant: Some(brokerlab::core::Mutant::LoseOnRequeue),
        messages: None,
        shard,
    };
    let scratch = std::env::temp_dir().join(format!("brokerlab-merge-{}", std::process::id()));
    let dirs: Vec<std::path::PathBuf> = (0..3)
        .map(|index| {
            let dir = scratch.join(format!("shard-{index}"));
            let shard = plan(Some((index, 3)));
            write_summaries(&run(&shard), &shard, "wall: -", &dir).expect("written");
            dir
        })
        .collect();
    let whole = run(&plan(None));
    let merged = merge(&dirs).expect("three shards of one sweep");
    assert_eq!(merged.json["runs"], whole.runs());
    assert_eq!(merged.exit_code, whole.exit_code());
    for (workload, tally) in whole.tallies() {
        let row = (merged.json["workloads"].as_array().expect("rows").iter())
            .find(|row| row["workload"] == workload.name())
            .expect("a row per workload");
        assert_eq!(row["runs"], tally.runs);
        assert_eq!(row["passed"], tally.passed);
        assert_eq!(
            row["events"], tally.events,
            "the same runs, event for event"
        );
    }
    let failures = merged.json["failures"].as_array().expect("failures").len();
    assert_eq!(failures, whole.failures().count());
    // A shard missing, or given twice, is refused.
    let missing = merge(&dirs[..2]).expect_err("shard 2/3 missing");
    assert!(missing.contains("2/3"), "{missing}");
    let twice = [dirs[0].clone(), dirs[0].clone(), dirs[1].clone()];
    assert!(merge(&twice).is_err());
    std::fs::remove_dir_all(&scratch).expect("scratch removed");
}
