//! The `request-reply` model: a requester's requests reach a responder,
//! and the responder's replies come back to the requester, each carrying
//! the `correlation_id` of its request.
//!
//! The operator declares two durable queues, `requests` and `replies`. The
//! requester publishes requests 1 to N to `requests` (persistent, with
//! confirms), request `n` with `reply_to` `replies` and `correlation_id`
//! `n`. The responder consumes `requests` with prefetch 1; for each request
//! it publishes a reply, the same body, to the request's `reply_to`
//! through the default exchange, copying its `correlation_id`, and acks the
//! request in the same segment. The requester's reply consumer reads
//! `replies` with prefetch 1 and acks; its connection may drop once while
//! it holds a reply. The responder's replies in a row all go to one route,
//! so the broker sees one exchange and routing key with a new
//! `correlation_id` each time.
//!
//! Deliveries are judged per consumer (each reads a queue of its own).
//! Checked, in every reachable state, besides what every model checks:
//! `reply-correlated`, every request and reply handed out with the
//! correlation id its publisher gave it; and `every-subscriber-served`:
//! once nothing more can happen, the responder acked every request and the
//! requester every reply.

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::declare_durable;
use brokerlab_core::{Mutant, Name};
use stateright::Expectation;

/// The queue of requests.
pub const REQUESTS: &str = "requests";

/// The requester's reply queue.
pub const REPLIES: &str = "replies";

/// The `request-reply` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestReply {
    /// How many requests the requester sends.
    pub messages: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for RequestReply {
    /// The standard configuration: two requests.
    fn default() -> RequestReply {
        RequestReply {
            messages: 2,
            mutant: None,
        }
    }
}

impl RequestReply {
    /// The actor model: the broker (actor 0), the requester's publisher
    /// (1), the responder (2) and the requester's reply consumer (3).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let setup = vec![declare_durable(REQUESTS), declare_durable(REPLIES)];
        let broker = BrokerActor::new(self.mutant, setup, 3);
        let requester = Producer {
            reply_to: Some(Name::from(REPLIES)),
            ..Producer::new(REQUESTS.into(), self.messages)
        };
        let responder = Consumer {
            responds: true,
            ..Consumer::new(REQUESTS.into(), 1)
        };
        let replies = Consumer {
            drops: 1,
            ..Consumer::new(REPLIES.into(), 1)
        };
        let settings = Settings {
            messages: self.messages,
            prefetch: 1,
            per_consumer: true,
            correlated: true,
            ..Settings::default()
        };
        base_model(
            settings,
            Links::Ordered,
            broker,
            requester,
            vec![responder, replies],
        )
        .property(
            Expectation::Always,
            "reply-correlated",
            properties::reply_correlated,
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
