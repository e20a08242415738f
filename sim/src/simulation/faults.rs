//! Fault injection: each kind of fault in the plan strikes at its own rate
//! during the safety phase, and everything heals when it ends.
//!
//! The gap before the next strike of a kind is drawn from `0..=2 * mean`, so
//! strikes come irregularly around the plan's rate. A fault that finds
//! nothing to strike (no open connection, a broker already down) does
//! nothing and is not counted.

use super::{Phase, SimEvent, Simulation, HEAL_PHASE_MAX_NS};
use crate::history::Entry;
use crate::network::Direction;

/// A kind of fault in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A connection closes.
    LinkDrop,
    /// A client is cut off from the broker for a while.
    Partition,
    /// One direction of a client's link stalls for a while.
    Clog,
    /// The broker crashes, and restarts after a while.
    Crash,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::LinkDrop,
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::Crash,
    ];

    /// The kind's name, as printed.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::LinkDrop => "link-drop",
            FaultKind::Partition => "partition",
            FaultKind::Clog => "clog",
            FaultKind::Crash => "crash",
        }
    }
}

impl Simulation {
    /// The plan's mean time between two strikes of `kind`, if it is on.
    fn mean_gap_ns(&self, kind: FaultKind) -> Option<u64> {
        let plan = &self.options.plan;
        match kind {
            FaultKind::LinkDrop => plan.link_drop_every_ns,
            FaultKind::Partition => plan.partition.map(|outage| outage.every_ns),
            FaultKind::Clog => plan.clog.map(|outage| outage.every_ns),
            FaultKind::Crash => plan.crash.map(|outage| outage.every_ns),
        }
    }

    fn schedule_fault(&mut self, kind: FaultKind) {
        if let Some(mean_ns) = self.mean_gap_ns(kind) {
            let at_ns = self.now_ns + self.rng.between(0, 2 * mean_ns);
            self.queue.push(at_ns, SimEvent::Fault(kind));
        }
    }

    pub(super) fn schedule_first_faults(&mut self) {
        for kind in FaultKind::ALL {
            self.schedule_fault(kind);
        }
    }

    pub(super) fn fault(&mut self, kind: FaultKind) {
        if self.phase != Phase::Safety {
            return;
        }
        let struck = match kind {
            FaultKind::LinkDrop => self.drop_random_link(),
            FaultKind::Partition => self.partition_random_client(),
            FaultKind::Clog => self.clog_random_link(),
            FaultKind::Crash => self.crash_broker(),
        };
        if struck {
            self.summary.count_fault(kind);
        }
        self.schedule_fault(kind);
    }

    fn drop_random_link(&mut self) -> bool {
        let open = self.network.open_connections();
        if open.is_empty() {
            return false;
        }
        let conn = open[self.rng.below(open.len() as u64) as usize];
        self.drop_connection(conn);
        true
    }

    fn partition_random_client(&mut self) -> bool {
        let Some(outage) = self.options.plan.partition else {
            return false;
        };
        let client = self.rng.below(self.network.clients() as u64) as usize;
        let lasts_ns = outage.lasts.draw(&mut self.rng);
        self.network.partition(client, self.now_ns + lasts_ns);
        let timeout_ns = self.options.plan.connection_timeout_ns;
        if let (true, Some(conn)) = (lasts_ns > timeout_ns, self.slots[client].conn) {
            let event = SimEvent::ConnectionTimeout { client, conn };
            self.queue.push(self.now_ns + timeout_ns, event);
        }
        true
    }

    fn clog_random_link(&mut self) -> bool {
        let Some(outage) = self.options.plan.clog else {
            return false;
        };
        let client = self.rng.below(self.network.clients() as u64) as usize;
        let direction = if self.rng.chance(500) {
            Direction::ToBroker
        } else {
            Direction::ToClient
        };
        let until_ns = self.now_ns + outage.lasts.draw(&mut self.rng);
        self.network.clog(client, direction, until_ns);
        true
    }

    fn crash_broker(&mut self) -> bool {
        let Some(outage) = self.options.plan.crash else {
            return false;
        };
        if !self.broker.is_up() {
            return false;
        }
        self.history.record(self.now_ns, Entry::Crash);
        self.broker.crash(&mut self.rng, self.options.plan.disk);
        // Every connection dies with the broker; clients learn of it after a link delay.
        for conn in self.network.open_connections() {
            self.drop_connection(conn);
        }
        let at_ns = self.now_ns + outage.lasts.draw(&mut self.rng);
        self.queue.push(at_ns, SimEvent::BrokerRestart);
        true
    }

    pub(super) fn restart_broker(&mut self) {
        if !self.broker.is_up() {
            self.broker.restart();
            self.history.record(self.now_ns, Entry::Restart);
        }
    }

    /// Faults stop: links heal, a crashed broker restarts, and the heal phase's clock starts.
    pub(super) fn end_safety_phase(&mut self) {
        self.phase = Phase::Heal {
            deadline_ns: self.now_ns + HEAL_PHASE_MAX_NS,
        };
        self.network.heal(self.now_ns);
        self.restart_broker();
    }
}
