//! The `priority` model: a queue with `x-max-priority` hands out the
//! highest priority it holds first.
//!
//! The operator declares a durable queue with `x-max-priority` 9. The
//! producer publishes messages 1 to N (persistent, with confirms), message
//! `n` with priority `n`, so each later message ranks higher; one consumer
//! with prefetch 1 acks what it receives. Whether a message is already in
//! the queue when the consumer asks for the next one is the checker's to
//! choose, so later messages overtake earlier ones on some paths and not
//! on others.
//!
//! The history records each confirm (the broker confirms a persistent
//! message once its record is synced, so it was in the queue by then).
//! Checked, in every reachable state, besides what every model checks:
//! `priority-order`, no message handed out for the first time while a
//! higher-priority message, already confirmed, had never been handed out.
//! When nothing more can happen, every message is confirmed and acked.
//! `priority-overtakes` must be reachable: a later message handed out
//! before an earlier one.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable_with;
use brokerlab_core::{FieldTable, FieldValue, Mutant};
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "prioritised";

/// The `priority` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priority {
    /// How many messages the producer publishes (message `n` has priority `n`).
    pub messages: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Priority {
    /// The standard configuration: three messages.
    fn default() -> Priority {
        Priority {
            messages: 3,
            mutant: None,
        }
    }
}

impl Priority {
    /// The actor model: the broker (actor 0), the producer (1), the consumer (2).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut arguments = FieldTable::new();
        arguments.insert("x-max-priority".to_owned(), FieldValue::I64(9));
        let broker = BrokerActor::new(self.mutant, vec![declare_durable_with(QUEUE, arguments)], 2);
        let producer = Producer {
            priorities: true,
            ..Producer::new(QUEUE.into(), self.messages)
        };
        let consumer = Consumer::new(QUEUE.into(), 1);
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            priorities: true,
            ..Settings::default()
        };
        base_model(settings, Links::Ordered, broker, producer, vec![consumer])
            .property(
                Expectation::Always,
                "priority-order",
                properties::priority_order,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(
                Expectation::Sometimes,
                "priority-overtakes",
                properties::priority_overtakes,
            )
    }
}
