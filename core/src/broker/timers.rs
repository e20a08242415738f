//! Time: message expiry at queue heads, `x-expires`, and the consumer timeout.
//!
//! Timers live in one ordered set of (deadline, timer). They are lazy: a timer
//! that fires re-checks its condition, so a stale one (its message already
//! gone, its queue re-used) costs a look and nothing else.

use super::{Broker, Fault, Timer};
use crate::arena::Id;
use crate::protocol::ReplyCode;
use crate::time::Instant;

impl Broker {
    /// Runs every timer due at `self.now`. Each re-arms only for a deadline
    /// after now, so the loop ends.
    #[inline]
    pub(super) fn fire_timers(&mut self) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::QueueHead(queue) => self.fire_queue_head(queue, at),
                Timer::QueueExpires(queue) => self.fire_queue_expires(queue, at),
                Timer::ConsumerTimeout(channel) => self.fire_consumer_timeout(channel, at),
                Timer::CreditFlow => self.fire_credit_flow(at),
                Timer::Sqs(queue) => self.fire_sqs(queue, at),
            }
        }
    }

    fn fire_queue_head(&mut self, queue: Id, at: Instant) {
        let Some(state) = self.queues.get_mut(queue) else {
            return;
        };
        if state.head_timer == Some(at) {
            state.head_timer = None;
        }
        self.run_queue(queue);
    }

    fn fire_queue_expires(&mut self, queue: Id, at: Instant) {
        let Some(state) = self.queues.get_mut(queue) else {
            return;
        };
        if state.expires_timer == Some(at) {
            state.expires_timer = None;
        }
        let Some(expires_ms) = state.args.expires_ms else {
            return;
        };
        if !state.consumers.is_empty() {
            return;
        }
        if state.last_used.plus_ms(expires_ms) <= self.now {
            // An expired queue's messages are not dead-lettered, as in RabbitMQ.
            self.delete_queue(queue, false);
        } else {
            self.arm_expires_timer(queue);
        }
    }

    fn fire_consumer_timeout(&mut self, channel: Id, at: Instant) {
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
        if consumer_deadline(oldest, timeout_ms) > self.now {
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
            None,
        );
    }

    /// Makes sure a timer is armed for the earliest expiry at the queue's heads.
    pub(super) fn arm_head_timer(&mut self, queue: Id) {
        let state = &mut self.queues[queue];
        let Some(next) = state.ready.next_expiry() else {
            return;
        };
        // Heads expired by now were just removed, so `next` is in the future;
        // only the deliver-expired mutant keeps expired heads, and re-arming
        // for the past would spin `fire_timers`.
        if next > self.now && state.head_timer.is_none_or(|armed| next < armed) {
            state.head_timer = Some(next);
            self.timers.insert((next, Timer::QueueHead(queue)));
        }
    }

    /// Makes sure a timer is armed for when an unused queue with `x-expires` may be deleted.
    pub(super) fn arm_expires_timer(&mut self, queue: Id) {
        let state = &mut self.queues[queue];
        let Some(expires_ms) = state.args.expires_ms else {
            return;
        };
        if state.consumers.is_empty() && state.expires_timer.is_none() {
            let deadline = state.last_used.plus_ms(expires_ms);
            state.expires_timer = Some(deadline);
            self.timers.insert((deadline, Timer::QueueExpires(queue)));
        }
    }

    /// Takes back the consumer-timeout timer of a channel that holds no
    /// unacknowledged delivery any more, so `poll_timeout` does not report a
    /// deadline that can only find nothing to do.
    pub(super) fn disarm_consumer_timeout(&mut self, channel: Id) {
        let Some(state) = self.channels.get_mut(channel) else {
            return;
        };
        if state.oldest_delivery().is_none() {
            if let Some(at) = state.timeout_armed.take() {
                self.timers.remove(&(at, Timer::ConsumerTimeout(channel)));
            }
        }
    }

    /// Takes back the timers of a queue that is being deleted.
    pub(super) fn disarm_queue_timers(&mut self, queue: Id) {
        let state = &mut self.queues[queue];
        if let Some(at) = state.head_timer.take() {
            self.timers.remove(&(at, Timer::QueueHead(queue)));
        }
        if let Some(at) = state.expires_timer.take() {
            self.timers.remove(&(at, Timer::QueueExpires(queue)));
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
        let deadline = consumer_deadline(oldest, timeout_ms);
        state.timeout_armed = Some(deadline);
        self.timers
            .insert((deadline, Timer::ConsumerTimeout(channel)));
    }
}

/// When a delivery made at `delivered_at` has been unacknowledged for longer
/// than the consumer timeout: one nanosecond past it.
fn consumer_deadline(delivered_at: Instant, timeout_ms: u64) -> Instant {
    Instant(delivered_at.plus_ms(timeout_ms).0.saturating_add(1))
}
