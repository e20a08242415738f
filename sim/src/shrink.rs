//! Shrinking: a failing run made as small as it can be while it still fails
//! the same way.
//!
//! A swarm run is a function of its seed and its options, so shrinking works
//! on the options with the seed held: it tries simpler options one change at
//! a time (a fault kind switched off, a client fewer, half the messages, a
//! window of one, no requeues, a shorter safety phase, no think time, no
//! clock drift or compaction, a saga participant's habit off) and
//! keeps a change when the run still breaks the same checker. It repeats
//! until no change is kept, and reports the smallest options, which print as
//! one line and reproduce with `brokerlab sim`. Each candidate is a full,
//! deterministic run, so what shrinking returns fails exactly as printed.

use crate::plan::{Options, Span};
use crate::report::Report;
use crate::run_catching;

/// Most runs one shrink may make.
pub const RUNS_MAX: usize = 400;

/// A failing run, made small.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest options found that still fail.
    pub options: Options,
    /// That run's report.
    pub report: Report,
    /// Changes kept.
    pub steps: usize,
    /// Runs made while shrinking.
    pub runs: usize,
}

/// How big a run is: what shrinking makes smaller, in order of weight.
#[must_use]
pub fn size(options: &Options) -> (usize, u64, usize) {
    let plan = &options.plan;
    let faults = [
        plan.link_drop_every_ns.is_some(),
        plan.partition.is_some(),
        plan.clog.is_some(),
        plan.crash.is_some(),
        plan.client_crash.is_some(),
        plan.clock_jump.is_some(),
    ]
    .into_iter()
    .filter(|on| *on)
    .count();
    let params = &options.workload;
    let messages = params.messages_per_producer * params.producers as u64;
    (params.clients(), messages, faults)
}

/// Shrinks a run of `seed` that breaks `checker` under `options`.
///
/// # Panics
/// When the run does not break `checker` to begin with.
#[must_use]
pub fn shrink(seed: u64, options: Options, checker: &str) -> Shrunk {
    let fails = |options: &Options| -> Option<Report> {
        let report = run_catching(seed, options.clone()).ok()?;
        report.violation(checker).is_some().then_some(report)
    };
    let mut report = fails(&options).expect("shrink a run that fails");
    let mut current = options;
    let (mut steps, mut runs) = (0, 1);
    'progress: while runs < RUNS_MAX {
        for candidate in candidates(&current) {
            if runs >= RUNS_MAX {
                break 'progress;
            }
            runs += 1;
            if let Some(smaller) = fails(&candidate) {
                current = candidate;
                report = smaller;
                steps += 1;
                continue 'progress;
            }
        }
        break;
    }
    Shrunk {
        options: current,
        report,
        steps,
        runs,
    }
}

/// Simpler options than `options`, one change each, biggest cuts first.
fn candidates(options: &Options) -> Vec<Options> {
    let mut out = Vec::new();
    let mut with = |change: &dyn Fn(&mut Options)| {
        let mut candidate = options.clone();
        change(&mut candidate);
        if candidate != *options {
            out.push(candidate);
        }
    };
    let params = options.workload;
    if params.producers > 1 {
        with(&|o| {
            o.workload.producers -= 1;
            o.plan.link_delays.remove(o.workload.producers);
        });
    }
    if params.consumers > params.workload.consumers_min() {
        with(&|o| {
            o.workload.consumers -= 1;
            o.plan.link_delays.pop();
        });
    }
    with(&|o| o.workload.messages_per_producer = (o.workload.messages_per_producer / 2).max(1));
    with(&|o| {
        o.workload.messages_per_producer = o.workload.messages_per_producer.saturating_sub(1).max(1)
    });
    with(&|o| o.plan.crash = None);
    with(&|o| o.plan.partition = None);
    with(&|o| o.plan.link_drop_every_ns = None);
    with(&|o| o.plan.clog = None);
    with(&|o| o.plan.client_crash = None);
    with(&|o| o.plan.clock_jump = None);
    with(&|o| o.plan.rebalance_every_ns = None);
    with(&|o| o.plan.drift_ppm = 0);
    with(&|o| o.plan.compact_above_bytes = None);
    with(&|o| o.plan.credit_flow = None);
    with(&|o| o.plan.memory_alarm = None);
    with(&|o| o.plan.restricted_user = false);
    with(&|o| o.plan.partition_one_way = false);
    with(&|o| o.plan.disk = Default::default());
    with(&|o| o.plan.safety_phase_ns /= 2);
    with(&|o| o.workload.requeue_per_mille = 0);
    with(&|o| o.workload.slow_consumers = 0);
    with(&|o| o.workload.publish_window = 1);
    with(&|o| o.workload.prefetch = 1);
    with(&|o| o.workload.work = Span::new(0, 0));
    with(&|o| o.workload.publish_gap = Span::new(0, 0));
    if params.workload == crate::Workload::Saga {
        with(&|o| o.workload.saga.abort_per_mille = 0);
        with(&|o| o.workload.saga.fail_per_mille = 0);
        with(&|o| o.workload.saga.twice_per_mille = 0);
        with(&|o| o.workload.saga.late_per_mille = 0);
        with(&|o| o.workload.saga.crash_per_mille = 0);
    }
    if params.workload.is_stream() {
        with(&|o| o.workload.stream.partitions = 1);
        with(&|o| o.workload.stream.keys = 1);
        with(&|o| o.workload.stream.in_flight = 1);
        with(&|o| o.workload.stream.retention_bytes = None);
    }
    out
}
