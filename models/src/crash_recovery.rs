//! The `crash-recovery` model: the broker crashes and recovers from the log
//! records it had synced, anywhere between publish, confirm, deliver and ack.
//!
//! The protocol is the work queue's, with a durable queue and persistent
//! messages. The producer publishes messages 1 to N with confirms; a
//! consumer with a prefetch acks what it receives. At any point the broker
//! may crash (a bounded number of times): it loses its memory, every
//! connection and every log record not yet synced, and comes back as
//! `Broker::recover` rebuilds it from stateright's `Storage`, which holds
//! exactly the synced records. Its clients hear that their connections are
//! gone and reconnect: the consumer subscribes again, and the producer
//! publishes once more every message it holds no confirm for (the
//! at-least-once publisher), so a message may reach the queue twice.
//!
//! Checked, in every reachable state: no confirmed message is lost across
//! crashes (it is acked, or in the broker, which after a crash holds what
//! the log recovered); no phantom; every redelivery flagged (a recovered
//! message may have gone out before the crash, so it is flagged); first
//! deliveries in publish order; prefetch respected; one owner per delivery;
//! and when nothing more can happen, every message confirmed and acked.
//! `crash-recovered` must be reachable: the broker comes back from a crash
//! and the work is finished after it.

use crate::actors::Node;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::properties::{self, BrokerModel, History, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::Mutant;
use brokerlab_core::Name;
use stateright::actor::Network;
use stateright::Expectation;

/// The queue of the model.
pub const QUEUE: &str = "durable";

/// The `crash-recovery` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashRecovery {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// How many consumers compete for them.
    pub consumers: u8,
    /// Each consumer's prefetch count.
    pub prefetch: u16,
    /// How many times the broker may crash in one run.
    pub crashes: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for CrashRecovery {
    /// The standard configuration: two messages, one consumer, one crash.
    fn default() -> CrashRecovery {
        CrashRecovery {
            messages: 2,
            consumers: 1,
            prefetch: 1,
            crashes: 1,
            mutant: None,
        }
    }
}

impl CrashRecovery {
    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let queue: Name = QUEUE.into();
        let broker = BrokerActor {
            keep_log: true,
            ..BrokerActor::new(
                self.mutant,
                vec![declare_durable(QUEUE)],
                1 + usize::from(self.consumers),
            )
        };
        let producer = Producer::new(queue.clone(), self.messages);
        let consumer = Consumer::new(queue, self.prefetch);
        let settings = Settings {
            messages: self.messages,
            prefetch: self.prefetch,
            crashes: self.crashes,
            ..Settings::default()
        };
        let consumers = (0..self.consumers).map(|_| Node::Consumer(consumer.clone()));
        let model = BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::Producer(producer))
            .actors(consumers)
            .init_network(Network::new_ordered([]))
            .max_crashes(usize::from(self.crashes.min(1)));
        assert!(self.crashes <= properties::CRASHES_MAX, "too many crashes");
        properties::standard(model)
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
                "crash-recovered",
                properties::crash_recovered,
            )
    }
}
