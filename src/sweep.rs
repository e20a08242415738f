//! `brokerlab sweep`: many seeds of the simulator on several threads.
//!
//! Each (workload, seed) run is independent and deterministic, so the runs
//! are dealt out to `jobs` threads round-robin and gathered into one
//! [`Sweep`], which sorts them: the summary is the same for any number of
//! jobs. Only the wall-clock figures, which this driver measures, differ.

use brokerlab_core::Mutant;
use brokerlab_sim::sweep::{run_seed, SeedOutcome, Sweep};
use brokerlab_sim::Workload;
use std::io::{self, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

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
    /// Only shard `.0` of `.1`: the seeds equal to `.0` modulo `.1`.
    pub shard: Option<(u64, u64)>,
}

impl Plan {
    /// Every (workload, seed) the plan runs, in order.
    #[must_use]
    pub fn runs(&self) -> Vec<(Workload, u64)> {
        let shard = self.shard;
        let seeds: Vec<u64> = self
            .seeds
            .clone()
            .filter(|seed| shard.is_none_or(|(index, count)| seed % count == index))
            .collect();
        self.workloads
            .iter()
            .flat_map(|workload| seeds.iter().map(move |seed| (*workload, *seed)))
            .collect()
    }
}

/// Runs every (workload, seed) of the plan on `plan.jobs` threads.
#[must_use]
pub fn run(plan: &Plan) -> Sweep {
    run_with_progress(plan, false)
}

/// Runs the plan, and with `progress` redraws a progress line on stderr.
///
/// # Panics
/// When a worker thread panics outside a run (runs catch their own panics).
#[must_use]
pub fn run_with_progress(plan: &Plan, progress: bool) -> Sweep {
    let runs = plan.runs();
    let jobs = plan.jobs.max(1);
    let (mutant, messages) = (plan.mutant, plan.messages);
    let done = AtomicU64::new(0);
    let outcomes: Vec<Vec<SeedOutcome>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|job| {
                let (runs, done) = (&runs, &done);
                scope.spawn(move || {
                    runs.iter()
                        .skip(job)
                        .step_by(jobs)
                        .map(|(workload, seed)| {
                            let outcome = run_seed(*workload, *seed, mutant, messages);
                            done.fetch_add(1, Ordering::Relaxed);
                            outcome
                        })
                        .collect()
                })
            })
            .collect();
        if progress {
            while workers.iter().any(|worker| !worker.is_finished()) {
                let bar = progress_line(done.load(Ordering::Relaxed), runs.len() as u64);
                let _ = write!(io::stderr(), "\r{bar}");
                thread::sleep(Duration::from_millis(200));
            }
            let _ = writeln!(
                io::stderr(),
                "\r{}",
                progress_line(runs.len() as u64, runs.len() as u64)
            );
        }
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

/// `[#######.............] 350/1000 seeds`.
fn progress_line(done: u64, total: u64) -> String {
    const WIDTH: u64 = 40;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|cell| if cell < filled { '#' } else { '.' })
        .collect();
    format!("[{bar}] {done}/{total} seeds")
}

/// Writes `summary.json` and `summary.md` of a finished sweep into `out`.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn write_summaries(sweep: &Sweep, plan: &Plan, figures: &str, out: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out)?;
    let workloads: Vec<serde_json::Value> = sweep
        .tallies()
        .map(|(workload, tally)| {
            serde_json::json!({
                "workload": workload.name(),
                "runs": tally.runs,
                "passed": tally.passed,
                "failed": tally.runs - tally.passed,
                "events": tally.events,
                "simulated_ns": tally.simulated_ns,
            })
        })
        .collect();
    let failures: Vec<serde_json::Value> = sweep
        .failures()
        .map(|outcome| {
            serde_json::json!({
                "workload": outcome.workload.name(),
                "seed": outcome.seed,
                "exit_code": outcome.exit_code,
                "failed": outcome.failed,
                "first": outcome.first,
                "replay": sweep.replay_command(outcome),
            })
        })
        .collect();
    let summary = serde_json::json!({
        "seeds": { "from": plan.seeds.start, "to": plan.seeds.end },
        "shard": plan.shard.map(|(index, count)| format!("{index}/{count}")),
        "mutant": plan.mutant.map(Mutant::name),
        "messages": plan.messages,
        "runs": sweep.runs(),
        "exit_code": sweep.exit_code(),
        "workloads": workloads,
        "failures": failures,
        "wall": figures,
    });
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    std::fs::write(out.join("summary.json"), json + "\n")?;
    let markdown = format!("# brokerlab sweep\n\n```\n{sweep}{figures}\n```\n");
    std::fs::write(out.join("summary.md"), markdown)
}
