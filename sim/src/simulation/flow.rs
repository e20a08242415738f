//! Credit flow, driven as the server drives it: after a publish, the broker
//! node asks the core whether the connection is in flow, and while it is,
//! what arrives on it waits, in order, as bytes wait in a socket the server
//! does not read. Connections in flow are asked again after every event and
//! at least every [`FLOW_RECHECK_NS`]; once released, what waited is read.
//! A connection that closes loses what waited, as it loses what was in flight.
//!
//! The simulation's checkers then judge the rule under faults: a paused
//! publisher must neither lose a confirmed message nor stall the run (the
//! liveness checker sees a run that never goes quiet).

use super::{Packet, SimEvent, Simulation};
use crate::plan::MS;
use brokerlab_core::{Command, ConnectionId};
use std::collections::VecDeque;

/// While a connection is in flow, how often it is asked about again even
/// when nothing else happens (the server's recheck).
pub(super) const FLOW_RECHECK_NS: u64 = 50 * MS;

impl Simulation {
    /// Whether `packet` must wait because `conn` is in flow (it is then kept).
    pub(super) fn hold_in_flow(&mut self, conn: ConnectionId, packet: Packet) -> Option<Packet> {
        match self.paused.get_mut(&conn) {
            Some(waiting) => {
                waiting.push_back(packet);
                None
            }
            None => Some(packet),
        }
    }

    /// After a packet from `conn` was read: a publish may put it in flow.
    pub(super) fn after_read(&mut self, conn: ConnectionId, published: bool) {
        if published && self.broker.in_flow(conn, self.now_ns) {
            self.paused.insert(conn, VecDeque::new());
            self.summary.flow_pauses += 1;
            self.arm_flow_recheck();
        }
    }

    /// Reads what waited on every connection the core released.
    pub(super) fn release_flow(&mut self) {
        let paused: Vec<ConnectionId> = self.paused.keys().copied().collect();
        for conn in paused {
            if self.broker.in_flow(conn, self.now_ns) {
                continue;
            }
            let mut waiting = self.paused.remove(&conn).unwrap_or_default();
            while let Some(packet) = waiting.pop_front() {
                self.packet_arrived(conn, packet);
                if let Some(again) = self.paused.get_mut(&conn) {
                    // In flow again: the rest waits behind.
                    again.extend(waiting.drain(..));
                    break;
                }
            }
        }
    }

    /// A closed connection's waiting packets are lost.
    pub(super) fn forget_flow(&mut self, conn: ConnectionId) {
        self.paused.remove(&conn);
    }

    /// The recheck timer fired: arm it again while anyone is in flow.
    pub(super) fn flow_recheck(&mut self) {
        self.flow_recheck_armed = false;
        if !self.paused.is_empty() {
            self.arm_flow_recheck();
        }
    }

    fn arm_flow_recheck(&mut self) {
        if !self.flow_recheck_armed {
            self.flow_recheck_armed = true;
            self.queue
                .push(self.now_ns + FLOW_RECHECK_NS, SimEvent::FlowRecheck);
        }
    }
}

/// Whether a packet is a publish (which may put its connection in flow).
pub(super) fn is_publish(packet: &Packet) -> bool {
    matches!(packet, Packet::Command(_, Command::BasicPublish { .. }))
}
