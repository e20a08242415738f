//! Sweeps: many seeds of many workloads, and what they add up to.
//!
//! A sweep is a list of (workload, seed) runs; each is independent and
//! deterministic, so a driver may run them on any number of threads and
//! [`Sweep::add`] them in any order: the summary sorts by workload and seed,
//! and prints the same whatever the order (the wall-clock figures are the
//! driver's to print beside it).

use crate::plan::{Millis, Options};
use crate::report::{Report, EXIT_PANIC};
use crate::workload::Workload;
use crate::{plan_line, run_catching};
use brokerlab_core::Mutant;
use std::collections::BTreeMap;
use std::fmt;

/// The outcome of one seed of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOutcome {
    /// The workload.
    pub workload: Workload,
    /// The seed.
    pub seed: u64,
    /// The run's exit code.
    pub exit_code: u8,
    /// The checkers that failed, or `["panic"]`.
    pub failed: Vec<&'static str>,
    /// The first violation (or the panic), in a line.
    pub first: Option<String>,
    /// Events dispatched.
    pub events: u64,
    /// Simulated time, in nanoseconds.
    pub simulated_ns: u64,
    /// The digest of the run's trace.
    pub trace_digest: u64,
}

/// The options a sweep runs `seed` of `workload` with: drawn from the seed,
/// with the sweep's mutant and, if it sets one, its message count.
#[must_use]
pub fn options(
    workload: Workload,
    seed: u64,
    mutant: Option<Mutant>,
    messages: Option<u64>,
) -> Options {
    let options = Options::swarm(seed, workload).with_mutant(mutant);
    match messages {
        Some(total) => options.with_messages(total),
        None => options,
    }
}

/// Runs one seed of a sweep.
#[must_use]
pub fn run_seed(
    workload: Workload,
    seed: u64,
    mutant: Option<Mutant>,
    messages: Option<u64>,
) -> SeedOutcome {
    let options = options(workload, seed, mutant, messages);
    match run_catching(seed, options) {
        Ok(report) => outcome(workload, &report),
        Err(panic) => SeedOutcome {
            workload,
            seed,
            exit_code: EXIT_PANIC,
            failed: vec!["panic"],
            first: Some(format!("panic: {panic}")),
            events: 0,
            simulated_ns: 0,
            trace_digest: 0,
        },
    }
}

fn outcome(workload: Workload, report: &Report) -> SeedOutcome {
    SeedOutcome {
        workload,
        seed: report.seed,
        exit_code: report.exit_code(),
        failed: report.violations.iter().map(|v| v.checker).collect(),
        first: report.violations.first().map(ToString::to_string),
        events: report.summary.events,
        simulated_ns: report.summary.simulated_ns,
        trace_digest: report.summary.trace_digest,
    }
}

/// Per workload: runs, passes, events and simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Seeds run.
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Events dispatched.
    pub events: u64,
    /// Simulated time, in nanoseconds.
    pub simulated_ns: u64,
    /// The runs' trace digests, added up (in any order): equal sweeps ran
    /// equal traces.
    pub trace_digest: u64,
}

/// What a sweep found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    tallies: BTreeMap<Workload, Tally>,
    failures: BTreeMap<(Workload, u64), SeedOutcome>,
    mutant: Option<Mutant>,
    messages: Option<u64>,
}

impl Sweep {
    /// An empty sweep (of a mutant broker, and with a fixed message count, if given).
    #[must_use]
    pub fn new(mutant: Option<Mutant>, messages: Option<u64>) -> Sweep {
        Sweep {
            mutant,
            messages,
            ..Sweep::default()
        }
    }

    /// Adds one seed's outcome.
    pub fn add(&mut self, outcome: SeedOutcome) {
        let tally = self.tallies.entry(outcome.workload).or_default();
        tally.runs += 1;
        tally.events += outcome.events;
        tally.simulated_ns += outcome.simulated_ns;
        tally.trace_digest = tally.trace_digest.wrapping_add(outcome.trace_digest);
        if outcome.exit_code == 0 {
            tally.passed += 1;
        } else {
            self.failures
                .insert((outcome.workload, outcome.seed), outcome);
        }
    }

    /// Runs in all.
    #[must_use]
    pub fn runs(&self) -> u64 {
        self.tallies.values().map(|tally| tally.runs).sum()
    }

    /// Events dispatched in all.
    #[must_use]
    pub fn events(&self) -> u64 {
        self.tallies.values().map(|tally| tally.events).sum()
    }

    /// Simulated time in all, in nanoseconds.
    #[must_use]
    pub fn simulated_ns(&self) -> u64 {
        self.tallies.values().map(|tally| tally.simulated_ns).sum()
    }

    /// Each workload's tally, in workload order.
    pub fn tallies(&self) -> impl Iterator<Item = (Workload, Tally)> + '_ {
        self.tallies
            .iter()
            .map(|(workload, tally)| (*workload, *tally))
    }

    /// The command that replays a failing seed of this sweep.
    #[must_use]
    pub fn replay_command(&self, outcome: &SeedOutcome) -> String {
        let mut command = format!(
            "brokerlab sim --workload {} --seed {}",
            outcome.workload.name(),
            outcome.seed
        );
        if let Some(mutant) = self.mutant {
            command += &format!(" --mutant {}", mutant.name());
        }
        if let Some(messages) = self.messages {
            command += &format!(" --messages {messages}");
        }
        command
    }

    /// The failing seeds, by workload and seed.
    pub fn failures(&self) -> impl Iterator<Item = &SeedOutcome> {
        self.failures.values()
    }

    /// The exit code of the whole sweep: the highest of its runs' (129
    /// safety, 128 liveness, 127 panic, 0 when every run passed).
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        let codes = self.failures.values().map(|outcome| outcome.exit_code);
        codes.max().unwrap_or(0)
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mutant = self.mutant.map_or("off", Mutant::name);
        writeln!(f, "sweep: {} runs, mutant={mutant}", self.runs())?;
        writeln!(
            f,
            "{:<20} {:>6} {:>6} {:>7} {:>12} {:>14}",
            "workload", "runs", "passed", "failed", "events", "simulated"
        )?;
        for (workload, tally) in &self.tallies {
            writeln!(
                f,
                "{:<20} {:>6} {:>6} {:>7} {:>12} {:>14}",
                workload.name(),
                tally.runs,
                tally.passed,
                tally.runs - tally.passed,
                tally.events,
                Millis(tally.simulated_ns).to_string(),
            )?;
        }
        for outcome in self.failures.values() {
            let options = options(outcome.workload, outcome.seed, self.mutant, self.messages);
            writeln!(f, "FAILED {}", plan_line(outcome.seed, &options))?;
            writeln!(
                f,
                "  exit {} [{}] {}",
                outcome.exit_code,
                outcome.failed.join(","),
                outcome.first.as_deref().unwrap_or("")
            )?;
            writeln!(f, "  replay: {}", self.replay_command(outcome))?;
        }
        Ok(())
    }
}
