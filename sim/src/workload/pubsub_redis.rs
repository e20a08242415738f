//! `pubsub-redis`: Redis Pub/Sub channels, at-most-once fan-out to
//! whoever is subscribed at the moment of a publish.
//!
//! Publishers (the producers) publish their messages to two channels in
//! turn, [`CHANNELS`], each body naming the publisher and its sequence
//! number, and record the receiver count the broker answers. Subscribers
//! (the consumers) subscribe by channel to the first channel, or by the
//! pattern [`PATTERN`] to both, on every connection they open: a connection
//! lost to a dropped link or a broker crash takes its subscription along, as
//! Pub/Sub keeps nothing. Some subscribers leave and come back now and then;
//! the last `slow_consumers` stall (stop reading for a while), until the
//! output-buffer limit cuts them off. The limits are small here
//! ([`pubsub_config`]) so that a stall reaches them in a few messages.
//!
//! The checkers `pubsub-no-phantom`, `pubsub-at-most-once`,
//! `pubsub-publisher-order` and `pubsub-not-before-subscribe` judge what
//! the subscribers read; what they missed, and why, is the run's lesson
//! (`check::pubsub_losses`), not a violation.

use crate::client::{Client, PubSubClient, PubSubRole};
use crate::plan::{FaultPlan, WorkloadParams};
use brokerlab_core::PubSubConfig;
use bytes::Bytes;

/// The channels published to; subscribers by channel take the first.
pub const CHANNELS: [&str; 2] = ["ps.news", "ps.sport"];
/// The pattern that pattern subscribers take: both channels.
pub const PATTERN: &str = "ps.*";

/// The channel of publisher `publisher`'s message `seq`.
#[must_use]
pub fn channel_of(publisher: usize, seq: u64) -> Bytes {
    let index = (publisher as u64 + seq) % CHANNELS.len() as u64;
    Bytes::from_static(CHANNELS[index as usize].as_bytes())
}

/// The output-buffer limits of the run's broker: a stalled subscriber is
/// cut off after about a dozen unread messages (hard limit), or after 50 ms
/// over half that (soft limit).
#[must_use]
pub fn pubsub_config() -> PubSubConfig {
    PubSubConfig {
        output_buffer_hard_bytes: 1024,
        output_buffer_soft_bytes: 512,
        output_buffer_soft_ms: 50,
        ..PubSubConfig::default()
    }
}

/// Draws what is particular to the workload: stalling subscribers in half
/// of the runs, and no memory alarm or credit flow (Pub/Sub clients are
/// never paused).
pub fn draw(rng: &mut crate::random::SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan) {
    params.slow_consumers = if rng.chance(500) {
        rng.between(1, params.consumers as u64 - 1) as usize
    } else {
        0
    };
    plan.memory_alarm = None;
    plan.credit_flow = None;
}

/// The run's clients: the publishers, then the subscribers.
#[must_use]
pub fn clients(params: &WorkloadParams) -> Vec<Client> {
    let publishers = (0..params.producers).map(|id| {
        let role = PubSubRole::Publisher {
            messages: params.messages_per_producer,
            gap_high_ns: params.publish_gap.high_ns,
        };
        Client::PubSub(PubSubClient::new(id, role))
    });
    let subscribers = (0..params.consumers).map(|id| {
        let stalls = id >= params.consumers - params.slow_consumers;
        let role = PubSubRole::Subscriber {
            pattern: id % 2 == 1,
            leaves: !stalls && id % 4 < 2,
            stalls,
        };
        Client::PubSub(PubSubClient::new(id, role))
    });
    publishers.chain(subscribers).collect()
}
