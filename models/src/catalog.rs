//! The models by name, and what the command line may change in their
//! standard configurations: how `brokerlab check`, `brokerlab explore` and
//! the bench find a model.

use crate::properties::{self, BrokerModel};
use crate::pubsub;
use crate::sqs;
use crate::{
    CircuitBreaker, ConsumerGroup, CrashRecovery, Dlq, Fanout, Idempotency, IdempotentProducer,
    Links, Ordering, Pressure, Priority, PubSub, RequestReply, Restricted, Saga,
    SingleActiveConsumer, SqsVisibility, StreamFetch, Ttl, WorkQueue,
};
use brokerlab_core::Mutant;

/// The models `brokerlab check` knows, by name.
pub const MODELS: [&str; 21] = [
    "work-queue",
    "crash-recovery",
    "ordering",
    "dlq",
    "ttl",
    "idempotency",
    "single-active-consumer",
    "memory-alarm",
    "credit-flow",
    "restricted-user",
    "consumer-group",
    "idempotent-producer",
    "stream-fetch",
    "saga",
    "pubsub",
    "sqs-visibility",
    "fanout",
    "event-bus",
    "priority",
    "request-reply",
    "circuit-breaker",
];

/// What the command line may change in a model's standard configuration.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// How many messages the producer publishes (the saga's steps in `saga`).
    pub messages: Option<u8>,
    /// How many times the broker may crash (models with crashes only; at
    /// most `properties::CRASHES_MAX`, more is taken as that; in `saga`,
    /// any crash takes its crash configuration).
    pub crashes: Option<u8>,
    /// A deliberately broken broker.
    pub mutant: Option<Mutant>,
    /// The network (models in [`NETWORK_MODELS`] only; an unordered one
    /// only without crashes, so it sets idempotency's crashes to 0 unless
    /// they are given).
    pub network: Option<Links>,
}

/// The models whose network is a parameter (the others keep each link in order).
pub const NETWORK_MODELS: [&str; 3] = ["work-queue", "ordering", "idempotency"];

impl Overrides {
    /// Why `model` cannot be checked with these overrides, if it cannot.
    #[must_use]
    pub fn refusal(&self, model: &str) -> Option<String> {
        let network = self.network?;
        if !MODELS.contains(&model) {
            return None;
        }
        if network != Links::Ordered && !NETWORK_MODELS.contains(&model) {
            let known = NETWORK_MODELS.join(", ");
            return Some(format!(
                "model '{model}' keeps each link in order; --network applies to {known}"
            ));
        }
        if network.sequenced() && self.crashes.is_some_and(|crashes| crashes > 0) {
            return Some("an unordered network is for models without crashes".to_owned());
        }
        None
    }
}

/// A model's standard configuration with the command line's overrides, as
/// its configuration in words and the model, or `None` when the name is unknown.
///
/// # Panics
/// When the overrides do not apply to the model ([`Overrides::refusal`] says why).
#[must_use]
pub fn model_by_name(name: &str, overrides: &Overrides) -> Option<(String, BrokerModel)> {
    if let Some(refusal) = overrides.refusal(name) {
        panic!("{refusal}");
    }
    let mutant = overrides.mutant;
    let network = overrides.network.unwrap_or_default();
    // Each arm: the standard configuration, with the overrides that apply to it.
    macro_rules! configured {
        ($standard:expr, $($field:ident = $value:expr),*) => {{
            let standard = $standard;
            let config = Config {
                messages: overrides.messages.unwrap_or(standard.messages),
                mutant,
                $($field: $value,)*
                ..standard
            };
            Some((format!("{config:?}"), config.into_model()))
        }};
    }
    match name {
        "work-queue" => {
            type Config = WorkQueue;
            configured!(WorkQueue::default(), network = network)
        }
        "crash-recovery" => {
            type Config = CrashRecovery;
            let standard = CrashRecovery::default();
            let crashes = overrides.crashes.unwrap_or(standard.crashes);
            let crashes = crashes.min(properties::CRASHES_MAX);
            configured!(standard, crashes = crashes)
        }
        "ordering" => {
            type Config = Ordering;
            configured!(Ordering::default(), network = network)
        }
        "dlq" => {
            type Config = Dlq;
            configured!(Dlq::default(),)
        }
        "ttl" => {
            type Config = Ttl;
            configured!(Ttl::default(),)
        }
        "idempotency" => {
            type Config = Idempotency;
            let standard = Idempotency::default();
            let crashes = match network.sequenced() {
                true => overrides.crashes.unwrap_or(0),
                false => overrides.crashes.unwrap_or(standard.crashes),
            };
            let crashes = crashes.min(properties::CRASHES_MAX);
            configured!(standard, crashes = crashes, network = network)
        }
        "single-active-consumer" => {
            type Config = SingleActiveConsumer;
            configured!(SingleActiveConsumer::default(),)
        }
        "memory-alarm" => {
            type Config = Pressure;
            configured!(Pressure::memory_alarm(),)
        }
        "credit-flow" => {
            type Config = Pressure;
            configured!(Pressure::credit_flow(),)
        }
        "restricted-user" => {
            type Config = Restricted;
            configured!(Restricted::default(),)
        }
        "consumer-group" => {
            let standard = ConsumerGroup::default();
            let crashes = overrides.crashes.unwrap_or(standard.crashes);
            let config = ConsumerGroup {
                crashes: crashes.min(properties::CRASHES_MAX),
                mutant,
                ..standard
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "idempotent-producer" => {
            type Config = IdempotentProducer;
            let standard = IdempotentProducer::default();
            let crashes = overrides.crashes.unwrap_or(standard.crashes);
            configured!(standard, crashes = crashes.min(properties::CRASHES_MAX))
        }
        "stream-fetch" => {
            type Config = StreamFetch;
            configured!(StreamFetch::default(),)
        }
        "saga" => {
            // The standard configuration has no crash: `--crashes N` (N > 0)
            // takes the crash configuration, one step, with N crashes.
            // `--messages` sets the saga's steps (1 to 3).
            let crashes = overrides.crashes.unwrap_or(0).min(properties::CRASHES_MAX);
            let standard = match crashes {
                0 => Saga::default(),
                _ => Saga::crashing(),
            };
            let steps = overrides.messages.unwrap_or(standard.steps);
            let config = Saga {
                steps: steps.clamp(1, 3),
                crashes,
                mutant,
                ..standard
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "pubsub" => {
            // `--messages` is clamped to what the history follows.
            let standard = PubSub::default();
            let messages = overrides.messages.unwrap_or(standard.messages);
            let config = PubSub {
                messages: messages.clamp(1, pubsub::MESSAGES_MAX),
                mutant,
                ..standard
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "sqs-visibility" => {
            // `--messages` is clamped to what the history follows.
            let standard = SqsVisibility::default();
            let messages = overrides.messages.unwrap_or(standard.messages);
            let config = SqsVisibility {
                messages: messages.clamp(1, sqs::MESSAGES_MAX),
                mutant,
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "fanout" => {
            type Config = Fanout;
            configured!(Fanout::default(),)
        }
        "event-bus" => {
            type Config = Fanout;
            configured!(Fanout::event_bus(),)
        }
        "priority" => {
            let config = Priority {
                messages: overrides.messages.unwrap_or(Priority::default().messages),
                mutant,
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "request-reply" => {
            let config = RequestReply {
                messages: overrides
                    .messages
                    .unwrap_or(RequestReply::default().messages),
                mutant,
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        "circuit-breaker" => {
            let config = CircuitBreaker {
                messages: overrides
                    .messages
                    .unwrap_or(CircuitBreaker::default().messages),
                mutant,
            };
            Some((format!("{config:?}"), config.into_model()))
        }
        _ => None,
    }
}
