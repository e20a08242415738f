//! Time: message expiry at queue heads, `x-expires`, and the consumer timeout.
//!
//! Timers live in one ordered set of (deadline, timer). They are lazy: a timer
//! that fires re-checks its condition, so a stale one (its message already
//! gone, its queue re-used) costs a look and nothing else.

use super::{Broker, Fault, Timer};
use crate::arena::Id;
use crate::protocol::ReplyCode;

impl Broker {
    /// Runs every timer due at `self.now`. Each re-arms only for a deadline
    /// after now, so the loop ends.
    pub(super) fn fire_timers(&mut self) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::QueueHead(queue) => self.fire_queue_head(queue, at),
                Timer::QueueExpires(queue) => self.fire_queue_expires(queue),
                Timer::ConsumerTimeout(channel) => self.fire_consumer_timeout(channel, at),
            }
        }
    }

    fn fire_queue_head(&mut self, queue: Id, at: crate::time::Instant) {
        let Some(state) = self.queues.get_mut(queue) else {
            return;
        };
        if state.head_timer == Some(at) {
            state.head_timer = None;
        }
        self.run_queue(queue);
    }

    fn fire_queue_expires(&mut self, queue: Id) {
        let Some(state) = self.queues.get(queue) else {
            return;
        };
        let Some(expires_ms) = state.args.expires_ms else {
            return;
        };
        if !state.consumers.is_empty() {
            return;
        }
        let deadline = state.last_used.plus_ms(expires_ms);
        if deadline <= self.now {
            // An expired queue's messages are not dead-lettered, as in RabbitMQ.
            self.delete_queue(queue, false);
        } else {
            self.timers.insert((deadline, Timer::QueueExpires(queue)));
        }
    }

    fn fire_consumer_timeout(&mut self, channel: Id, at: crate::time::Instant) {
        let Some(state) = self.channels.get_mut(channel) else {
            return;
        };
        if state.timeout_armed == Some(at) {
            state.timeout_armed = None;
        }
        let Some(timeout_ms) = self.config.consumer_timeout_ms else {
            return;
        };
        let Some(oldest) = state.oldest_delivery() else {
            return;
        };
        if oldest.plus_ms(timeout_ms) > self.now {
            self.arm_consumer_timeout(channel);
            return;
        }
        let (conn, number) = (state.conn, state.number);
        let text = format!(
            "delivery acknowledgement on channel {} timed out. Timeout value used: {timeout_ms} ms. This timeout value can be configured, see consumers doc guide to learn more",
            number.0
        );
        self.fail(
            conn,
            number,
            Fault::new(ReplyCode::PreconditionFailed, text),
        );
    }

    /// Makes sure a timer is armed for the earliest expiry at the queue's heads.
    pub(super) fn arm_head_timer(&mut self, queue: Id) {
        let state = &mut self.queues[queue];
        let Some(next) = state.ready.next_expiry() else {
            return;
        };
        if state.head_timer.is_none_or(|armed| next < armed) {
            state.head_timer = Some(next);
            self.timers.insert((next, Timer::QueueHead(queue)));
        }
    }

    /// Makes sure a timer is armed for the channel's oldest unacknowledged delivery.
    pub(super) fn arm_consumer_timeout(&mut self, channel: Id) {
        let Some(timeout_ms) = self.config.consumer_timeout_ms else {
            return;
        };
        let state = &mut self.channels[channel];
        if state.timeout_armed.is_some() {
            return;
        }
        let Some(oldest) = state.oldest_delivery() else {
            return;
        };
        let deadline = oldest.plus_ms(timeout_ms);
        state.timeout_armed = Some(deadline);
        self.timers
            .insert((deadline, Timer::ConsumerTimeout(channel)));
    }
}
