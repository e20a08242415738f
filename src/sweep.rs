//! `brokerlab sweep`: many seeds of the simulator on several threads.
//!
//! Each (workload, seed) run is independent and deterministic, so the runs
//! are dealt out to `jobs` threads round-robin and gathered into one
//! [`Sweep`], which sorts them: the summary is the same for any number of
//! jobs. Only the wall-clock figures, which this driver measures, differ.

use brokerlab_core::Mutant;
use brokerlab_sim::sweep::{run_seed, SeedOutcome, Sweep};
use brokerlab_sim::Workload;
use std::ops::Range;
use std::thread;

/// What to sweep.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The workloads, each over every seed.
    pub workloads: Vec<Workload>,
    /// The seeds.
    pub seeds: Range<u64>,
    /// Threads.
    pub jobs: usize,
    /// A deliberately broken broker.
    pub mutant: Option<Mutant>,
    /// Messages per run, in all (default: drawn from each seed).
    pub messages: Option<u64>,
}

/// Runs every (workload, seed) of the plan on `plan.jobs` threads.
///
/// # Panics
/// When a worker thread panics outside a run (runs catch their own panics).
#[must_use]
pub fn run(plan: &Plan) -> Sweep {
    let runs: Vec<(Workload, u64)> = plan
        .workloads
        .iter()
        .flat_map(|workload| plan.seeds.clone().map(move |seed| (*workload, seed)))
        .collect();
    let jobs = plan.jobs.max(1);
    let (mutant, messages) = (plan.mutant, plan.messages);
    let outcomes: Vec<Vec<SeedOutcome>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|job| {
                let runs = &runs;
                scope.spawn(move || {
                    runs.iter()
                        .skip(job)
                        .step_by(jobs)
                        .map(|(workload, seed)| run_seed(*workload, *seed, mutant, messages))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a sweep worker panicked"))
            .collect()
    });
    let mut sweep = Sweep::new(mutant, messages);
    for outcome in outcomes.into_iter().flatten() {
        sweep.add(outcome);
    }
    sweep
}
