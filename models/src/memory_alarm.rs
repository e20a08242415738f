//! The `memory-alarm` model: the work queue under RabbitMQ's memory alarm.
//!
//! The protocol is the work queue's (see `work_queue`): one producer
//! publishes persistent messages with confirms into a durable queue and
//! consumers settle them. The broker runs with a memory alarm whose high
//! mark is below what the messages weigh together, so the core blocks the
//! producer (`Output::Pause`, with `connection.blocked`) once the messages
//! it holds pass the mark, and releases it once acks bring them below the
//! low mark. The broker actor stops taking the producer's segments while it
//! is paused, as a server stops reading its socket; the consumers, which
//! only consume, are never blocked, and their acks are what release it.
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
use brokerlab_core::{MemoryAlarm as Alarm, Mutant};
use stateright::Expectation;

/// The `memory-alarm` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryAlarm {
    /// How many messages the producer publishes (two bytes of body each).
    pub messages: u8,
    /// How many consumers compete for them.
    pub consumers: u8,
    /// How many times each consumer's connection may drop.
    pub drops_per_consumer: u8,
    /// The alarm: publishers blocked above its high mark of held bytes.
    pub alarm: Alarm,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for MemoryAlarm {
    /// The standard configuration: three messages (six bytes) against a
    /// high mark of three bytes and a low mark of two, one consumer with a
    /// prefetch of 1 whose connection may drop once.
    fn default() -> MemoryAlarm {
        MemoryAlarm {
            messages: 3,
            consumers: 1,
            drops_per_consumer: 1,
            alarm: Alarm {
                high_bytes: 3,
                low_bytes: 2,
            },
            mutant: None,
        }
    }
}

impl MemoryAlarm {
    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut broker = BrokerActor::new(
            self.mutant,
            vec![declare_durable(QUEUE)],
            1 + usize::from(self.consumers),
        );
        broker.config.memory_alarm = Some(self.alarm);
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
