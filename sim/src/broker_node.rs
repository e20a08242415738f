//! The broker node: the real `brokerlab_core::Broker` over a simulated disk.
//!
//! The node drives the core exactly by its calling protocol: every input is
//! fed with the simulated time, the outputs are drained at once, and the next
//! deadline from `poll_timeout` becomes a timer event. `Output::Persist`
//! records are appended to a `brokerlab_store::SimStore`, and an fsync is
//! started if none is running; when it completes (after a drawn delay, as an
//! event) the store syncs and the node feeds `Input::Synced`, which releases
//! the confirms that waited for the disk.
//!
//! The broker runs on its own [`Clock`], which drifts from the simulation's
//! time and may jump forward; its deadlines are turned back into simulation
//! time when they are armed. When the log outgrows its bound the node
//! compacts it into the broker's snapshot (and the snapshot is durable at
//! once, which releases the confirms waiting for the disk).
//!
//! A crash loses the broker's memory and whatever the disk had not synced
//! (the store may also keep some unsynced writes, tear the last one, or flip
//! bits in it, as the plan says); a restart recovers from what the disk
//! holds. Events scheduled for an earlier life of the broker carry its
//! incarnation number and are ignored when they arrive.

use crate::clock::Clock;
use crate::random::SimRng;
use brokerlab_core::record::Change;
use brokerlab_core::{Broker, Config, Event, Input, Instant, MessageId, Output};
use brokerlab_store::{CrashFaults, SimStore, Store};
use std::collections::BTreeSet;

/// Most broker deadlines armed at once.
const TIMERS_MAX: usize = 4096;

/// How far ahead of the broker's clock a deadline may lie and still be
/// armed: an hour, far past the end of any run.
pub const TIMER_HORIZON_NS: u64 = 3_600_000 * crate::plan::MS;

/// What the simulation must schedule after the node handled something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Start an fsync: schedule its completion.
    pub fsync: bool,
    /// Arm a timer at this simulation time.
    pub timer_ns: Option<u64>,
}

/// The broker and its disk.
#[derive(Debug)]
pub struct BrokerNode {
    config: Config,
    broker: Option<Broker>,
    store: SimStore,
    incarnation: u64,
    fsync_running: bool,
    timers: BTreeSet<u64>,
    /// Messages whose enqueue record is appended but not synced, by lsn.
    unsynced: Vec<(u64, MessageId)>,
    /// Messages whose enqueue record the latest fsync made durable.
    durable: Vec<MessageId>,
    /// The broker's events since the simulation last took them.
    events: Vec<Event>,
    clock: Clock,
    /// Compact the log when it grows past this many bytes (and past twice
    /// its size after the last compaction), if at all.
    compact_above_bytes: Option<u64>,
    compacted_bytes: u64,
    /// Compactions done.
    pub compactions: u64,
}

impl BrokerNode {
    /// A broker on an empty disk, on `clock`, compacting its log above
    /// `compact_above_bytes`.
    #[must_use]
    pub fn start(config: Config, clock: Clock, compact_above_bytes: Option<u64>) -> BrokerNode {
        let mut node = BrokerNode {
            config,
            broker: None,
            store: SimStore::new(),
            incarnation: 0,
            fsync_running: false,
            timers: BTreeSet::new(),
            unsynced: Vec::new(),
            durable: Vec::new(),
            events: Vec::new(),
            clock,
            compact_above_bytes,
            compacted_bytes: 0,
            compactions: 0,
        };
        node.restart();
        node
    }

    /// The running broker's counters (counted since it last started).
    #[must_use]
    pub fn counters(&self) -> Option<brokerlab_core::Counters> {
        self.broker.as_ref().map(|broker| *broker.counters())
    }

    /// Whether the broker is running (not crashed).
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.broker.is_some()
    }

    /// Which life of the broker this is: one more after every crash.
    #[must_use]
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The broker's clock when the simulation's time is `now_ns`.
    #[must_use]
    pub fn clock_ns(&self, now_ns: u64) -> u64 {
        self.clock.broker_ns(now_ns)
    }

    /// The broker's clock jumps forward by `by_ns`.
    pub fn jump_clock(&mut self, by_ns: u64) {
        self.clock.jump(by_ns);
    }

    /// Feeds one input at simulation time `now_ns` and drains the outputs:
    /// records go to the disk, replies into `outputs` for the simulation to
    /// carry out, and events into the node's list (`take_events`). Then the
    /// broker's invariants are checked whole, unless a mutant runs: a mutant
    /// breaks the core on purpose, so its inner state need not hold, and
    /// what a mutant run tests is that the checkers, watching the message
    /// path from outside, see the broken rule.
    pub fn handle(&mut self, now_ns: u64, input: Input, outputs: &mut Vec<Output>) -> Step {
        let clock_ns = self.clock.broker_ns(now_ns);
        let broker = self
            .broker
            .as_mut()
            .expect("inputs reach a running broker only");
        broker.handle(Instant(clock_ns), input);
        let mut appended = false;
        while let Some(output) = broker.poll_output() {
            match output {
                Output::Persist(record) => {
                    let changes = match &record.change {
                        Change::Atomic { changes } => changes.as_slice(),
                        single => std::slice::from_ref(single),
                    };
                    for change in changes {
                        if let Change::Enqueued { message, .. } = change {
                            self.unsynced.push((record.lsn, message.id));
                        }
                    }
                    self.store.append(&record).unwrap_or_else(|error| {
                        panic!("the simulated disk refused a record: {error}")
                    });
                    appended = true;
                }
                other => outputs.push(other),
            }
        }
        while let Some(event) = broker.poll_event() {
            self.events.push(event);
        }
        if self.config.mutant.is_none() {
            broker.check_invariants();
        }
        // A deadline past the horizon is never armed: no run lasts that
        // long (an SQS queue's retention of hours, a mutant's visibility
        // that never runs out).
        let deadline = broker
            .poll_timeout()
            .filter(|at| at.0 <= clock_ns.saturating_add(TIMER_HORIZON_NS))
            .map(|at| self.clock.sim_ns(at.0, now_ns));
        if appended && self.should_compact() {
            return self.compact(now_ns, outputs);
        }
        let fsync = appended && !self.fsync_running;
        self.fsync_running |= fsync;
        let timer_ns = deadline.filter(|at| self.timers.insert(*at));
        assert!(
            self.timers.len() <= TIMERS_MAX,
            "broker timer bound reached"
        );
        Step { fsync, timer_ns }
    }

    fn should_compact(&self) -> bool {
        self.compact_above_bytes.is_some_and(|above| {
            let len = self.store.len_bytes();
            len > above && len > 2 * self.compacted_bytes
        })
    }

    /// Replaces the log by the broker's snapshot, which is durable at once.
    fn compact(&mut self, now_ns: u64, outputs: &mut Vec<Output>) -> Step {
        let broker = self.broker.as_ref().expect("a running broker compacts");
        let snapshot = broker.snapshot();
        let upto = broker.last_lsn();
        self.store
            .compact(&snapshot)
            .unwrap_or_else(|error| panic!("the simulated disk refused a snapshot: {error}"));
        self.compacted_bytes = self.store.len_bytes();
        self.compactions += 1;
        let durable = self.unsynced.drain(..).map(|(_, message)| message);
        self.durable.extend(durable);
        self.handle(now_ns, Input::Synced { upto }, outputs)
    }

    /// The running fsync completed: everything appended so far is durable.
    pub fn fsync_done(&mut self, now_ns: u64, outputs: &mut Vec<Output>) -> Step {
        assert!(
            self.fsync_running,
            "an fsync completes only after it started"
        );
        self.fsync_running = false;
        let synced = self
            .store
            .sync()
            .unwrap_or_else(|error| panic!("the simulated disk failed a sync: {error}"));
        match synced {
            Some(upto) => {
                let split = self.unsynced.partition_point(|(lsn, _)| *lsn <= upto);
                let synced = self.unsynced.drain(..split).map(|(_, message)| message);
                self.durable.extend(synced);
                self.handle(now_ns, Input::Synced { upto }, outputs)
            }
            None => Step::default(),
        }
    }

    /// The broker's events since the last call, in order.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// The messages whose enqueue records became durable since the last call.
    pub fn take_durable(&mut self) -> Vec<MessageId> {
        std::mem::take(&mut self.durable)
    }

    /// The timer armed for `at_ns` fired.
    pub fn timer_fired(&mut self, now_ns: u64, at_ns: u64, outputs: &mut Vec<Output>) -> Step {
        self.timers.remove(&at_ns);
        self.handle(now_ns, Input::Timeout, outputs)
    }

    /// The broker dies: its memory is gone and the disk loses what it had
    /// not synced. With `while_compacting` it dies in the middle of writing
    /// a compacted log, which the disk then holds whole or not at all.
    pub fn crash(&mut self, rng: &mut SimRng, faults: CrashFaults, while_compacting: bool) {
        let broker = self.broker.as_ref().expect("only a running broker crashes");
        if while_compacting {
            let snapshot = broker.snapshot();
            self.store
                .crash_while_compacting(&snapshot, rng.as_rng(), faults)
                .unwrap_or_else(|error| panic!("the simulated disk refused a snapshot: {error}"));
        } else {
            self.store.crash(rng.as_rng(), faults);
        }
        self.broker = None;
        self.incarnation += 1;
        self.fsync_running = false;
        self.timers.clear();
        self.unsynced.clear();
        self.durable.clear();
    }

    /// The broker starts again from what its disk holds.
    ///
    /// # Panics
    /// When the disk holds a log recovery refuses: the store promises that a
    /// crash never leaves one, so that is a bug in the system under test.
    pub fn restart(&mut self) {
        assert!(!self.is_up(), "only a stopped broker restarts");
        let records = self
            .store
            .recover()
            .unwrap_or_else(|error| panic!("the log did not recover after a crash: {error}"));
        let broker = Broker::recover(self.config.clone(), records);
        if self.config.mutant.is_none() {
            broker.check_invariants();
        }
        self.broker = Some(broker);
    }
}
