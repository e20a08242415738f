//! The `fanout` and `event-bus` models: one publish, a copy in every queue
//! bound to match it, each read by a subscriber of its own.
//!
//! The operator declares an exchange and two durable subscriber queues.
//! In `fanout` the exchange is a fanout exchange and both queues are bound
//! to it; in `event-bus` it is a topic exchange, `orders.audit` bound by
//! `order.#` and `all.events` by `#`, and the producer publishes with the
//! routing key `order`, which both patterns match (a `#` takes zero words
//! or more). The producer publishes messages 1 to N (persistent, with
//! confirms); each subscriber consumes its own queue with prefetch 1 and
//! acks, and its connection may drop once while it holds a delivery.
//!
//! Deliveries are judged per subscriber (`Settings::per_consumer`): the
//! copy each queue takes is a message of its own, so a redelivery, publish
//! order and the redelivered flag are each queue's. Checked, in every
//! reachable state, besides what every model checks: first deliveries of
//! each queue in publish order, and `every-subscriber-served`: once
//! nothing more can happen, each subscriber acked every message.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::{Command, FieldTable, Mutant, Name};
use stateright::Expectation;

/// The exchange of the model.
pub const EXCHANGE: &str = "events";

/// The two subscriber queues, and the pattern each binds with on the
/// event bus (the fanout exchange ignores it).
pub const SUBSCRIBERS: [(&str, &str); 2] = [("orders.audit", "order.#"), ("all.events", "#")];

/// The routing key of every publish.
pub const ROUTING_KEY: &str = "order";

/// The `fanout` and `event-bus` models' configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fanout {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// A topic exchange (`event-bus`) rather than a fanout exchange.
    pub topic: bool,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Fanout {
    /// The standard `fanout` configuration: two messages.
    fn default() -> Fanout {
        Fanout {
            messages: 2,
            topic: false,
            mutant: None,
        }
    }
}

impl Fanout {
    /// The standard `event-bus` configuration: two messages through a
    /// topic exchange.
    #[must_use]
    pub fn event_bus() -> Fanout {
        Fanout {
            topic: true,
            ..Fanout::default()
        }
    }

    /// The actor model: the broker (actor 0), the producer (1), a
    /// subscriber per queue (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let kind = if self.topic { "topic" } else { "fanout" };
        let mut setup = vec![Command::ExchangeDeclare {
            exchange: EXCHANGE.into(),
            kind: kind.into(),
            passive: false,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        }];
        for (queue, pattern) in SUBSCRIBERS {
            setup.push(declare_durable(queue));
            setup.push(Command::QueueBind {
                queue: queue.into(),
                exchange: EXCHANGE.into(),
                routing_key: pattern.into(),
                arguments: FieldTable::new(),
            });
        }
        let broker = BrokerActor::new(self.mutant, setup, 1 + SUBSCRIBERS.len());
        let producer = Producer {
            exchange: EXCHANGE.into(),
            ..Producer::new(Name::from(ROUTING_KEY), self.messages)
        };
        let subscribers = SUBSCRIBERS
            .iter()
            .map(|(queue, _)| Consumer {
                drops: 1,
                ..Consumer::new(Name::from(*queue), 1)
            })
            .collect();
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            per_consumer: true,
            ..Settings::default()
        };
        base_model(settings, Links::Ordered, broker, producer, subscribers)
            .property(
                Expectation::Always,
                "fifo-without-redelivery",
                properties::fifo_without_redelivery,
            )
            .property(
                Expectation::Always,
                "every-subscriber-served",
                properties::every_subscriber_served,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
    }
}
