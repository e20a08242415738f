//! The `restricted-user` model: the work queue under the core's access
//! control.
//!
//! The protocol is the work queue's (see `work_queue`), with the broker's
//! `Config::access` restricting the clients' user (`guest`) on "/" to the
//! names the pattern uses: configure and read on the queue `work`, write on
//! it and on the default exchange (the empty name). Every command of the
//! model goes through the core's access control; with these permissions
//! none is refused, so every property of the work queue holds, and
//! `quiet-means-done` says that the restricted clients still get every
//! message confirmed and acked. Narrower permissions make the core refuse
//! a command with 403 ACCESS_REFUSED, a reply like any other: the client
//! whose consume is refused never receives, and the model goes quiet with
//! messages unacked (see the model's tests).

use crate::actors::base_model;
use crate::broker_actor::BrokerActor;
use crate::clients::{Consumer, Producer};
use crate::network::Links;
use crate::properties::{self, BrokerModel, Settings};
use crate::work_queue::{declare_durable, QUEUE};
use brokerlab_core::{Access, Mutant, Permissions};
use stateright::Expectation;

/// The `restricted-user` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restricted {
    /// How many messages the producer publishes.
    pub messages: u8,
    /// How many consumers compete for them.
    pub consumers: u8,
    /// The clients' permissions on "/": configure, write and read patterns.
    pub permissions: (String, String, String),
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for Restricted {
    /// The standard configuration: two messages, two consumers with a
    /// prefetch of 1, and permissions naming `work` and the default
    /// exchange alone.
    fn default() -> Restricted {
        Restricted {
            messages: 2,
            consumers: 2,
            permissions: ("^work$".into(), "^(work)?$".into(), "^work$".into()),
            mutant: None,
        }
    }
}

impl Restricted {
    /// The actor model: the broker (actor 0), the producer (1), the consumers (2 on).
    ///
    /// # Panics
    /// When a permission is not a regular expression.
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        let mut broker = BrokerActor::new(
            self.mutant,
            vec![declare_durable(QUEUE)],
            1 + usize::from(self.consumers),
        );
        let (configure, write, read) = &self.permissions;
        let permissions =
            Permissions::new(configure, write, read).expect("the model's patterns are valid");
        let mut access = Access::default();
        access.grant("guest", "/", permissions);
        broker.config.access = Some(access);
        let producer = Producer::new(QUEUE.into(), self.messages);
        let consumer = Consumer::new(QUEUE.into(), 1);
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
    }
}
