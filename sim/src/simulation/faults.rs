//! Fault injection: each kind of fault in the plan strikes at its own rate
//! during the safety phase, and everything heals when it ends.
//!
//! The gap before the next strike of a kind is drawn from `0..=2 * mean`, so
//! strikes come irregularly around the plan's rate. A fault that finds
//! nothing to strike (no open connection, a broker already down) does
//! nothing and is not counted.

use super::{Phase, SimEvent, Simulation};
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
    /// A client process crashes, and restarts after a while.
    ClientCrash,
    /// The broker's clock jumps forward.
    ClockJump,
    /// A consumer group member asks for a rebalance (Kafka's
    /// `enforceRebalance`): rejoins, and the group rebalances.
    Rebalance,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::LinkDrop,
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::Crash,
        FaultKind::ClientCrash,
        FaultKind::ClockJump,
        FaultKind::Rebalance,
    ];

    /// The kind's name, as printed.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::LinkDrop => "link-drop",
            FaultKind::Partition => "partition",
            FaultKind::Clog => "clog",
            FaultKind::Crash => "crash",
            FaultKind::ClientCrash => "client-crash",
            FaultKind::ClockJump => "clock-jump",
            FaultKind::Rebalance => "rebalance",
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
            FaultKind::ClientCrash => plan.client_crash.map(|outage| outage.every_ns),
            FaultKind::ClockJump => plan.clock_jump.map(|outage| outage.every_ns),
            FaultKind::Rebalance => plan.rebalance_every_ns,
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
            FaultKind::ClientCrash => self.crash_random_client(),
            FaultKind::ClockJump => self.jump_broker_clock(),
            FaultKind::Rebalance => self.rebalance_random_member(),
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
        let one_way = self.options.plan.partition_one_way.then(|| {
            if self.rng.chance(500) {
                Direction::ToBroker
            } else {
                Direction::ToClient
            }
        });
        self.network
            .partition(client, self.now_ns + lasts_ns, one_way);
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
        self.record_counters();
        self.history.record(self.now_ns, Entry::Crash);
        let plan = &self.options.plan;
        let while_compacting = plan.compact_above_bytes.is_some()
            && self.rng.chance(plan.crash_while_compacting_per_mille);
        self.broker
            .crash(&mut self.rng, self.options.plan.disk, while_compacting);
        // Every connection dies with the broker; clients learn of it after a link delay.
        for conn in self.network.open_connections() {
            self.drop_connection(conn);
        }
        let at_ns = self.now_ns + outage.lasts.draw(&mut self.rng);
        self.queue.push(at_ns, SimEvent::BrokerRestart);
        true
    }

    /// A client picked at random, if it is a consumer group member in its
    /// group, rejoins: a storm of these keeps the group rebalancing.
    fn rebalance_random_member(&mut self) -> bool {
        let client = self.rng.below(self.slots.len() as u64) as usize;
        let mut struck = false;
        self.with_client(client, |slot, context| {
            struck = slot.client.enforce_rebalance(context);
        });
        struck
    }

    /// A client process dies: its connection closes at once (the broker
    /// hears of it after a link delay), what it held in memory is gone, and
    /// it starts again after the outage. What it keeps on disk survives: a
    /// producer's record of what was confirmed (its outbox), the consumers'
    /// shared store of processed ids.
    fn crash_random_client(&mut self) -> bool {
        let Some(outage) = self.options.plan.client_crash else {
            return false;
        };
        let client = self.rng.below(self.slots.len() as u64) as usize;
        let down_ns = outage.lasts.draw(&mut self.rng);
        let slot = &mut self.slots[client];
        slot.down_until_ns = slot.down_until_ns.max(self.now_ns + down_ns);
        if let Some(conn) = slot.conn {
            self.drop_connection(conn);
        }
        true
    }

    /// The broker's clock jumps forward; timers now due fire at once.
    fn jump_broker_clock(&mut self) -> bool {
        let Some(outage) = self.options.plan.clock_jump else {
            return false;
        };
        let by_ns = outage.lasts.draw(&mut self.rng);
        self.broker.jump_clock(by_ns);
        if self.broker.is_up() {
            self.broker_input(brokerlab_core::Input::Timeout);
        }
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
            deadline_ns: self.now_ns + self.heal_phase_max_ns(),
        };
        self.sqs.healing = true;
        self.network.heal(self.now_ns);
        self.restart_broker();
    }
}
