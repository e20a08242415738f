//! What a queue does with a message it will not keep: the length limits'
//! drop-head, and dead-lettering (rejected, expired, over a limit or a
//! delivery limit, redriven from SQS) to the queue's dead-letter exchange,
//! with RabbitMQ's x-death headers and cycle detection, or a drop when
//! there is none.

use super::delivery::Start;
use super::{Broker, DeadLetter, Held};
use crate::arena::Id;
use crate::args::Overflow;
use crate::dead_letter;
use crate::message::Message;
use crate::message::Name;
use crate::message::SharedMessage;
use crate::protocol::{DeadLetterReason, DropReason, Event};
use crate::queue::Entry;
use crate::record::Change;

/// The default exchange's name, which an SQS redrive dead-letters through.
static EMPTY_NAME: Name = Name::new_inline("");

/// The most dead-letter hops one input may cause. Cycle detection ends every
/// automatic loop after at most one pass through each queue, so reaching this
/// bound means an internal invariant broke.
const DEAD_LETTER_HOPS_MAX: usize = 1 << 20;

impl Broker {
    /// Drops (or dead-letters) messages from the head while a drop-head queue is over a limit.
    pub(super) fn enforce_length_limit(&mut self, id: Id) {
        let mut queue = &mut self.queues[id];
        if queue.args.overflow != Overflow::DropHead {
            return;
        }
        while queue.is_over_limit() {
            let entry = queue
                .ready
                .pop()
                .expect("a queue over its limit has messages");
            self.held_bytes -= entry.size_bytes();
            self.remove_and_dead_letter(id, &entry, DeadLetterReason::MaxLen);
            queue = &mut self.queues[id];
        }
    }

    /// Sends a message that left queue `id` for `reason` to the queue's
    /// dead-letter exchange, or drops it when the queue has none.
    pub(super) fn dead_letter_or_drop(
        &mut self,
        id: Id,
        message: &Message,
        reason: DeadLetterReason,
    ) {
        self.dead_letter_or_drop_then(id, message, reason, None);
    }

    /// Takes `entry` out of queue `id` for `reason`: dead-letters or drops
    /// it, logging its removal in one record with the dead-letter copies, so
    /// that a crash neither loses the message nor keeps it twice.
    pub(super) fn remove_and_dead_letter(
        &mut self,
        id: Id,
        entry: &Entry,
        reason: DeadLetterReason,
    ) {
        let removal = entry.logged.then(|| {
            let queue = &self.queues[id];
            Change::Removed {
                vhost: queue.vhost.clone(),
                queue: queue.name.clone(),
                seq: entry.seq,
            }
        });
        self.dead_letter_or_drop_then(id, &entry.message, reason, removal);
    }

    pub(super) fn dead_letter_or_drop_then(
        &mut self,
        id: Id,
        message: &Message,
        reason: DeadLetterReason,
        removal: Option<Change>,
    ) {
        let queue = &self.queues[id];
        let sqs_target = queue.sqs.as_ref().map(|sqs| {
            // An SQS queue dead-letters only on a redrive, to its dead-letter queue.
            let policy = sqs.attributes.redrive_policy.as_ref();
            let target = policy.filter(|_| reason == DeadLetterReason::DeliveryLimit);
            target.map(|policy| Name::from(policy.dead_letter_queue.as_str()))
        });
        let (exchange, routing_key) = match &sqs_target {
            Some(target) => (target.as_ref().map(|_| &EMPTY_NAME), target.as_ref()),
            None => (
                queue.args.dead_letter_exchange.as_ref(),
                queue.args.dead_letter_routing_key.as_ref(),
            ),
        };
        let Some(exchange) = exchange else {
            if let Some(removal) = removal {
                self.persist(removal);
            }
            let event = Event::Dropped {
                message: message.id,
                queue: Some(Held::queue(id)),
                reason: DropReason::NoDeadLetterExchange(reason),
            };
            self.event(event);
            return;
        };
        let rewritten = dead_letter::dead_letter(
            message,
            &queue.name,
            reason,
            self.now,
            exchange,
            routing_key,
        );
        let dead_letter = DeadLetter {
            message: SharedMessage::new(rewritten),
            vhost: queue.vhost.clone(),
            queue: queue.name.clone(),
            reason,
            removal,
        };
        self.dead_letters.push_back(dead_letter);
    }

    /// Publishes the messages waiting for their dead-letter exchanges (and any
    /// that dead-lettering them causes in turn).
    pub(super) fn flush_dead_letters(&mut self) {
        let mut hops = 0;
        while let Some(dead_letter) = self.dead_letters.pop_front() {
            hops += 1;
            assert!(hops <= DEAD_LETTER_HOPS_MAX, "dead-letter cycles end");
            self.publish_dead_letter(dead_letter);
        }
    }

    pub(super) fn publish_dead_letter(&mut self, dead_letter: DeadLetter) {
        let DeadLetter {
            message,
            vhost,
            queue,
            reason,
            removal,
        } = dead_letter;
        // The copies and the removal from the queue the message died in
        // reach the log as one record: a crash keeps both or neither.
        self.persist_atomically(|broker| {
            broker.route_dead_letter(message, &vhost, queue, reason);
            if let Some(removal) = removal {
                broker.persist(removal);
            }
        });
    }

    pub(super) fn route_dead_letter(
        &mut self,
        message: SharedMessage,
        vhost: &Name,
        queue: Name,
        reason: DeadLetterReason,
    ) {
        let start = self.start_of(vhost, message.exchange());
        if start == Start::Nowhere {
            let reason = DropReason::DeadLetterExchangeMissing(reason);
            let queue = Some(self.hold_name(queue));
            self.event(Event::Dropped {
                message: message.id,
                queue,
                reason,
            });
            return;
        }
        let died_in = self.hold_name(queue.clone());
        let exchange = self.hold_name(message.exchange().clone());
        self.event(Event::DeadLettered {
            message: message.id,
            queue: died_in,
            reason,
            exchange,
        });
        let mut targets = self.route_from(vhost, start, &message);
        let routed = !targets.is_empty();
        // Dead-lettered to a direct reply-to name, it goes to that consumer.
        if !routed && start == Start::Default && self.deliver_reply(&message) {
            return;
        }
        targets
            .retain(|&target| !dead_letter::is_cycle(&message, reason, &self.queues[target].name));
        if targets.is_empty() {
            let reason = if routed {
                DropReason::DeadLetterCycle(reason)
            } else {
                DropReason::Unroutable
            };
            let queue = Some(self.hold_name(queue));
            self.event(Event::Dropped {
                message: message.id,
                queue,
                reason,
            });
            return;
        }
        for target in targets {
            // A dead-lettered message is nobody's to confirm; a refusal is already an event.
            let _ = self.enqueue(target, message.clone(), None);
        }
    }
}
