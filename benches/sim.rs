//! Simulator benches: events per second of the `mixed` workload on one core
//! against the simulator's own event queue as a floor, the same of the
//! `stream-keyed` workload (its consumer group included) against `mixed`'s,
//! and whole seeds of a 1,000-message work-queue run.
//!
//! `cargo bench --bench sim`; `scripts/bench-report.py sim reports/bench-sim.md`
//! writes the figures, the ratio to the floor, simulated seconds per wall
//! second and seeds per hour on this machine.

use brokerlab::sim::event_queue::EventQueue;
use brokerlab::sim::sweep::options;
use brokerlab::sim::{Simulation, Workload};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// Seeds of the mixed workload per measured iteration.
const MIXED_SEEDS: std::ops::Range<u64> = 0..4;
/// Seeds of the stream-keyed workload per measured iteration.
const STREAM_SEEDS: std::ops::Range<u64> = 0..8;
/// Seeds of the 1,000-message work-queue per measured iteration.
const STANDARD_SEEDS: std::ops::Range<u64> = 0..2;
/// Messages per run of the standard seeds.
const STANDARD_MESSAGES: u64 = 1_000;

/// Runs the seeds and returns (events, simulated nanoseconds) in all.
fn run(workload: Workload, seeds: std::ops::Range<u64>, messages: Option<u64>) -> (u64, u64) {
    seeds
        .map(|seed| {
            let report = Simulation::new(seed, options(workload, seed, None, messages)).run();
            assert_eq!(report.exit_code(), 0, "seed {seed}:\n{report}");
            (report.summary.events, report.summary.simulated_ns)
        })
        .fold((0, 0), |(events, ns), (e, n)| (events + e, ns + n))
}

/// The floor: as many events through the simulator's event queue, at
/// times spread as a run spreads them, with nothing done per event.
fn event_queue_floor(events: u64) -> u64 {
    let mut queue = EventQueue::new();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut now = 0;
    let mut popped = 0;
    for _ in 0..64 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        queue.push(state >> 40, popped);
    }
    while popped < events {
        let (at, event) = queue.pop().expect("refilled below");
        now = at;
        popped += 1;
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        queue.push(now + (state >> 44), black_box(event + 1));
    }
    now
}

fn benches(c: &mut Criterion) {
    let (events, simulated_ns) = run(Workload::Mixed, MIXED_SEEDS, None);
    eprintln!(
        "note: mixed seeds {MIXED_SEEDS:?}: {events} events, {:.3} simulated seconds",
        simulated_ns as f64 / 1e9
    );
    let (standard_events, _) = run(Workload::WorkQueue, STANDARD_SEEDS, Some(STANDARD_MESSAGES));
    eprintln!(
        "note: work-queue seeds {STANDARD_SEEDS:?} with {STANDARD_MESSAGES} messages: {standard_events} events"
    );
    let (stream_events, _) = run(Workload::StreamKeyed, STREAM_SEEDS, None);
    eprintln!("note: stream-keyed seeds {STREAM_SEEDS:?}: {stream_events} events");
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(events));
    group.bench_function("events_per_sec/mixed", |b| {
        b.iter(|| run(Workload::Mixed, MIXED_SEEDS, None));
    });
    group.throughput(Throughput::Elements(stream_events));
    group.bench_function("events_per_sec/stream_keyed", |b| {
        b.iter(|| run(Workload::StreamKeyed, STREAM_SEEDS, None));
    });
    group.throughput(Throughput::Elements(events));
    group.bench_function("floor/event_queue", |b| {
        b.iter(|| event_queue_floor(events));
    });
    group.throughput(Throughput::Elements(
        STANDARD_SEEDS.end - STANDARD_SEEDS.start,
    ));
    group.bench_function("seed/work_queue_1000", |b| {
        b.iter(|| run(Workload::WorkQueue, STANDARD_SEEDS, Some(STANDARD_MESSAGES)));
    });
    group.finish();
}

criterion_group! {
    name = sim;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(sim);
