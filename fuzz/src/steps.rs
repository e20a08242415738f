//! A byte string as a run of the core: a configuration, then steps, each an
//! `Input` for the broker or a move of the clock. [`decode`] reads any bytes
//! (missing bytes read as zero, so every input is a run) and [`encode`]
//! writes a run back, so that seeds can be made from real clients' recordings
//! (`examples/core_seeds.rs`).
//!
//! Layout: one configuration byte, then steps. A step is an opcode byte
//! and its operands; a connection is one byte (1 to 3), a channel one byte
//! (0 to 3: 0 and 3 are never a client's open channel), a string one byte,
//! either an index into [`WORDS`] (below 0x80) or a length (0x80 and up, low
//! seven bits) followed by that many bytes.

use brokerlab_core::{
    Access, ChannelId, Command, Config, ConnectionId, FieldTable, FieldValue, Flow, Input,
    MemoryAlarm, Name, Permissions, Properties, PublishProperties, ReplyCode,
};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

/// Names, argument keys and values the broker gives meaning to: most runs
/// need only these, and a byte picks one.
pub const WORDS: [&str; 64] = [
    "",
    "q0",
    "q1",
    "q2",
    "amq.gen-1",
    "amq.gen-2",
    "x0",
    "x1",
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "amq.match",
    "amq.q",
    "direct",
    "fanout",
    "topic",
    "headers",
    "a",
    "a.b",
    "a.*",
    "#",
    "*.b",
    "a.#.b",
    "c0",
    "c1",
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "drop-head",
    "reject-publish",
    "reject-publish-dlx",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-priority",
    "x-delivery-limit",
    "x-queue-type",
    "classic",
    "quorum",
    "x-single-active-consumer",
    "x-match",
    "all",
    "any",
    "all-with-x",
    "any-with-x",
    "alternate-exchange",
    "x-priority",
    "x-cancel-on-ha-failover",
    "CC",
    "BCC",
    "guest",
    "other",
    "/",
    "x-death",
    "count",
    "reason",
    "queue",
    "10",
    "1000",
    "-1",
    "k",
    "v",
];

/// Step opcodes, in order; an opcode byte is taken modulo their number.
const OPCODES: u8 = 32;

/// How deeply a decoded field value may nest.
const VALUE_DEPTH_MAX: usize = 4;

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An input, at the current time.
    Input(Input),
    /// The clock moves on by this many milliseconds, then `Input::Timeout`.
    Tick(u16),
    /// The clock moves to the broker's next deadline, then `Input::Timeout`.
    Deadline,
    /// `Input::Synced` up to this share (in 255ths) of the last lsn.
    Sync(u8),
}

/// A decoded run: the broker's configuration and the steps.
#[derive(Clone, Debug)]
pub struct Run {
    /// The configuration.
    pub config: Config,
    /// The steps.
    pub steps: Vec<Step>,
}

/// The configuration a byte picks: each bit turns one small limit on, so
/// that runs reach the limits' code.
fn config(byte: u8) -> Config {
    let mut config = Config {
        events: true,
        ..Config::default()
    };
    if byte & 1 != 0 {
        config.max_message_size_bytes = 64;
    }
    if byte & 2 != 0 {
        config.consumer_timeout_ms = Some(50);
    }
    if byte & 4 != 0 {
        config.channel_max = 2;
    }
    if byte & 8 != 0 {
        config.flow = Some(Flow {
            ready_high: 4,
            ready_low: 2,
            stall_ms: 20,
        });
    }
    if byte & 16 != 0 {
        config.events = false;
    }
    if byte & 32 != 0 {
        config.memory_alarm = Some(MemoryAlarm::new(512));
    }
    if byte & 64 != 0 {
        config.access = Some(access().clone());
    }
    if byte & 128 != 0 {
        config.queues_per_vhost_max = Some(3);
        config.consumers_per_channel_max = Some(2);
    }
    config
}

/// Access control for the configuration byte's bit 6: guest may configure
/// and write only names starting with "q" or "x" (and write to the default
/// exchange and `amq.*`), and read only "q1". Built once: the patterns are
/// regular expressions.
fn access() -> &'static Access {
    static ACCESS: OnceLock<Access> = OnceLock::new();
    ACCESS.get_or_init(|| {
        let permissions =
            Permissions::new("^[qx]", "^$|^[qx]|^amq\\.", "^q1$").expect("valid patterns");
        let mut access = Access::default();
        access.grant("guest", "/", permissions);
        access
    })
}

/// Reads operands; past the end every byte is zero.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for byte in &mut out {
            *byte = self.byte();
        }
        out
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 != 0
    }

    fn raw(&mut self) -> Vec<u8> {
        let byte = self.byte();
        if byte < 0x80 {
            return WORDS[usize::from(byte) % WORDS.len()].as_bytes().to_vec();
        }
        (0..byte & 0x7f).map(|_| self.byte()).collect()
    }

    fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.raw()).into_owned()
    }

    fn conn(&mut self) -> ConnectionId {
        ConnectionId(u64::from(self.byte() % 3) + 1)
    }

    fn channel(&mut self) -> ChannelId {
        ChannelId(u16::from(self.byte() % 4))
    }

    fn table(&mut self, depth: usize) -> FieldTable {
        let count = self.byte() % 5;
        (0..count)
            .map(|_| (self.string(), self.value(depth)))
            .collect()
    }

    fn value(&mut self, depth: usize) -> FieldValue {
        match self.byte() % 17 {
            0 => FieldValue::Bool(self.flag()),
            1 => FieldValue::I8(i8::from_be_bytes(self.bytes())),
            2 => FieldValue::U8(self.byte()),
            3 => FieldValue::I16(i16::from_be_bytes(self.bytes())),
            4 => FieldValue::U16(u16::from_be_bytes(self.bytes())),
            5 => FieldValue::I32(i32::from_be_bytes(self.bytes())),
            6 => FieldValue::U32(u32::from_be_bytes(self.bytes())),
            7 => FieldValue::I64(i64::from_be_bytes(self.bytes())),
            8 => FieldValue::F32(u32::from_be_bytes(self.bytes())),
            9 => FieldValue::F64(u64::from_be_bytes(self.bytes())),
            10 => FieldValue::Decimal {
                scale: self.byte(),
                value: u32::from_be_bytes(self.bytes()),
            },
            11 => FieldValue::LongString(Bytes::from(self.raw())),
            12 if depth < VALUE_DEPTH_MAX => {
                let count = self.byte() % 4;
                FieldValue::Array((0..count).map(|_| self.value(depth + 1)).collect())
            }
            13 => FieldValue::Timestamp(u64::from_be_bytes(self.bytes())),
            14 if depth < VALUE_DEPTH_MAX => FieldValue::Table(self.table(depth + 1)),
            15 => FieldValue::ByteArray(Bytes::from(self.raw())),
            _ => FieldValue::Void,
        }
    }

    fn optional_string(&mut self, present: bool) -> Option<String> {
        present.then(|| self.string())
    }

    fn properties(&mut self) -> PublishProperties {
        let [high, low] = self.bytes();
        let flags = u16::from_be_bytes([high, low]);
        if flags == u16::MAX {
            return PublishProperties::Repeated;
        }
        let has = |bit: u16| flags & (1 << bit) != 0;
        let properties = Properties {
            content_type: self.optional_string(has(0)),
            content_encoding: self.optional_string(has(1)),
            headers: has(2).then(|| std::sync::Arc::new(self.table(0))),
            delivery_mode: has(3).then(|| self.byte()),
            priority: has(4).then(|| self.byte()),
            correlation_id: self.optional_string(has(5)),
            reply_to: self.optional_string(has(6)),
            expiration: self.optional_string(has(7)),
            message_id: self.optional_string(has(8)),
            timestamp: has(9).then(|| u64::from_be_bytes(self.bytes())),
            kind: self.optional_string(has(10)),
            user_id: self.optional_string(has(11)),
            app_id: self.optional_string(has(12)),
            cluster_id: self.optional_string(has(13)),
        };
        PublishProperties::Given(Arc::new(properties))
    }

    /// A command; `opcode` is one of the command opcodes (2 to 26).
    fn command(&mut self, opcode: u8) -> Command {
        match opcode {
            2 => Command::ChannelOpen,
            3 => Command::ChannelClose,
            4 => Command::ChannelCloseOk,
            5 => {
                let flags = self.byte();
                Command::ExchangeDeclare {
                    exchange: self.string(),
                    kind: self.string(),
                    passive: flags & 1 != 0,
                    durable: flags & 2 != 0,
                    auto_delete: flags & 4 != 0,
                    internal: flags & 8 != 0,
                    arguments: self.table(0),
                }
            }
            6 => Command::ExchangeDelete {
                if_unused: self.flag(),
                exchange: self.string(),
            },
            7 | 8 => {
                let (destination, source, routing_key) =
                    (self.string(), self.string(), self.string());
                let arguments = self.table(0);
                if opcode == 7 {
                    Command::ExchangeBind {
                        destination,
                        source,
                        routing_key,
                        arguments,
                    }
                } else {
                    Command::ExchangeUnbind {
                        destination,
                        source,
                        routing_key,
                        arguments,
                    }
                }
            }
            9 => {
                let flags = self.byte();
                Command::QueueDeclare {
                    queue: self.string(),
                    passive: flags & 1 != 0,
                    durable: flags & 2 != 0,
                    exclusive: flags & 4 != 0,
                    auto_delete: flags & 8 != 0,
                    arguments: self.table(0),
                }
            }
            10 | 11 => {
                let (queue, exchange, routing_key) = (self.string(), self.string(), self.string());
                let arguments = self.table(0);
                if opcode == 10 {
                    Command::QueueBind {
                        queue,
                        exchange,
                        routing_key,
                        arguments,
                    }
                } else {
                    Command::QueueUnbind {
                        queue,
                        exchange,
                        routing_key,
                        arguments,
                    }
                }
            }
            12 => Command::QueuePurge {
                queue: self.string(),
            },
            13 => {
                let flags = self.byte();
                Command::QueueDelete {
                    queue: self.string(),
                    if_unused: flags & 1 != 0,
                    if_empty: flags & 2 != 0,
                }
            }
            14 => {
                let flags = self.byte();
                Command::BasicQos {
                    // Mostly 0, the one size RabbitMQ accepts.
                    prefetch_size: u32::from(flags & 0x80 != 0),
                    prefetch_count: u16::from(self.byte() % 8),
                    global: flags & 1 != 0,
                }
            }
            15 => {
                let flags = self.byte();
                let exchange = Name::from(self.string().as_str());
                let routing_key = Name::from(self.string().as_str());
                let properties = self.properties();
                let body = Bytes::from(vec![b'm'; usize::from(self.byte())]);
                Command::BasicPublish {
                    exchange,
                    routing_key,
                    mandatory: flags & 1 != 0,
                    immediate: flags & 2 != 0,
                    properties,
                    body,
                }
            }
            16 => {
                let flags = self.byte();
                Command::BasicConsume {
                    queue: self.string(),
                    consumer_tag: self.string(),
                    no_ack: flags & 1 != 0,
                    exclusive: flags & 2 != 0,
                    arguments: self.table(0),
                }
            }
            17 => Command::BasicCancel {
                consumer_tag: self.string(),
            },
            18 => Command::BasicGet {
                no_ack: self.flag(),
                queue: self.string(),
            },
            19 => Command::BasicAck {
                multiple: self.flag(),
                delivery_tag: u64::from(self.byte()),
            },
            20 => {
                let flags = self.byte();
                Command::BasicNack {
                    multiple: flags & 1 != 0,
                    requeue: flags & 2 != 0,
                    delivery_tag: u64::from(self.byte()),
                }
            }
            21 => Command::BasicReject {
                requeue: self.flag(),
                delivery_tag: u64::from(self.byte()),
            },
            22 => Command::BasicRecover {
                requeue: self.byte() & 1 == 0,
            },
            23 => Command::ConfirmSelect,
            24 => Command::TxSelect,
            25 => Command::TxCommit,
            _ => Command::TxRollback,
        }
    }

    fn step(&mut self) -> Step {
        match self.byte() % OPCODES {
            0 => Step::Input(Input::Connect {
                conn: self.conn(),
                user: "guest".to_owned(),
                // Mostly "/", the one vhost; sometimes one that does not exist.
                vhost: if self.byte() == 0xff { "nope" } else { "/" }.to_owned(),
                channel_max: u16::MAX,
            }),
            1 => Step::Input(Input::Disconnect { conn: self.conn() }),
            27 => Step::Tick(u16::from_be_bytes(self.bytes())),
            28 => Step::Deadline,
            29 => Step::Sync(self.byte()),
            31 => Step::Input(Input::DriverHeld {
                bytes: u64::from(u16::from_be_bytes(self.bytes())),
            }),
            30 => {
                let (conn, channel) = (self.conn(), self.channel());
                let opcode = 2 + self.byte() % 25;
                let command = self.command(opcode);
                Step::Input(Input::Refused {
                    conn,
                    channel,
                    command,
                    code: ReplyCode::AccessRefused,
                    text: "ACCESS_REFUSED - refused by the fuzzer".to_owned(),
                })
            }
            opcode => {
                let (conn, channel) = (self.conn(), self.channel());
                Step::Input(Input::Command {
                    conn,
                    channel,
                    command: self.command(opcode),
                })
            }
        }
    }
}

/// The run a byte string stands for.
#[must_use]
pub fn decode(data: &[u8]) -> Run {
    let mut reader = Reader(data);
    let config = config(reader.byte());
    let mut steps = Vec::new();
    while !reader.0.is_empty() {
        steps.push(reader.step());
    }
    Run { config, steps }
}

/// Writes operands as [`Reader`] reads them.
struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn flags(&mut self, flags: &[bool]) {
        let byte = flags
            .iter()
            .enumerate()
            .fold(0u8, |byte, (bit, set)| byte | (u8::from(*set) << bit));
        self.byte(byte);
    }

    fn raw(&mut self, raw: &[u8]) {
        if let Some(index) = WORDS.iter().position(|word| word.as_bytes() == raw) {
            self.byte(u8::try_from(index).expect("64 words"));
            return;
        }
        let raw = &raw[..raw.len().min(0x7f)];
        self.byte(0x80 | u8::try_from(raw.len()).expect("at most 0x7f"));
        self.0.extend_from_slice(raw);
    }

    fn string(&mut self, text: &str) {
        self.raw(text.as_bytes());
    }

    fn conn(&mut self, conn: ConnectionId) {
        self.byte(u8::try_from((conn.0 + 2) % 3).expect("below 3"));
    }

    fn channel(&mut self, channel: ChannelId) {
        self.byte(u8::try_from(channel.0 % 4).expect("below 4"));
    }

    fn table(&mut self, table: &FieldTable, depth: usize) {
        let entries: Vec<_> = table.iter().take(4).collect();
        self.byte(u8::try_from(entries.len()).expect("at most 4"));
        for (key, value) in entries {
            self.string(key);
            self.value(value, depth);
        }
    }

    fn value(&mut self, value: &FieldValue, depth: usize) {
        match value {
            FieldValue::Bool(v) => {
                self.byte(0);
                self.byte(u8::from(*v));
            }
            FieldValue::I8(v) => self.tagged(1, &v.to_be_bytes()),
            FieldValue::U8(v) => self.tagged(2, &[*v]),
            FieldValue::I16(v) => self.tagged(3, &v.to_be_bytes()),
            FieldValue::U16(v) => self.tagged(4, &v.to_be_bytes()),
            FieldValue::I32(v) => self.tagged(5, &v.to_be_bytes()),
            FieldValue::U32(v) => self.tagged(6, &v.to_be_bytes()),
            FieldValue::I64(v) => self.tagged(7, &v.to_be_bytes()),
            FieldValue::F32(v) => self.tagged(8, &v.to_be_bytes()),
            FieldValue::F64(v) => self.tagged(9, &v.to_be_bytes()),
            FieldValue::Decimal { scale, value } => {
                self.tagged(10, &[*scale]);
                self.0.extend_from_slice(&value.to_be_bytes());
            }
            FieldValue::LongString(v) => {
                self.byte(11);
                self.raw(v);
            }
            FieldValue::Array(values) if depth < VALUE_DEPTH_MAX => {
                let values: Vec<_> = values.iter().take(3).collect();
                self.tagged(12, &[u8::try_from(values.len()).expect("at most 3")]);
                for value in values {
                    self.value(value, depth + 1);
                }
            }
            FieldValue::Timestamp(v) => self.tagged(13, &v.to_be_bytes()),
            FieldValue::Table(table) if depth < VALUE_DEPTH_MAX => {
                self.byte(14);
                self.table(table, depth + 1);
            }
            FieldValue::ByteArray(v) => {
                self.byte(15);
                self.raw(v);
            }
            _ => self.byte(16),
        }
    }

    fn tagged(&mut self, tag: u8, bytes: &[u8]) {
        self.byte(tag);
        self.0.extend_from_slice(bytes);
    }

    fn optional_string(&mut self, text: &Option<String>) {
        if let Some(text) = text {
            self.string(text);
        }
    }

    fn properties(&mut self, properties: &PublishProperties) {
        let PublishProperties::Given(p) = properties else {
            self.0.extend_from_slice(&u16::MAX.to_be_bytes());
            return;
        };
        let present = [
            p.content_type.is_some(),
            p.content_encoding.is_some(),
            p.headers.is_some(),
            p.delivery_mode.is_some(),
            p.priority.is_some(),
            p.correlation_id.is_some(),
            p.reply_to.is_some(),
            p.expiration.is_some(),
            p.message_id.is_some(),
            p.timestamp.is_some(),
            p.kind.is_some(),
            p.user_id.is_some(),
            p.app_id.is_some(),
            p.cluster_id.is_some(),
        ];
        let flags = present
            .iter()
            .enumerate()
            .fold(0u16, |flags, (bit, set)| flags | (u16::from(*set) << bit));
        self.0.extend_from_slice(&flags.to_be_bytes());
        self.optional_string(&p.content_type);
        self.optional_string(&p.content_encoding);
        if let Some(headers) = &p.headers {
            self.table(headers, 0);
        }
        if let Some(mode) = p.delivery_mode {
            self.byte(mode);
        }
        if let Some(priority) = p.priority {
            self.byte(priority);
        }
        self.optional_string(&p.correlation_id);
        self.optional_string(&p.reply_to);
        self.optional_string(&p.expiration);
        self.optional_string(&p.message_id);
        if let Some(timestamp) = p.timestamp {
            self.0.extend_from_slice(&timestamp.to_be_bytes());
        }
        self.optional_string(&p.kind);
        self.optional_string(&p.user_id);
        self.optional_string(&p.app_id);
        self.optional_string(&p.cluster_id);
    }

    /// A command's opcode (2 to 26) and operands.
    fn command(&mut self, command: &Command) -> (u8, Vec<u8>) {
        let mut w = Writer(Vec::new());
        let opcode = match command {
            Command::ChannelOpen => 2,
            Command::ChannelClose => 3,
            Command::ChannelCloseOk => 4,
            Command::ExchangeDeclare {
                exchange,
                kind,
                passive,
                durable,
                auto_delete,
                internal,
                arguments,
            } => {
                w.flags(&[*passive, *durable, *auto_delete, *internal]);
                w.string(exchange);
                w.string(kind);
                w.table(arguments, 0);
                5
            }
            Command::ExchangeDelete {
                exchange,
                if_unused,
            } => {
                w.flags(&[*if_unused]);
                w.string(exchange);
                6
            }
            Command::ExchangeBind {
                destination,
                source,
                routing_key,
                arguments,
            }
            | Command::ExchangeUnbind {
                destination,
                source,
                routing_key,
                arguments,
            } => {
                w.string(destination);
                w.string(source);
                w.string(routing_key);
                w.table(arguments, 0);
                if matches!(command, Command::ExchangeBind { .. }) {
                    7
                } else {
                    8
                }
            }
            Command::QueueDeclare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                arguments,
            } => {
                w.flags(&[*passive, *durable, *exclusive, *auto_delete]);
                w.string(queue);
                w.table(arguments, 0);
                9
            }
            Command::QueueBind {
                queue,
                exchange,
                routing_key,
                arguments,
            }
            | Command::QueueUnbind {
                queue,
                exchange,
                routing_key,
                arguments,
            } => {
                w.string(queue);
                w.string(exchange);
                w.string(routing_key);
                w.table(arguments, 0);
                if matches!(command, Command::QueueBind { .. }) {
                    10
                } else {
                    11
                }
            }
            Command::QueuePurge { queue } => {
                w.string(queue);
                12
            }
            Command::QueueDelete {
                queue,
                if_unused,
                if_empty,
            } => {
                w.flags(&[*if_unused, *if_empty]);
                w.string(queue);
                13
            }
            Command::BasicQos {
                prefetch_size,
                prefetch_count,
                global,
            } => {
                w.byte(u8::from(*global) | if *prefetch_size != 0 { 0x80 } else { 0 });
                w.byte(u8::try_from((*prefetch_count).min(7)).expect("below 8"));
                14
            }
            Command::BasicPublish {
                exchange,
                routing_key,
                mandatory,
                immediate,
                properties,
                body,
            } => {
                w.flags(&[*mandatory, *immediate]);
                w.string(exchange);
                w.string(routing_key);
                w.properties(properties);
                w.byte(u8::try_from(body.len().min(255)).expect("at most 255"));
                15
            }
            Command::BasicConsume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
                arguments,
            } => {
                w.flags(&[*no_ack, *exclusive]);
                w.string(queue);
                w.string(consumer_tag);
                w.table(arguments, 0);
                16
            }
            Command::BasicCancel { consumer_tag } => {
                w.string(consumer_tag);
                17
            }
            Command::BasicGet { queue, no_ack } => {
                w.flags(&[*no_ack]);
                w.string(queue);
                18
            }
            Command::BasicAck {
                delivery_tag,
                multiple,
            } => {
                w.flags(&[*multiple]);
                w.byte(u8::try_from((*delivery_tag).min(255)).expect("at most 255"));
                19
            }
            Command::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            } => {
                w.flags(&[*multiple, *requeue]);
                w.byte(u8::try_from((*delivery_tag).min(255)).expect("at most 255"));
                20
            }
            Command::BasicReject {
                delivery_tag,
                requeue,
            } => {
                w.flags(&[*requeue]);
                w.byte(u8::try_from((*delivery_tag).min(255)).expect("at most 255"));
                21
            }
            Command::BasicRecover { requeue } => {
                w.flags(&[!*requeue]);
                22
            }
            Command::ConfirmSelect => 23,
            Command::TxSelect => 24,
            Command::TxCommit => 25,
            Command::TxRollback => 26,
        };
        (opcode, w.0)
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Input(Input::Connect { conn, vhost, .. }) => {
                self.byte(0);
                self.conn(*conn);
                self.byte(if vhost == "/" { 0 } else { 0xff });
            }
            Step::Input(Input::Disconnect { conn }) => {
                self.byte(1);
                self.conn(*conn);
            }
            Step::Input(Input::Command {
                conn,
                channel,
                command,
            }) => {
                let (opcode, operands) = self.command(command);
                self.byte(opcode);
                self.conn(*conn);
                self.channel(*channel);
                self.0.extend_from_slice(&operands);
            }
            Step::Input(Input::Refused {
                conn,
                channel,
                command,
                ..
            }) => {
                let (opcode, operands) = self.command(command);
                self.byte(30);
                self.conn(*conn);
                self.channel(*channel);
                self.byte(opcode - 2);
                self.0.extend_from_slice(&operands);
            }
            Step::Input(Input::Timeout) => self.step(&Step::Tick(0)),
            Step::Input(Input::Synced { .. }) => self.step(&Step::Sync(255)),
            Step::Input(Input::Stream { .. }) => {
                unreachable!("steps decoded from bytes carry no stream command")
            }
            Step::Input(Input::PubSub { .. }) => {
                unreachable!("steps decoded from bytes carry no Pub/Sub command")
            }
            Step::Input(Input::Sqs { .. }) => {
                unreachable!("steps decoded from bytes carry no SQS action")
            }
            Step::Input(Input::DriverHeld { bytes }) => {
                self.byte(31);
                let bytes = u16::try_from(*bytes).unwrap_or(u16::MAX);
                self.0.extend_from_slice(&bytes.to_be_bytes());
            }
            Step::Tick(ms) => {
                self.byte(27);
                self.0.extend_from_slice(&ms.to_be_bytes());
            }
            Step::Deadline => self.byte(28),
            Step::Sync(share) => {
                self.byte(29);
                self.byte(*share);
            }
        }
    }
}

/// The bytes [`decode`] reads as this run; `config_byte` as in [`decode`].
#[must_use]
pub fn encode(config_byte: u8, steps: &[Step]) -> Vec<u8> {
    let mut writer = Writer(vec![config_byte]);
    for step in steps {
        writer.step(step);
    }
    writer.0
}
