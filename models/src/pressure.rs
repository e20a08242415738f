//! The `memory-alarm` and `credit-flow` models: the work queue under the
//! two pressures by which RabbitMQ stops reading a publisher.
//!
//! The protocol is the work queue's (see `work_queue`): one producer
//! publishes persistent messages with confirms into a durable queue and
//! consumers settle them. In `memory-alarm` the broker runs with a memory
//! alarm whose high mark is below what the messages weigh together, so the
//! core blocks the producer (`Output::Pause`, with `connection.blocked`)
//! once the messages it holds pass the mark, and releases it once acks
//! bring them below the low mark. In `credit-flow` the core pauses the
//! producer once the consumed queue holds more ready messages than the
//! flow's high mark, and resumes it when the queue is back to the low mark
//! or its consumers stall. Either way the broker actor stops taking the
//! producer's segments while it is paused, as a server stops reading its
//! socket; the consumers, which only consume, are never paused, and their
//! acks are what release the producer.
//!
//! Checked, in every reachable state: every property of the work queue (no
//! phantom delivery, redeliveries flagged, publish order, prefetch, one
//! owner per delivery, no confirmed message lost); and when nothing more
//! can happen, every message confirmed and acked (`quiet-means-done`), so a
//! pause the core never lifts is a counterexample. `publisher-blocked`
//! must be reachable, so a model whose alarm never fires fails.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::BROKER;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings, State};
use crate::work_queue::{declare_durable, QUEUE};
use brokerlab_core::{Flow, MemoryAlarm as Alarm, Mutant};
use stateright::Expectation;

/// The configuration of the `memory-alarm` and `credit-flow` models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pressure {
    /// How many messages the producer publishes (two bytes of body each).
    pub messages: u8,
    /// How many consumers compete for them.
    pub consumers: u8,
    /// How many times each consumer's connection may drop.
    pub drops_per_consumer: u8,
    /// The memory alarm: publishers blocked above its high mark of held bytes.
    pub alarm: Option<Alarm>,
    /// Credit flow: publishers into a consumed queue paused above its mark.
    pub flow: Option<Flow>,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Pressure {
    /// The standard `memory-alarm` configuration: three messages (six
    /// bytes) against a high mark of three bytes and a low mark of two, one
    /// consumer with a prefetch of 1 whose connection may drop once.
    #[must_use]
    pub fn memory_alarm() -> Pressure {
        Pressure {
            messages: 3,
            consumers: 1,
            drops_per_consumer: 1,
            alarm: Some(Alarm {
                high_bytes: 3,
                low_bytes: 2,
            }),
            flow: None,
            mutant: None,
        }
    }

    /// The standard `credit-flow` configuration: three messages into a
    /// queue whose one consumer (prefetch 1, one drop) keeps it above the
    /// flow's high mark of one ready message, the low mark 0.
    #[must_use]
    pub fn credit_flow() -> Pressure {
        Pressure {
            alarm: None,
            flow: Some(Flow {
                ready_high: 1,
                ready_low: 0,
                stall_ms: 1_000,
            }),
            ..Pressure::memory_alarm()
        }
    }

    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut broker = BrokerActor::new(
            self.mutant,
            vec![declare_durable(QUEUE)],
            1 + usize::from(self.consumers),
        );
        broker.config.memory_alarm = self.alarm;
        broker.config.flow = self.flow;
        let producer = Producer::new(QUEUE.into(), self.messages);
        let consumer = Consumer {
            drops: self.drops_per_consumer,
            ..Consumer::new(QUEUE.into(), 1)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            ..Settings::default()
        };
        let consumers = vec![consumer; usize::from(self.consumers)];
        base_model(settings, Links::Ordered, broker, producer, consumers)
            .property(
                Expectation::Always,
                "fifo-without-redelivery",
                properties::fifo_without_redelivery,
            )
            .property(
                Expectation::Always,
                "quiet-means-done",
                properties::quiet_means_done,
            )
            .property(
                Expectation::Sometimes,
                "publisher-blocked",
                publisher_blocked,
            )
    }
}

/// `publisher-blocked` (sometimes): the core paused a connection.
fn publisher_blocked(_: &BrokerModel, state: &State) -> bool {
    state.actor_states[BROKER]
        .as_broker()
        .is_some_and(|broker| !broker.paused.is_empty())
}
