//! Credit flow: which publishing connections a driver should stop reading
//! because their queues' consumers cannot keep up (see [`Flow`]).

use super::Broker;
use crate::arena::Id;
use crate::config::Flow;
use crate::protocol::ConnectionId;
use crate::queue::Queue;
use crate::time::Instant;

impl Broker {
    /// After a publish from `conn` was routed to `targets`: remembers the
    /// consumed queues among them that are over the high mark.
    pub(super) fn note_backlog(&mut self, conn: ConnectionId, targets: &[Id], flow: Flow) {
        for &id in targets {
            let queue = &self.queues[id];
            if queue.ready.len() <= flow.ready_high || queue.consumers.is_empty() {
                continue;
            }
            let Some(connection) = self.connections.get_mut(&conn) else {
                return;
            };
            if !connection.flow.contains(&id) {
                connection.flow.push(id);
            }
        }
    }

    /// Whether the driver should stop reading `conn` (credit flow, see
    /// [`Flow`]): it published into a queue whose consumers are behind, and
    /// has no consumers of its own. Always `false` without
    /// [`Config::flow`](crate::Config::flow).
    ///
    /// Ask after the inputs of a step, for the connections that published in
    /// it and those still in flow; ask again from time to time while any is
    /// (at least every `stall_ms`), since a queue's consumers stalling
    /// releases its publishers without any input.
    pub fn in_flow(&mut self, conn: ConnectionId, now: Instant) -> bool {
        let Some(flow) = self.config.flow else {
            return false;
        };
        let has_consumers = self.connection_has_consumers(conn);
        let Some(connection) = self.connections.get_mut(&conn) else {
            return false;
        };
        if has_consumers {
            connection.flow.clear();
        }
        let queues = &self.queues;
        connection.flow.retain(|&id| {
            queues
                .get(id)
                .is_some_and(|queue| holds_back(queue, flow, now))
        });
        !connection.flow.is_empty()
    }

    fn connection_has_consumers(&self, conn: ConnectionId) -> bool {
        let Some(connection) = self.connections.get(&conn) else {
            return false;
        };
        connection.channels.iter().any(|&number| {
            self.channel_index
                .get(&(conn, number))
                .is_some_and(|&id| !self.channels[id].consumers.is_empty())
        })
    }
}

/// Whether a queue still slows the publishers it put in flow.
fn holds_back(queue: &Queue, flow: Flow, now: Instant) -> bool {
    let stalled = queue
        .last_delivery
        .is_none_or(|at| now.0.saturating_sub(at.0) >= flow.stall_ms.saturating_mul(1_000_000));
    !queue.consumers.is_empty() && queue.ready.len() > flow.ready_low && !stalled
}
