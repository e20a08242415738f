//! What the broker counts on the message path, for metrics: plain integer
//! increments where the message passes, so they cost next to nothing and
//! need no events. They are the totals of RabbitMQ's global counters
//! (`rabbit_global_counters`), which its Prometheus plugin exports as
//! `rabbitmq_global_messages_*_total`.

use crate::protocol::{DeadLetterReason, DropReason, Event};
use std::hash::{Hash, Hasher};

/// Totals since the broker started (not kept across a restart, as RabbitMQ
/// does not keep its counters either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// basic.publish commands the broker took, whether or not they were
    /// then refused; a transaction's publish counts when it is sent, not
    /// at commit.
    pub received: u64,
    /// Of `received`, those on a channel in confirm mode.
    pub received_confirm: u64,
    /// Published messages routed to at least one queue (once per message,
    /// whatever the number of queues).
    pub routed: u64,
    /// Non-mandatory publishes no queue took, dropped.
    pub unroutable_dropped: u64,
    /// Mandatory publishes no queue took, returned with basic.return.
    pub unroutable_returned: u64,
    /// Publisher confirms sent as basic.ack (one per message).
    pub confirmed: u64,
    /// Deliveries to a consumer that acknowledges.
    pub delivered_consume_manual_ack: u64,
    /// Deliveries to a no-ack consumer.
    pub delivered_consume_auto_ack: u64,
    /// basic.get-ok in acknowledgement mode.
    pub delivered_get_manual_ack: u64,
    /// basic.get-ok with no-ack.
    pub delivered_get_auto_ack: u64,
    /// basic.get that found the queue empty.
    pub get_empty: u64,
    /// Deliveries (consumed or got) that carried the redelivered flag.
    pub redelivered: u64,
    /// Deliveries settled by the client's basic.ack (not the no-ack ones).
    pub acknowledged: u64,
    /// Messages that left their queue for a dead-letter reason and were
    /// published to its dead-letter exchange (RabbitMQ's
    /// `dead_letter_strategy="at_most_once"`).
    pub dead_lettered: DeadLetterCounts,
    /// Messages that left their queue for a dead-letter reason with no
    /// dead-letter exchange to go to, and were dropped (RabbitMQ's
    /// `dead_letter_strategy="disabled"`).
    pub dead_lettered_dropped: DeadLetterCounts,
}

/// Messages that left their queues, by dead-letter reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeadLetterCounts {
    /// Rejected or nacked with requeue=false.
    pub rejected: u64,
    /// Their TTL ran out.
    pub expired: u64,
    /// Pushed out by a length limit, or refused under `reject-publish-dlx`.
    pub maxlen: u64,
    /// Returned more times than `x-delivery-limit`.
    pub delivery_limit: u64,
}

impl DeadLetterCounts {
    fn count(&mut self, reason: DeadLetterReason) {
        let count = match reason {
            DeadLetterReason::Rejected => &mut self.rejected,
            DeadLetterReason::Expired => &mut self.expired,
            DeadLetterReason::MaxLen => &mut self.maxlen,
            DeadLetterReason::DeliveryLimit => &mut self.delivery_limit,
        };
        *count += 1;
    }
}

impl Counters {
    /// Every delivery, consumed or got, with or without acknowledgement.
    #[must_use]
    pub fn delivered(&self) -> u64 {
        self.delivered_consume_manual_ack
            + self.delivered_consume_auto_ack
            + self.delivered_get_manual_ack
            + self.delivered_get_auto_ack
    }

    /// Counts a delivery: to a consumer (`consumed`) or by basic.get, and
    /// whether the client acknowledges it.
    #[inline(always)]
    pub(super) fn delivery(&mut self, consumed: bool, no_ack: bool, redelivered: bool) {
        let count = match (consumed, no_ack) {
            (true, false) => &mut self.delivered_consume_manual_ack,
            (true, true) => &mut self.delivered_consume_auto_ack,
            (false, false) => &mut self.delivered_get_manual_ack,
            (false, true) => &mut self.delivered_get_auto_ack,
        };
        *count += 1;
        self.redelivered += u64::from(redelivered);
    }

    /// Counts what an event off the message path's fast lane says: returns,
    /// unroutable drops, confirms and dead letters.
    #[inline]
    pub(super) fn count<N>(&mut self, event: &Event<N>) {
        match event {
            Event::Returned { .. } => self.unroutable_returned += 1,
            Event::Confirmed { ack: true, .. } => self.confirmed += 1,
            Event::DeadLettered { reason, .. } => self.dead_lettered.count(*reason),
            // A publish no queue took; a dead letter that routes nowhere
            // names the queue it died in, and was counted as dead-lettered.
            Event::Dropped {
                reason: DropReason::Unroutable,
                queue: None,
                ..
            } => self.unroutable_dropped += 1,
            Event::Dropped {
                reason:
                    DropReason::NoDeadLetterExchange(why) | DropReason::DeadLetterExchangeMissing(why),
                ..
            } => self.dead_lettered_dropped.count(*why),
            _ => {}
        }
    }
}

/// The broker's counters as it holds them. What was counted is history, not
/// state: two brokers that differ only there behave alike, so they compare
/// and hash equal (the model checkers and the simulator compare broker
/// states), while a clone keeps the counts.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tally(pub(super) Counters);

impl PartialEq for Tally {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Tally {}

impl Hash for Tally {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}
