//! A small harness for the rule tests: drives one `Broker` with a virtual
//! clock and collects what each step outputs.

#![allow(dead_code)]

pub mod groups;
pub mod streams;

use brokerlab_core::record::Record;
use brokerlab_core::SharedMessage;
use brokerlab_core::{
    Broker, ChannelId, CloseScope, Command, Config, ConnectionId, Event, FieldTable, FieldValue,
    Input, Instant, Message, Output, Properties, Reply, ReplyCode,
};
use brokerlab_core::{StreamCommand, StreamReply};
use bytes::Bytes;
use std::sync::Arc;

/// The outputs and the events of one step.
#[derive(Debug, Default)]
pub struct Step {
    pub outputs: Vec<Output>,
    pub events: Vec<Event>,
}

/// A delivery as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub conn: u64,
    pub channel: u16,
    pub consumer_tag: Option<String>,
    pub tag: u64,
    pub redelivered: bool,
    pub message: SharedMessage,
}

impl Delivered {
    pub fn body(&self) -> &[u8] {
        &self.message.body
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.message.body).into_owned()
    }
}

impl Step {
    /// Replies sent to one channel, in order.
    pub fn replies(&self, conn: u64, channel: u16) -> Vec<Reply> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Reply {
                    conn: c,
                    channel: ch,
                    reply,
                } if c.0 == conn && ch.0 == channel => Some(reply.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every reply, with its destination.
    pub fn all_replies(&self) -> Vec<(u64, u16, Reply)> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Reply {
                    conn,
                    channel,
                    reply,
                } => Some((conn.0, channel.0, reply.clone())),
                Output::Persist(_)
                | Output::Pause { .. }
                | Output::Stream { .. }
                | Output::PubSub { .. }
                | Output::Sqs { .. }
                | Output::PubSubPublished { .. } => None,
            })
            .collect()
    }

    /// Every `Output::Stream`: the connection, the request and the reply, in order.
    pub fn stream_replies(&self) -> Vec<(u64, u64, StreamReply)> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Stream {
                    conn,
                    request,
                    reply,
                } => Some((conn.0, *request, StreamReply::clone(reply))),
                _ => None,
            })
            .collect()
    }

    /// The one stream reply of this step.
    pub fn stream_reply(&self) -> StreamReply {
        let replies = self.stream_replies();
        assert_eq!(replies.len(), 1, "one stream reply, got {replies:?}");
        replies[0].2.clone()
    }

    /// The changes logged in this step.
    pub fn changes(&self) -> Vec<brokerlab_core::record::Change> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Persist(record) => Some(record.change.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every `Output::Pause`: the connection and whether to stop reading it.
    pub fn pauses(&self) -> Vec<(u64, bool)> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Pause { conn, paused } => Some((conn.0, *paused)),
                _ => None,
            })
            .collect()
    }

    /// Every event, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.clone()
    }

    /// Appends a later step's outputs and events.
    pub fn extend(&mut self, later: Step) {
        self.outputs.extend(later.outputs);
        self.events.extend(later.events);
    }

    /// Every basic.deliver and basic.get-ok, in order.
    pub fn deliveries(&self) -> Vec<Delivered> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Reply {
                    conn,
                    channel,
                    reply:
                        Reply::Deliver {
                            consumer_tag,
                            delivery_tag,
                            redelivered,
                            message,
                        },
                } => Some(Delivered {
                    conn: conn.0,
                    channel: channel.0,
                    consumer_tag: Some(consumer_tag.to_string()),
                    tag: *delivery_tag,
                    redelivered: *redelivered,
                    message: message.clone(),
                }),
                Output::Reply {
                    conn,
                    channel,
                    reply:
                        Reply::GetOk {
                            delivery_tag,
                            redelivered,
                            message,
                            ..
                        },
                } => Some(Delivered {
                    conn: conn.0,
                    channel: channel.0,
                    consumer_tag: None,
                    tag: *delivery_tag,
                    redelivered: *redelivered,
                    message: message.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Bodies of the deliveries, as text.
    pub fn bodies(&self) -> Vec<String> {
        self.deliveries().iter().map(Delivered::body_str).collect()
    }

    /// The error close in this step, if any: (scope, code).
    pub fn close(&self) -> Option<(CloseScope, ReplyCode, String)> {
        self.outputs.iter().find_map(|output| match output {
            Output::Reply {
                reply: Reply::Close {
                    scope, code, text, ..
                },
                ..
            } => Some((*scope, *code, text.clone())),
            _ => None,
        })
    }

    /// Asserts the step closed the channel with `code`.
    #[track_caller]
    pub fn assert_channel_error(&self, code: ReplyCode) {
        match self.close() {
            Some((CloseScope::Channel, actual, _)) => {
                assert_eq!(actual, code, "{:#?}", self.outputs)
            }
            other => panic!(
                "expected channel close {code}, got {other:?}: {:#?}",
                self.outputs
            ),
        }
    }

    /// Asserts the step closed the connection with `code`.
    #[track_caller]
    pub fn assert_connection_error(&self, code: ReplyCode) {
        match self.close() {
            Some((CloseScope::Connection, actual, _)) => {
                assert_eq!(actual, code, "{:#?}", self.outputs)
            }
            other => panic!(
                "expected connection close {code}, got {other:?}: {:#?}",
                self.outputs
            ),
        }
    }

    /// Asserts no error close happened.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.close(), None, "{:#?}", self.outputs);
    }

    /// Publisher confirms sent: (seq, ack).
    pub fn confirms(&self) -> Vec<(u64, bool)> {
        self.outputs
            .iter()
            .filter_map(|output| match output {
                Output::Reply {
                    reply: Reply::ConfirmAck { delivery_tag, .. },
                    ..
                } => Some((*delivery_tag, true)),
                Output::Reply {
                    reply: Reply::ConfirmNack { delivery_tag, .. },
                    ..
                } => Some((*delivery_tag, false)),
                _ => None,
            })
            .collect()
    }

    /// The queue name in a declare-ok, with its counts.
    pub fn declare_ok(&self) -> Option<(String, u32, u32)> {
        self.outputs.iter().find_map(|output| match output {
            Output::Reply {
                reply:
                    Reply::QueueDeclareOk {
                        queue,
                        message_count,
                        consumer_count,
                    },
                ..
            } => Some((queue.to_string(), *message_count, *consumer_count)),
            _ => None,
        })
    }
}

/// The broker under test, with a virtual clock in milliseconds.
pub struct Harness {
    pub broker: Broker,
    pub now_ms: u64,
    /// Every record the broker asked to persist, in order.
    pub log: Vec<brokerlab_core::record::Record>,
}

impl Default for Harness {
    /// The default broker, with events on: tests read them.
    fn default() -> Self {
        Harness::new(Config {
            events: true,
            ..Config::default()
        })
    }
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        Harness {
            broker: Broker::new(config),
            now_ms: 1_000,
            log: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant(self.now_ms * 1_000_000)
    }

    /// Feeds one input and drains the outputs.
    pub fn input(&mut self, input: Input) -> Step {
        self.broker.handle(self.now(), input);
        let mut step = Step::default();
        while let Some(output) = self.broker.poll_output() {
            if let Output::Persist(record) = &output {
                self.log.push(Record::clone(record));
            }
            step.outputs.push(output);
        }
        while let Some(event) = self.broker.poll_event() {
            step.events.push(event);
        }
        // A mutant breaks the core on purpose: its tests check what a
        // client sees, not the inner state.
        if !self.runs_a_mutant() {
            self.broker.check_invariants();
        }
        step
    }

    #[cfg(feature = "mutants")]
    fn runs_a_mutant(&self) -> bool {
        self.broker.config().mutant.is_some()
    }

    #[cfg(not(feature = "mutants"))]
    fn runs_a_mutant(&self) -> bool {
        false
    }

    /// Sends stream command `command` as request `request` of connection `conn`.
    pub fn stream(&mut self, conn: u64, request: u64, command: StreamCommand) -> Step {
        self.input(Input::Stream {
            conn: ConnectionId(conn),
            request,
            command: Box::new(command),
        })
    }

    /// The store makes every record so far durable.
    pub fn sync(&mut self) -> Step {
        let upto = self.log.last().map_or(0, |record| record.lsn);
        self.input(Input::Synced { upto })
    }

    /// The broker crashes; a new one recovers from the first `records` records of the log.
    pub fn crash_and_recover(&mut self, records: usize) {
        let config = self.broker.config().clone();
        self.log.truncate(records);
        self.broker = Broker::recover(config, self.log.clone());
    }

    /// Opens connection `conn` on vhost "/" and channel 1 on it.
    pub fn connect(&mut self, conn: u64) -> Step {
        let step = self.input(Input::Connect {
            conn: ConnectionId(conn),
            user: "guest".into(),
            vhost: "/".into(),
            channel_max: u16::MAX,
        });
        self.open(conn, 1);
        step
    }

    pub fn open(&mut self, conn: u64, channel: u16) -> Step {
        self.send(conn, channel, Command::ChannelOpen)
    }

    pub fn disconnect(&mut self, conn: u64) -> Step {
        self.input(Input::Disconnect {
            conn: ConnectionId(conn),
        })
    }

    pub fn send(&mut self, conn: u64, channel: u16, command: Command) -> Step {
        self.input(Input::Command {
            conn: ConnectionId(conn),
            channel: ChannelId(channel),
            command,
        })
    }

    /// Advances the clock by `ms` and fires what is due.
    pub fn advance(&mut self, ms: u64) -> Step {
        self.now_ms += ms;
        self.input(Input::Timeout)
    }

    /// Runs timers until none is left before `ms` from now, jumping to each deadline.
    pub fn run_for(&mut self, ms: u64) -> Step {
        let end = self.now_ms + ms;
        let mut all = Step::default();
        for _ in 0..10_000 {
            let next = self
                .broker
                .poll_timeout()
                .map(|at| at.0.div_ceil(1_000_000));
            match next {
                Some(at) if at <= end => {
                    self.now_ms = self.now_ms.max(at);
                    all.extend(self.input(Input::Timeout));
                }
                _ => break,
            }
        }
        self.now_ms = end;
        all.extend(self.input(Input::Timeout));
        all
    }

    pub fn declare(&mut self, conn: u64, channel: u16, queue: &str, arguments: FieldTable) -> Step {
        self.send(conn, channel, declare(queue, arguments))
    }

    pub fn declare_exchange(
        &mut self,
        conn: u64,
        channel: u16,
        exchange: &str,
        kind: &str,
    ) -> Step {
        self.send(conn, channel, exchange_declare(exchange, kind))
    }

    pub fn bind(
        &mut self,
        conn: u64,
        channel: u16,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Step {
        self.send(conn, channel, bind(queue, exchange, key, FieldTable::new()))
    }

    pub fn publish(
        &mut self,
        conn: u64,
        channel: u16,
        exchange: &str,
        key: &str,
        body: &str,
    ) -> Step {
        self.send(
            conn,
            channel,
            publish(exchange, key, body, Properties::default()),
        )
    }

    pub fn publish_with(
        &mut self,
        conn: u64,
        channel: u16,
        exchange: &str,
        key: &str,
        body: &str,
        properties: Properties,
    ) -> Step {
        self.send(conn, channel, publish(exchange, key, body, properties))
    }

    pub fn consume(
        &mut self,
        conn: u64,
        channel: u16,
        queue: &str,
        tag: &str,
        no_ack: bool,
    ) -> Step {
        self.send(conn, channel, consume(queue, tag, no_ack))
    }

    pub fn qos(&mut self, conn: u64, channel: u16, prefetch_count: u16, global: bool) -> Step {
        self.send(
            conn,
            channel,
            Command::BasicQos {
                prefetch_size: 0,
                prefetch_count,
                global,
            },
        )
    }

    pub fn ack(&mut self, conn: u64, channel: u16, delivery_tag: u64, multiple: bool) -> Step {
        self.send(
            conn,
            channel,
            Command::BasicAck {
                delivery_tag,
                multiple,
            },
        )
    }

    pub fn nack(
        &mut self,
        conn: u64,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Step {
        self.send(
            conn,
            channel,
            Command::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            },
        )
    }

    pub fn reject(&mut self, conn: u64, channel: u16, delivery_tag: u64, requeue: bool) -> Step {
        self.send(
            conn,
            channel,
            Command::BasicReject {
                delivery_tag,
                requeue,
            },
        )
    }

    pub fn get(&mut self, conn: u64, channel: u16, queue: &str, no_ack: bool) -> Step {
        self.send(
            conn,
            channel,
            Command::BasicGet {
                queue: queue.into(),
                no_ack,
            },
        )
    }

    /// Bodies of every ready message, by draining the queue with no-ack gets
    /// on a fresh channel of a fresh connection (number 999).
    pub fn drain(&mut self, queue: &str) -> Vec<String> {
        if !self.broker_has_connection(999) {
            self.connect(999);
        }
        let mut bodies = Vec::new();
        for _ in 0..10_000 {
            let step = self.get(999, 1, queue, true);
            match step.deliveries().first() {
                Some(delivery) => bodies.push(delivery.body_str()),
                None => break,
            }
        }
        bodies
    }

    fn broker_has_connection(&mut self, conn: u64) -> bool {
        // Opening channel 1 again on a live connection is a 504; probe with a
        // harmless qos instead, on a channel that only the harness uses.
        let step = self.send(
            conn,
            1,
            Command::BasicQos {
                prefetch_size: 0,
                prefetch_count: 0,
                global: false,
            },
        );
        step.outputs.iter().any(|output| {
            matches!(
                output,
                Output::Reply {
                    reply: Reply::QosOk,
                    ..
                }
            )
        })
    }

    /// The number of ready messages, by a passive declare.
    pub fn ready_count(&mut self, conn: u64, channel: u16, queue: &str) -> u32 {
        let step = self.send(conn, channel, passive_declare(queue));
        step.declare_ok()
            .map(|(_, count, _)| count)
            .unwrap_or_else(|| panic!("queue {queue} exists: {step:#?}"))
    }
}

pub fn declare(queue: &str, arguments: FieldTable) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

pub fn passive_declare(queue: &str) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive: true,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    }
}

pub fn exchange_declare(exchange: &str, kind: &str) -> Command {
    Command::ExchangeDeclare {
        exchange: exchange.into(),
        kind: kind.into(),
        passive: false,
        durable: false,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    }
}

pub fn bind(queue: &str, exchange: &str, key: &str, arguments: FieldTable) -> Command {
    Command::QueueBind {
        queue: queue.into(),
        exchange: exchange.into(),
        routing_key: key.into(),
        arguments,
    }
}

pub fn publish(exchange: &str, key: &str, body: &str, properties: Properties) -> Command {
    Command::BasicPublish {
        exchange: exchange.into(),
        routing_key: key.into(),
        mandatory: false,
        immediate: false,
        properties: Arc::new(properties).into(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

pub fn consume(queue: &str, tag: &str, no_ack: bool) -> Command {
    Command::BasicConsume {
        queue: queue.into(),
        consumer_tag: tag.into(),
        no_ack,
        exclusive: false,
        arguments: FieldTable::new(),
    }
}

/// A field table from (name, value) pairs.
pub fn table(pairs: &[(&str, FieldValue)]) -> FieldTable {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// An integer argument, as most clients send it.
pub fn int(value: i64) -> FieldValue {
    FieldValue::I64(value)
}

/// A string argument.
pub fn string(value: &str) -> FieldValue {
    FieldValue::string(value)
}

/// Properties with an expiration.
pub fn expiring(ms: &str) -> Properties {
    Properties {
        expiration: Some(ms.into()),
        ..Properties::default()
    }
}

/// Properties with a priority.
pub fn priority(priority: u8) -> Properties {
    Properties {
        priority: Some(priority),
        ..Properties::default()
    }
}

/// The x-death header of a delivered message.
pub fn x_death(message: &Message) -> Vec<FieldTable> {
    match message
        .properties()
        .headers
        .as_ref()
        .and_then(|headers| headers.get("x-death"))
    {
        Some(FieldValue::Array(entries)) => entries
            .iter()
            .map(|entry| match entry {
                FieldValue::Table(table) => table.clone(),
                other => panic!("x-death entry is a table: {other:?}"),
            })
            .collect(),
        None => Vec::new(),
        Some(other) => panic!("x-death is an array: {other:?}"),
    }
}

/// Whether the channel answers a harmless command (a passive declare of
/// `amq.direct`). A channel the broker closed, or a channel of a connection it
/// closed, discards commands and answers nothing.
pub fn channel_answers(broker: &mut Harness, conn: u64, channel: u16) -> bool {
    let probe = Command::ExchangeDeclare {
        exchange: "amq.direct".into(),
        kind: "direct".into(),
        passive: true,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    };
    let step = broker.send(conn, channel, probe);
    step.replies(conn, channel)
        .contains(&Reply::ExchangeDeclareOk)
}
