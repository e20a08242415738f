//! What a client observes, and the core driven the way a client would drive it.
//!
//! The comparison is on replies only (events are for checkers, not clients),
//! in output order. Messages are compared through a projection: identity,
//! exchange, routing key, body, the `priority` and `expiration` properties,
//! and the headers, except for dead-lettered messages, whose `x-death`
//! content is checked by the dead-lettering tests. Close texts are not
//! compared, only their code and what they close.

use super::steps::Step;
use brokerlab_core::{
    Broker, CloseScope, Config, FieldTable, Flow, Input, Instant, Message, Output, Reply, ReplyCode,
};
use std::fmt;

/// Where the virtual clock starts, in milliseconds.
pub const START_MS: u64 = 1_000;

/// The most `Input::Timeout`s one `Advance` may need: every one fires at
/// least one timer, and a run holds far fewer messages than this.
const TIMEOUTS_PER_ADVANCE_MAX: usize = 10_000;

/// The broker configuration both the core and the model run with: the
/// default, without the consumer timeout (a run lasts seconds of virtual time,
/// far below the default 30 minutes, and the model does not model it), and
/// with credit flow at small marks, which must change no reply: it only
/// adds `Output::Pause`, which the comparison leaves out (the harness, unlike
/// a server, goes on reading a paused connection).
pub fn config() -> Config {
    Config {
        consumer_timeout_ms: None,
        flow: Some(Flow {
            ready_high: 2,
            ready_low: 1,
            stall_ms: 100,
        }),
        ..Config::default()
    }
}

/// A reply as the client sees it, with its destination.
#[derive(Clone, PartialEq, Eq)]
pub struct Seen {
    /// Connection.
    pub conn: u64,
    /// Channel (0 for the connection).
    pub channel: u16,
    /// What arrived.
    pub reply: SeenReply,
}

/// The compared part of a reply.
#[derive(Clone, PartialEq, Eq)]
pub enum SeenReply {
    /// A broker-initiated close: what it closes and why, not its text.
    Close { scope: CloseScope, code: ReplyCode },
    /// basic.deliver.
    Deliver {
        consumer_tag: String,
        delivery_tag: u64,
        redelivered: bool,
        message: SeenMessage,
    },
    /// basic.get-ok.
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        message_count: u32,
        message: SeenMessage,
    },
    /// basic.return.
    Return {
        code: ReplyCode,
        text: String,
        message: SeenMessage,
    },
    /// Every other reply, compared in full.
    Other(Reply),
}

/// The compared part of a message.
#[derive(Clone, PartialEq, Eq)]
pub struct SeenMessage {
    pub id: u64,
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub priority: Option<u8>,
    pub expiration: Option<String>,
    pub headers: SeenHeaders,
}

/// A message's headers as compared.
#[derive(Clone, PartialEq, Eq)]
pub enum SeenHeaders {
    /// The message was dead-lettered (it carries `x-death`): not compared.
    DeadLettered,
    /// Compared exactly.
    Exactly(Option<FieldTable>),
}

impl SeenMessage {
    /// The projection of a message the core sent.
    fn of(message: &Message) -> SeenMessage {
        let headers = message.properties().headers.as_deref().cloned();
        let dead_lettered = headers
            .as_ref()
            .is_some_and(|headers| headers.contains_key("x-death"));
        SeenMessage {
            id: message.id.0,
            exchange: message.exchange().to_string(),
            routing_key: message.routing_key().to_string(),
            body: message.body.to_vec(),
            priority: message.properties().priority,
            expiration: message.properties().expiration.clone(),
            headers: if dead_lettered {
                SeenHeaders::DeadLettered
            } else {
                SeenHeaders::Exactly(headers)
            },
        }
    }
}

impl SeenReply {
    /// The projection of a reply the core sent.
    fn of(reply: &Reply) -> SeenReply {
        match reply {
            Reply::Close { scope, code, .. } => SeenReply::Close {
                scope: *scope,
                code: *code,
            },
            Reply::Deliver {
                consumer_tag,
                delivery_tag,
                redelivered,
                message,
            } => SeenReply::Deliver {
                consumer_tag: consumer_tag.to_string(),
                delivery_tag: *delivery_tag,
                redelivered: *redelivered,
                message: SeenMessage::of(message),
            },
            Reply::GetOk {
                delivery_tag,
                redelivered,
                message_count,
                message,
            } => SeenReply::GetOk {
                delivery_tag: *delivery_tag,
                redelivered: *redelivered,
                message_count: *message_count,
                message: SeenMessage::of(message),
            },
            Reply::Return {
                code,
                text,
                message,
            } => SeenReply::Return {
                code: *code,
                text: text.clone(),
                message: SeenMessage::of(message),
            },
            other => SeenReply::Other(other.clone()),
        }
    }
}

/// The replies among the outputs, projected, in order.
pub fn seen(outputs: &[Output]) -> Vec<Seen> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Reply {
                conn,
                channel,
                reply,
            } => Some(Seen {
                conn: conn.0,
                channel: channel.0,
                reply: SeenReply::of(reply),
            }),
            Output::Persist(_)
            | Output::Pause { .. }
            | Output::Stream { .. }
            | Output::PubSub { .. }
            | Output::Sqs { .. }
            | Output::PubSubPublished { .. } => None,
        })
        .collect()
}

impl fmt::Debug for SeenMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {:?}/{:?} body {:?}",
            self.id,
            self.exchange,
            self.routing_key,
            String::from_utf8_lossy(&self.body)
        )?;
        if let Some(priority) = self.priority {
            write!(f, " priority={priority}")?;
        }
        if let Some(expiration) = &self.expiration {
            write!(f, " expiration={expiration:?}")?;
        }
        match &self.headers {
            SeenHeaders::DeadLettered => write!(f, " dead-lettered"),
            SeenHeaders::Exactly(None) => Ok(()),
            SeenHeaders::Exactly(Some(headers)) => write!(f, " headers={headers:?}"),
        }
    }
}

impl fmt::Debug for SeenReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeenReply::Close { scope, code } => write!(f, "Close({scope:?}, {code})"),
            SeenReply::Deliver {
                consumer_tag,
                delivery_tag,
                redelivered,
                message,
            } => write!(
                f,
                "Deliver({consumer_tag:?}, tag {delivery_tag}, redelivered={redelivered}, {message:?})"
            ),
            SeenReply::GetOk {
                delivery_tag,
                redelivered,
                message_count,
                message,
            } => write!(
                f,
                "GetOk(tag {delivery_tag}, redelivered={redelivered}, left {message_count}, {message:?})"
            ),
            SeenReply::Return {
                code,
                text,
                message,
            } => write!(f, "Return({code}, {text:?}, {message:?})"),
            SeenReply::Other(reply) => write!(f, "{reply:?}"),
        }
    }
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}/ch{} {:?}", self.conn, self.channel, self.reply)
    }
}

/// The core under test, with a virtual clock in milliseconds.
pub struct Core {
    /// The broker.
    pub broker: Broker,
    now_ms: u64,
}

impl Core {
    /// A fresh broker with the model's configuration.
    pub fn new() -> Core {
        Core::with_config(config())
    }

    /// A fresh broker run as a deliberately broken variant.
    #[cfg(feature = "mutants")]
    pub fn mutant(mutant: brokerlab_core::Mutant) -> Core {
        Core::with_config(Config {
            mutant: Some(mutant),
            ..config()
        })
    }

    /// A fresh broker with this configuration.
    pub fn with_config(config: Config) -> Core {
        Core {
            broker: Broker::new(config),
            now_ms: START_MS,
        }
    }

    fn now(&self) -> Instant {
        Instant(self.now_ms * 1_000_000)
    }

    /// Feeds one input and drains every output.
    pub fn input(&mut self, input: Input) -> Vec<Output> {
        self.broker.handle(self.now(), input);
        let mut outputs = Vec::new();
        while let Some(output) = self.broker.poll_output() {
            outputs.push(output);
        }
        // Compared by their replies alone: the events are let go.
        self.broker.drain_events(|_| {});
        // A mutant breaks the core on purpose: the model judges what a
        // client sees, not the inner state.
        #[cfg(feature = "mutants")]
        let mutated = self.broker.config().mutant.is_some();
        #[cfg(not(feature = "mutants"))]
        let mutated = false;
        if !mutated {
            self.broker.check_invariants();
        }
        outputs
    }

    /// Moves the clock forward by `ms`, jumping to each deadline the broker
    /// asks for on the way so that every timer fires at its own instant.
    pub fn advance(&mut self, ms: u64) -> Vec<Output> {
        let target_ms = self.now_ms + ms;
        let mut outputs = Vec::new();
        for _ in 0..TIMEOUTS_PER_ADVANCE_MAX {
            let deadline_ms = self
                .broker
                .poll_timeout()
                .map(|at| at.0.div_ceil(1_000_000));
            match deadline_ms {
                Some(at_ms) if at_ms <= target_ms => {
                    self.now_ms = self.now_ms.max(at_ms);
                    outputs.extend(self.input(Input::Timeout));
                }
                _ => {
                    self.now_ms = target_ms;
                    outputs.extend(self.input(Input::Timeout));
                    return outputs;
                }
            }
        }
        panic!("the broker is still asking for timeouts after {TIMEOUTS_PER_ADVANCE_MAX} of them");
    }

    /// Runs one step and returns every output it caused.
    pub fn step(&mut self, step: &Step) -> Vec<Output> {
        let mut outputs = Vec::new();
        for part in step.parts() {
            match part {
                Step::Advance(ms) => outputs.extend(self.advance(ms)),
                single => {
                    let input = single.input().expect("a single step other than Advance");
                    outputs.extend(self.input(input));
                }
            }
        }
        outputs
    }
}
