//! The core/floor ratio measured in alternating rounds.
//!
//! Criterion measures `core/publish_deliver_ack/*` and `core/floor/vecdeque_map`
//! one after the other, some seconds apart; on this shared machine the floor
//! alone has measured from 57 to 72 ns per message in one half hour on one
//! binary, so the ratio of two such means moves with whatever else the machine
//! did in between. Here the path (events on and off) and the floor take turns,
//! round after round, in one process, and each round's ratio compares
//! measurements made a few milliseconds apart. The median of the rounds'
//! ratios is the figure; the spread shows how steady the machine was.
//!
//! `cargo bench --bench paired [-- ROUNDS]` prints one `paired:` line that
//! `scripts/bench-report.py core` copies into reports/bench-core.md.

use brokerlab_core::Name;
use bytes::Bytes;
use std::time::Instant;

mod support;

use support::{direct_setup, publish_deliver_ack, Floor};

/// Messages per measurement: a multiple of `ACK_EVERY`, and some milliseconds
/// of work, long against the clock's resolution and short against the
/// machine's swings.
const MESSAGES: u64 = 100_000;
/// Rounds, unless the command line says otherwise.
const ROUNDS: usize = 31;

/// Nanoseconds per message of `run`.
fn per_message(run: impl FnOnce()) -> f64 {
    let start = Instant::now();
    run();
    start.elapsed().as_nanos() as f64 / MESSAGES as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The lowest and highest of `values`.
fn spread(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, 0.0), |(low, high), &v| {
        (low.min(v), high.max(v))
    })
}

fn main() {
    // `cargo bench` passes `--bench`; the round count is the first number.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(ROUNDS);
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    let (mut traced, mut quiet) = (direct_setup(true), direct_setup(false));
    let (mut traced_acked, mut quiet_acked) = (0, 0);
    let mut floor = Floor::default();
    let path = |broker: &mut _, acked: &mut _| {
        publish_deliver_ack(broker, &exchange, &key, &body, acked, MESSAGES);
    };
    // One unmeasured round, to warm caches and the message pools.
    path(&mut traced, &mut traced_acked);
    path(&mut quiet, &mut quiet_acked);
    floor.run(&body, MESSAGES);
    let (mut on, mut off, mut floors) = (vec![], vec![], vec![]);
    let (mut ratio_on, mut ratio_off) = (vec![], vec![]);
    for round in 0..rounds {
        // The order turns each round, so no measurement always follows another.
        let mut times = [0.0; 3];
        for turn in 0..3 {
            let which = (round + turn) % 3;
            times[which] = match which {
                0 => per_message(|| path(&mut traced, &mut traced_acked)),
                1 => per_message(|| path(&mut quiet, &mut quiet_acked)),
                _ => per_message(|| floor.run(&body, MESSAGES)),
            };
        }
        let [events_on, events_off, floor_ns] = times;
        on.push(events_on);
        off.push(events_off);
        floors.push(floor_ns);
        ratio_on.push(events_on / floor_ns);
        ratio_off.push(events_off / floor_ns);
    }
    let (low_on, high_on) = spread(&ratio_on);
    let (low_off, high_off) = spread(&ratio_off);
    println!(
        "paired: rounds={rounds} messages={MESSAGES} events_on_ns={:.1} events_off_ns={:.1} \
         floor_ns={:.1} ratio_on={:.2} ratio_off={:.2} ratio_on_range={low_on:.2}-{high_on:.2} \
         ratio_off_range={low_off:.2}-{high_off:.2}",
        median(&mut on),
        median(&mut off),
        median(&mut floors),
        median(&mut ratio_on),
        median(&mut ratio_off),
    );
}
