//! brokerlab-sim: the deterministic simulator that drives the brokerlab core
//! through seeded faults and checks its histories.
//!
//! A run is a function of a `u64` seed. The seed draws the run's options in
//! swarm mode ([`Options::swarm`]: the workload's parameters and a
//! [`FaultPlan`] in which each kind of fault is on or off with its own rate),
//! and then drives every choice of the run through one ChaCha8 stream
//! ([`random::SimRng`]). Time is simulated: a discrete-event queue ordered by
//! (time, sequence number) holds everything that will happen, and the clock
//! jumps to the next event. No thread, no sleep, no real clock, no hash-map
//! iteration: the same seed gives the same trace, byte for byte.
//!
//! The nodes are the real `brokerlab_core::Broker` over a simulated disk
//! (`brokerlab_store::SimStore`, which loses unsynced writes on a crash and
//! may tear the last one) and the workload's clients, sans-IO state machines
//! like the core: producers with publisher confirms that retry, consumers
//! with prefetch that ack and requeue and reconnect, and stream producers
//! and readers that speak the core's stream commands. The network keeps each
//! connection FIFO and lets connections overtake each other, and the plan
//! drops links, partitions and clogs them, and crashes the broker.
//!
//! A run has a safety phase with faults and a heal phase without, then
//! checkers judge the history (see [`check`]). On any prefix of the run:
//! `no-phantom`, `redelivery-flagged`, `fifo`, `queue-order`,
//! `prefetch-respected`, `no-expired-delivery`, `dead-letter-accounting`,
//! `confirm-after-durable` and `reply-correlated`, and for streams
//! `inconsistent-offsets`, `duplicate`, `nonmonotonic-send`, `poll-skip`,
//! `nonmonotonic-poll` and `key-order`, and for sagas `compensation-order`,
//! `no-forward-after-abort`, `stale-reply-applied`, `duplicate-saga`,
//! `double-effect`, `double-compensation` and `late-timeout-acted`, and for
//! SQS queues `fifo-group-order` and `dedup-window`.
//! Then `liveness` (the heal phase goes quiet with every client done), and
//! on the settled run `no-lost-confirmed`, `exactly-once-effect`,
//! `lost-write`, `unseen`, `saga-atomicity`, `stuck-saga`,
//! `no-lost-after-delete` and `redrive-accounting`.
//! Exit codes: 0 pass, 127 panic in the system under test, 128 liveness,
//! 129 safety ([`report`]).
//!
//! ```
//! use brokerlab_sim::{Options, Simulation, Workload};
//!
//! let options = Options::swarm(7, Workload::WorkQueue);
//! let report = Simulation::new(7, options).run();
//! assert_eq!(report.exit_code(), 0, "{report}");
//! ```

#![forbid(unsafe_code)]

pub mod broker_node;
pub mod chart;
pub mod check;
pub mod client;
pub mod clock;
pub mod event_queue;
pub mod history;
pub mod html;
pub mod network;
pub mod plan;
pub mod random;
pub mod report;
pub mod shrink;
pub mod simulation;
pub mod sweep;
pub mod trace;
pub mod workload;

pub use plan::{FaultPlan, Options, WorkloadParams};
pub use report::{Report, EXIT_LIVENESS, EXIT_PANIC, EXIT_PASS, EXIT_SAFETY};
pub use simulation::Simulation;
pub use workload::Workload;

use std::panic::{self, AssertUnwindSafe};

/// The line a run prints before anything else: `SEED=<n> plan=<...>`.
#[must_use]
pub fn plan_line(seed: u64, options: &Options) -> String {
    format!("SEED={seed} plan={options}")
}

/// Runs one seed and turns a panic in the system under test into its
/// message, so a sweep (or the CLI) can report exit code 127 and go on.
///
/// # Errors
/// The panic's message, when the run panicked.
pub fn run_catching(seed: u64, options: Options) -> Result<Report, String> {
    panic::catch_unwind(AssertUnwindSafe(|| Simulation::new(seed, options).run())).map_err(
        |payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| {
                    payload
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                })
                .unwrap_or_else(|| "a panic without a message".to_owned())
        },
    )
}
