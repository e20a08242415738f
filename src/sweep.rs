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

/// A sweep put back together from its shards' summaries.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The merged `summary.json`: the shape of one sweep's, with `shards`
    /// naming the shards merged and `wall` the list of their wall lines.
    pub json: serde_json::Value,
    /// The merged summary as `brokerlab sweep` prints one.
    pub text: String,
    /// The highest of the shards' exit codes.
    pub exit_code: u8,
}

/// Merges the `summary.json` files of a sharded sweep (`--shard I/N`, one
/// per directory): the runs, events and simulated time of each workload
/// are summed and the failures gathered, in workload and seed order.
///
/// # Errors
/// When a summary cannot be read or parsed, when the summaries are not
/// shards of one sweep (another seed range, mutant or message count, a
/// shard count that differs, a shard given twice, an unsharded summary),
/// or when a shard is missing.
pub fn merge(dirs: &[std::path::PathBuf]) -> Result<Merged, String> {
    use serde_json::Value;
    let read = |dir: &std::path::PathBuf| -> Result<Value, String> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
    };
    let summaries = dirs
        .iter()
        .map(read)
        .collect::<Result<Vec<Value>, String>>()?;
    let first = summaries.first().ok_or("no summary to merge")?;
    let same_sweep = ["seeds", "mutant", "messages"];
    let mut shards = std::collections::BTreeSet::new();
    let mut count = None;
    for (dir, summary) in dirs.iter().zip(&summaries) {
        if let Some(field) = same_sweep.iter().find(|f| summary[**f] != first[**f]) {
            return Err(format!(
                "{}: its {field} differs from {}'s: not a shard of the same sweep",
                dir.display(),
                dirs[0].display()
            ));
        }
        let shard = summary["shard"]
            .as_str()
            .ok_or_else(|| format!("{}: not a shard (run with --shard I/N)", dir.display()))?;
        let (index, of) = shard
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("{}: shard {shard:?} is not I/N", dir.display()))?;
        if *count.get_or_insert(of) != of {
            return Err(format!(
                "{}: shard {shard} of another shard count",
                dir.display()
            ));
        }
        if !shards.insert(index) {
            return Err(format!("{}: shard {shard} given twice", dir.display()));
        }
    }
    let count = count.expect("one summary at least");
    let missing: Vec<String> = (0..count)
        .filter(|index| !shards.contains(index))
        .map(|index| format!("{index}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("shards missing: {}", missing.join(", ")));
    }
    // Per workload, in the order a sweep prints them: runs, passed, events, simulated ns.
    let mut tallies: std::collections::BTreeMap<Workload, (String, [u64; 4])> = Default::default();
    let mut failures: Vec<Value> = Vec::new();
    let mut exit_code = 0_u8;
    let mut walls = Vec::new();
    for summary in &summaries {
        for workload in summary["workloads"].as_array().into_iter().flatten() {
            let name = workload["workload"].as_str().unwrap_or_default().to_owned();
            let known =
                Workload::from_name(&name).ok_or_else(|| format!("unknown workload {name:?}"))?;
            let tally = &mut tallies.entry(known).or_insert((name, [0; 4])).1;
            for (slot, field) in ["runs", "passed", "events", "simulated_ns"]
                .iter()
                .enumerate()
            {
                tally[slot] += workload[*field].as_u64().unwrap_or(0);
            }
        }
        failures.extend(
            summary["failures"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        let code = summary["exit_code"].as_u64().unwrap_or(0);
        exit_code = exit_code.max(u8::try_from(code).unwrap_or(u8::MAX));
        walls.push(summary["wall"].clone());
    }
    let order = |failure: &Value| {
        let name = failure["workload"].as_str().unwrap_or_default();
        (
            Workload::from_name(name),
            failure["seed"].as_u64().unwrap_or(0),
        )
    };
    failures.sort_by_key(order);
    let runs: u64 = tallies.values().map(|(_, tally)| tally[0]).sum();
    let mutant = first["mutant"].as_str().unwrap_or("off");
    let mut text = format!("sweep: {runs} runs, mutant={mutant}, {count} shards merged\n");
    text += &format!(
        "{:<20} {:>6} {:>6} {:>7} {:>12} {:>14}\n",
        "workload", "runs", "passed", "failed", "events", "simulated"
    );
    for (name, [runs, passed, events, simulated_ns]) in tallies.values() {
        let simulated = brokerlab_sim::plan::Millis(*simulated_ns).to_string();
        text += &format!(
            "{name:<20} {runs:>6} {passed:>6} {:>7} {events:>12} {simulated:>14}\n",
            runs - passed
        );
    }
    for failure in &failures {
        let failed: Vec<&str> = (failure["failed"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        text += &format!(
            "FAILED {} seed {}\n  exit {} [{}] {}\n  replay: {}\n",
            failure["workload"].as_str().unwrap_or_default(),
            failure["seed"],
            failure["exit_code"],
            failed.join(","),
            failure["first"].as_str().unwrap_or_default(),
            failure["replay"].as_str().unwrap_or_default(),
        );
    }
    let workloads: Vec<Value> = tallies
        .values()
        .map(|(name, [runs, passed, events, simulated_ns])| {
            serde_json::json!({
                "workload": name,
                "runs": runs,
                "passed": passed,
                "failed": runs - passed,
                "events": events,
                "simulated_ns": simulated_ns,
            })
        })
        .collect();
    let json = serde_json::json!({
        "seeds": first["seeds"],
        "shard": Value::Null,
        "shards": (0..count).map(|index| format!("{index}/{count}")).collect::<Vec<_>>(),
        "mutant": first["mutant"],
        "messages": first["messages"],
        "runs": runs,
        "exit_code": exit_code,
        "workloads": workloads,
        "failures": failures,
        "wall": walls,
    });
    Ok(Merged {
        json,
        text,
        exit_code,
    })
}

/// Writes a merged sweep's `summary.json` and `summary.md` into `out`.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn write_merged(merged: &Merged, out: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(&merged.json).expect("a summary serialises");
    std::fs::write(out.join("summary.json"), json + "\n")?;
    let markdown = format!("# brokerlab sweep (merged)\n\n```\n{}```\n", merged.text);
    std::fs::write(out.join("summary.md"), markdown)
}
