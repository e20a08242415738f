//! The `dlq` model: rejected, over-retried and expired messages go to a
//! dead-letter exchange, and each carries the record of its death.
//!
//! The operator declares a durable work queue whose dead-letter exchange is
//! the default exchange with routing key `dead` (so dead messages land in
//! the durable queue `dead`), with `x-delivery-limit` (a message given back
//! more often than that is dead-lettered instead of requeued) and, when
//! configured, `x-message-ttl` (an expired message is dead-lettered). The
//! producer publishes messages 1 to N with confirms, and one stray message
//! that no queue takes (which the broker confirms with basic.ack and drops).
//! The work consumer acks, nacks with requeue (a retry) or rejects, each a
//! bounded number of times; a second consumer drains `dead` and acks.
//!
//! Checked, in every reachable state, besides what every model checks:
//! `x-death-recorded`, every dead-lettered delivery carries `x-death`;
//! `unroutable-acked`, the broker refuses no publish. When nothing more can
//! happen, every message is confirmed and acked from one queue or the other.
//! `dead-lettered` and `requeued` must be reachable.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::{declare_durable, declare_durable_with};
use brokerlab_core::{FieldTable, FieldValue, Mutant};
use stateright::Expectation;

/// The work queue of the model.
pub const QUEUE: &str = "work";

/// The dead-letter queue (and the routing key of dead messages).
pub const DEAD: &str = "dead";

/// The `dlq` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dlq {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// The work queue's `x-delivery-limit`: returns before a message is dead-lettered.
    pub delivery_limit: u8,
    /// How many deliveries the work consumer may nack with requeue (retries).
    pub requeues: u8,
    /// How many deliveries the work consumer may reject.
    pub rejects: u8,
    /// The work queue's `x-message-ttl`, if messages expire.
    pub ttl_ms: Option<u32>,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Dlq {
    /// The standard configuration: one message, retried at most once, and
    /// either rejected or retried past the limit.
    fn default() -> Dlq {
        Dlq {
            messages: 1,
            delivery_limit: 1,
            requeues: 2,
            rejects: 1,
            ttl_ms: None,
            mutant: None,
        }
    }
}

impl Dlq {
    /// The actor model: the broker (actor 0), the producer (1), the work
    /// consumer (2) and the dead-letter consumer (3).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut arguments = FieldTable::new();
        arguments.insert("x-dead-letter-exchange".to_owned(), FieldValue::string(""));
        arguments.insert(
            "x-dead-letter-routing-key".to_owned(),
            FieldValue::string(DEAD),
        );
        arguments.insert(
            "x-delivery-limit".to_owned(),
            FieldValue::I64(i64::from(self.delivery_limit)),
        );
        if let Some(ttl_ms) = self.ttl_ms {
            arguments.insert(
                "x-message-ttl".to_owned(),
                FieldValue::I64(i64::from(ttl_ms)),
            );
        }
        let broker = BrokerActor::new(
            self.mutant,
            vec![
                declare_durable(DEAD),
                declare_durable_with(QUEUE, arguments),
            ],
            3,
        );
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            dead_letter_key: Some(DEAD.into()),
            ..Settings::default()
        };
        let producer = Producer {
            stray: true,
            ..Producer::new(QUEUE.into(), self.messages)
        };
        let worker = Consumer {
            requeues: self.requeues,
            rejects: self.rejects,
            ..Consumer::new(QUEUE.into(), 1)
        };
        let drain = Consumer::new(DEAD.into(), 1);
        base_model(
            settings,
            Links::Ordered,
            broker,
            producer,
            vec![worker, drain],
        )
        .property(
            Expectation::Always,
            "x-death-recorded",
            properties::x_death_recorded,
        )
        .property(
            Expectation::Always,
            "unroutable-acked",
            properties::unroutable_acked,
        )
        .property(
            Expectation::Always,
            "quiet-means-done",
            properties::quiet_means_done,
        )
        .property(
            Expectation::Sometimes,
            "dead-lettered",
            properties::dead_lettered,
        )
        .property(Expectation::Sometimes, "requeued", properties::requeued)
    }
}
