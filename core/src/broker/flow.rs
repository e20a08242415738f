//! Which connections the driver should stop reading, and why: credit flow
//! (a publisher faster than its queues' consumers, see [`Flow`]) and the
//! memory alarm (too many message bytes held, see [`MemoryAlarm`]).
//!
//! Both are rules of the broker, so both are decided here and given to the
//! driver as [`Output::Pause`] when a connection's answer changes; the
//! memory alarm also tells the client ([`Reply::ConnectionBlocked`] and
//! [`Reply::ConnectionUnblocked`]). The driver only stops reading. Credit
//! flow also ends with time (consumers that stall release their
//! publishers), so while any connection is in flow a timer stands at the
//! earliest moment one of its queues would count as stalled.

use super::{Broker, Timer};
use crate::arena::Id;
use crate::config::{Flow, MemoryAlarm};
use crate::protocol::{ChannelId, ConnectionId, Output, Reply};
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
                self.flow_candidates.insert(conn);
            }
        }
    }

    /// After every input: the memory alarm against the bytes held now, and
    /// credit flow for every connection a queue may be holding back.
    #[inline]
    pub(super) fn update_pauses(&mut self) {
        if let Some(alarm) = self.config.memory_alarm {
            self.update_memory_alarm(alarm);
        }
        if let Some(flow) = self.config.flow {
            if !self.flow_candidates.is_empty() || self.flow_timer.is_some() {
                self.update_credit_flow(flow);
            }
        }
    }

    /// Raises the alarm above the high mark of held bytes (the broker's
    /// and the driver's); below the low mark, clears it
    /// and releases every blocked connection. A raised alarm blocks a
    /// connection when it next publishes (as RabbitMQ's reader, in its
    /// `blocking` state, blocks at the next basic.publish).
    fn update_memory_alarm(&mut self, alarm: MemoryAlarm) {
        let held_bytes = self.held_bytes + self.driver_held_bytes;
        if !self.alarm_raised && held_bytes > alarm.high_bytes {
            self.alarm_raised = true;
        } else if self.alarm_raised && held_bytes < alarm.low_bytes {
            self.alarm_raised = false;
            let blocked: Vec<ConnectionId> = self
                .connections
                .iter()
                .filter(|(_, connection)| connection.blocked)
                .map(|(&conn, _)| conn)
                .collect();
            for conn in blocked {
                self.connections
                    .get_mut(&conn)
                    .expect("just listed")
                    .blocked = false;
                self.reply_on_connection(conn, Reply::ConnectionUnblocked);
                self.tell_pause(conn);
            }
        }
    }

    /// A publish from `conn` while the alarm is raised blocks it.
    #[cold]
    pub(super) fn block_publisher(&mut self, conn: ConnectionId) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        if connection.blocked {
            return;
        }
        connection.blocked = true;
        self.reply_on_connection(conn, Reply::ConnectionBlocked);
        self.tell_pause(conn);
    }

    /// Re-judges every connection a queue may be holding back: it stays in
    /// flow while one of its queues still holds it back (see [`Flow`]), and
    /// never while it has consumers of its own. Then arms the timer for
    /// the earliest moment one of their queues would count as stalled.
    fn update_credit_flow(&mut self, flow: Flow) {
        let now = self.now;
        let candidates: Vec<ConnectionId> = self.flow_candidates.iter().copied().collect();
        let mut recheck: Option<Instant> = None;
        for conn in candidates {
            let has_consumers = self.connection_has_consumers(conn);
            let queues = &self.queues;
            let Some(connection) = self.connections.get_mut(&conn) else {
                self.flow_candidates.remove(&conn);
                continue;
            };
            if has_consumers {
                connection.flow.clear();
            }
            connection.flow.retain(|&id| {
                queues
                    .get(id)
                    .is_some_and(|queue| holds_back(queue, flow, now))
            });
            for &id in &connection.flow {
                let stalls_at = stalls_at(&queues[id], flow);
                recheck = Some(recheck.map_or(stalls_at, |earliest| earliest.min(stalls_at)));
            }
            if connection.flow.is_empty() {
                self.flow_candidates.remove(&conn);
            }
            self.tell_pause(conn);
        }
        if recheck != self.flow_timer {
            if let Some(at) = self.flow_timer.take() {
                self.timers.remove(&(at, Timer::CreditFlow));
            }
            if let Some(at) = recheck {
                self.timers.insert((at, Timer::CreditFlow));
                self.flow_timer = Some(at);
            }
        }
    }

    /// The credit-flow timer fired: the next `update_pauses` re-judges.
    pub(super) fn fire_credit_flow(&mut self, at: Instant) {
        if self.flow_timer == Some(at) {
            self.flow_timer = None;
        }
    }

    /// Whether `conn` should not be read: blocked by the alarm or in flow.
    fn should_pause(&self, conn: ConnectionId) -> bool {
        self.connections
            .get(&conn)
            .is_some_and(|connection| connection.blocked || !connection.flow.is_empty())
    }

    /// Gives [`Output::Pause`] when `conn`'s answer changed.
    fn tell_pause(&mut self, conn: ConnectionId) {
        let paused = self.should_pause(conn);
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        if connection.paused != paused {
            connection.paused = paused;
            self.outputs.push_back(Output::Pause { conn, paused });
        }
    }

    /// Whether the broker has asked the driver to stop reading `conn` (the
    /// last [`Output::Pause`] it gave for it).
    #[must_use]
    pub fn is_paused(&self, conn: ConnectionId) -> bool {
        self.connections
            .get(&conn)
            .is_some_and(|connection| connection.paused)
    }

    /// Whether the memory alarm is raised.
    #[must_use]
    pub fn memory_alarm_raised(&self) -> bool {
        self.alarm_raised
    }

    fn reply_on_connection(&mut self, conn: ConnectionId, reply: Reply) {
        self.outputs.push_back(Output::Reply {
            conn,
            channel: ChannelId(0),
            reply,
        });
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
    !queue.consumers.is_empty()
        && queue.ready.len() > flow.ready_low
        && stalls_at(queue, flow) > now
}

/// When a queue's consumers count as stalled: `stall_ms` after their last
/// delivery (at once if they never had one).
fn stalls_at(queue: &Queue, flow: Flow) -> Instant {
    queue.last_delivery.map_or(Instant(0), |at| {
        Instant(at.0.saturating_add(flow.stall_ms.saturating_mul(1_000_000)))
    })
}
