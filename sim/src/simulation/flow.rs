//! Pauses, driven as the server drives them: the broker's `Output::Pause`
//! (credit flow or the memory alarm) stops a connection being read, so what
//! arrives on it waits, in order, as bytes wait in a socket the server does
//! not read; once the broker releases it, what waited is read. The broker
//! decides when (its own timer stands for a stalled queue's release); a
//! connection that closes loses what waited, as it loses what was in flight.
//!
//! The simulation's checkers then judge the rule under faults: a paused
//! publisher must neither lose a confirmed message nor stall the run (the
//! liveness checker sees a run that never goes quiet).

use super::{Packet, Simulation};
use brokerlab_core::ConnectionId;

impl Simulation {
    /// Whether `packet` must wait because `conn` is paused (it is then kept).
    pub(super) fn hold_in_flow(&mut self, conn: ConnectionId, packet: Packet) -> Option<Packet> {
        match self.paused.get_mut(&conn) {
            Some(waiting) => {
                waiting.push_back(packet);
                None
            }
            None => Some(packet),
        }
    }

    /// The broker paused or released `conn`; a release is read once the
    /// current event is done.
    pub(super) fn pause(&mut self, conn: ConnectionId, paused: bool) {
        if paused {
            self.paused.entry(conn).or_default();
            self.summary.flow_pauses += 1;
        } else if self.paused.contains_key(&conn) {
            self.released.push(conn);
        }
    }

    /// Reads what waited on every connection the broker released.
    pub(super) fn release_flow(&mut self) {
        for conn in std::mem::take(&mut self.released) {
            let mut waiting = self.paused.remove(&conn).unwrap_or_default();
            while let Some(packet) = waiting.pop_front() {
                self.packet_arrived(conn, packet);
                if let Some(again) = self.paused.get_mut(&conn) {
                    // Paused again: the rest waits behind.
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
}
