//! The steps of a generated run: a small, printable vocabulary over the
//! model's universe (two connections, channels 0 to 2, a handful of queue
//! names, routing keys and bodies), and its translation into the core's
//! `Input`s. Every field is a `&'static str` or a number, so a failing run
//! prints as a short list a person can replay by hand.

use brokerlab_core::{
    ChannelId, Command, ConnectionId, FieldTable, FieldValue, Input, Properties, PublishProperties,
};
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// One step of a run.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// `Input::Connect` on vhost "/".
    Connect(u64),
    /// `Input::Disconnect`.
    Disconnect(u64),
    /// Move the clock forward by this many milliseconds, firing every timer
    /// due on the way at its own instant.
    Advance(u64),
    /// channel.close then channel.open on one channel: how a client gets
    /// a channel back after the broker closed it.
    Reopen {
        /// Connection.
        conn: u64,
        /// Channel number.
        channel: u16,
    },
    /// Disconnect, connect, and open channels 1 and 2 again.
    Reconnect(u64),
    /// Bring back whatever the broker closed: a run resolves it into the
    /// reconnects and reopens it needs at that point (a `Batch`).
    Heal,
    /// Several single steps run as one (a resolved `Heal`; empty for a
    /// settle of an outstanding delivery when there is none).
    Batch(Vec<Step>),
    /// A command on one channel.
    Send {
        /// Connection.
        conn: u64,
        /// Channel number.
        channel: u16,
        /// The command.
        command: Cmd,
    },
}

/// A client command over the model's universe.
#[derive(Clone, PartialEq, Eq)]
pub enum Cmd {
    Open,
    Close,
    CloseOk,
    Declare {
        queue: &'static str,
        passive: bool,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        args: Args,
    },
    Bind {
        queue: &'static str,
        exchange: &'static str,
        key: &'static str,
    },
    Unbind {
        queue: &'static str,
        exchange: &'static str,
        key: &'static str,
    },
    Purge {
        queue: &'static str,
    },
    Delete {
        queue: &'static str,
        if_unused: bool,
        if_empty: bool,
    },
    Qos {
        size: u32,
        count: u16,
        global: bool,
    },
    /// With `repeat`, the properties are the channel's last publish's
    /// (`PublishProperties::Repeated`), and `expiration` and `priority` are
    /// unused.
    Publish {
        exchange: &'static str,
        key: &'static str,
        mandatory: bool,
        expiration: Option<&'static str>,
        priority: Option<u8>,
        body: &'static str,
        repeat: bool,
    },
    Consume {
        queue: &'static str,
        tag: &'static str,
        no_ack: bool,
        exclusive: bool,
    },
    Cancel {
        tag: &'static str,
    },
    Get {
        queue: &'static str,
        no_ack: bool,
    },
    Ack {
        tag: Tag,
        multiple: bool,
    },
    Nack {
        tag: Tag,
        multiple: bool,
        requeue: bool,
    },
    Reject {
        tag: Tag,
        requeue: bool,
    },
    Recover {
        requeue: bool,
    },
    ConfirmSelect,
}

/// A delivery tag as generated: a literal, or the n-th (modulo their count)
/// delivery the channel has outstanding when the step runs, so that most
/// settles name a real delivery. A run resolves it before sending.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// This tag.
    Literal(u64),
    /// An outstanding delivery, chosen when the step runs.
    Outstanding(usize),
}

impl Tag {
    pub fn literal(self) -> u64 {
        match self {
            Tag::Literal(tag) => tag,
            Tag::Outstanding(_) => panic!("a step is resolved before it is sent"),
        }
    }

    /// The literal tag: the chosen outstanding one (there must be one).
    fn resolve(self, outstanding: &[u64]) -> Tag {
        match self {
            Tag::Outstanding(index) => Tag::Literal(outstanding[index % outstanding.len()]),
            literal => literal,
        }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tag::Literal(tag) => write!(f, "{tag}"),
            Tag::Outstanding(index) => write!(f, "outstanding#{index}"),
        }
    }
}

/// One queue-argument value, as a client may send it (possibly of the wrong type).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A long integer.
    Int(i64),
    /// A long string.
    Text(&'static str),
}

impl Arg {
    fn value(self) -> FieldValue {
        match self {
            Arg::Int(value) => FieldValue::I64(value),
            Arg::Text(text) => FieldValue::string(text),
        }
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Int(value) => write!(f, "{value}"),
            Arg::Text(text) => write!(f, "{text:?}"),
        }
    }
}

/// The queue arguments of a declare; `None` leaves the argument out.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub ttl: Option<Arg>,
    pub max_length: Option<Arg>,
    pub overflow: Option<Arg>,
    pub max_priority: Option<Arg>,
    pub dead_letter_exchange: Option<Arg>,
    pub dead_letter_routing_key: Option<Arg>,
    pub delivery_limit: Option<Arg>,
    /// Adds `x-unknown`, which the broker must ignore.
    pub unknown: bool,
}

impl Args {
    fn fields(&self) -> [(&'static str, Option<Arg>); 8] {
        [
            ("x-message-ttl", self.ttl),
            ("x-max-length", self.max_length),
            ("x-overflow", self.overflow),
            ("x-max-priority", self.max_priority),
            ("x-dead-letter-exchange", self.dead_letter_exchange),
            ("x-dead-letter-routing-key", self.dead_letter_routing_key),
            ("x-delivery-limit", self.delivery_limit),
            ("x-unknown", self.unknown.then_some(Arg::Text("ignored"))),
        ]
    }

    /// The argument table sent on the wire.
    pub fn table(&self) -> FieldTable {
        self.fields()
            .into_iter()
            .filter_map(|(name, arg)| Some((name.to_owned(), arg?.value())))
            .collect()
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, arg) in self.fields() {
            if let Some(arg) = arg {
                map.entry(&name, &arg);
            }
        }
        map.finish()
    }
}

impl Step {
    /// The single steps a composite step stands for (itself when single).
    pub fn parts(&self) -> Vec<Step> {
        let send = |conn, channel, command| Step::Send {
            conn,
            channel,
            command,
        };
        match *self {
            Step::Reopen { conn, channel } => {
                vec![
                    send(conn, channel, Cmd::Close),
                    send(conn, channel, Cmd::Open),
                ]
            }
            Step::Reconnect(conn) => vec![
                Step::Disconnect(conn),
                Step::Connect(conn),
                send(conn, 1, Cmd::Open),
                send(conn, 2, Cmd::Open),
            ],
            Step::Batch(ref steps) => steps.iter().flat_map(Step::parts).collect(),
            Step::Heal => panic!("a step is resolved before it is run"),
            _ => vec![self.clone()],
        }
    }

    /// The core input for a single step that is not a clock move.
    pub fn input(&self) -> Option<Input> {
        match self {
            Step::Reopen { .. } | Step::Reconnect(_) | Step::Heal | Step::Batch(_) => None,
            Step::Connect(conn) => Some(Input::Connect {
                conn: ConnectionId(*conn),
                user: "guest".to_owned(),
                vhost: "/".to_owned(),
                channel_max: u16::MAX,
            }),
            Step::Disconnect(conn) => Some(Input::Disconnect {
                conn: ConnectionId(*conn),
            }),
            Step::Advance(_) => None,
            Step::Send {
                conn,
                channel,
                command,
            } => Some(Input::Command {
                conn: ConnectionId(*conn),
                channel: ChannelId(*channel),
                command: command.command(),
            }),
        }
    }
}

impl Cmd {
    /// The command with its delivery tag chosen among `outstanding` (the
    /// channel's unsettled tags, oldest first); `None` when it asks for an
    /// outstanding delivery and there is none.
    pub fn resolve(&self, outstanding: &[u64]) -> Option<Cmd> {
        let mut resolved = self.clone();
        if let Cmd::Ack { tag, .. } | Cmd::Nack { tag, .. } | Cmd::Reject { tag, .. } =
            &mut resolved
        {
            if matches!(tag, Tag::Outstanding(_)) && outstanding.is_empty() {
                return None;
            }
            *tag = tag.resolve(outstanding);
        }
        Some(resolved)
    }

    /// The core command.
    pub fn command(&self) -> Command {
        match *self {
            Cmd::Open => Command::ChannelOpen,
            Cmd::Close => Command::ChannelClose,
            Cmd::CloseOk => Command::ChannelCloseOk,
            Cmd::Declare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                ref args,
            } => Command::QueueDeclare {
                queue: queue.to_owned(),
                passive,
                durable,
                exclusive,
                auto_delete,
                arguments: args.table(),
            },
            Cmd::Bind {
                queue,
                exchange,
                key,
            } => Command::QueueBind {
                queue: queue.to_owned(),
                exchange: exchange.to_owned(),
                routing_key: key.to_owned(),
                arguments: FieldTable::new(),
            },
            Cmd::Unbind {
                queue,
                exchange,
                key,
            } => Command::QueueUnbind {
                queue: queue.to_owned(),
                exchange: exchange.to_owned(),
                routing_key: key.to_owned(),
                arguments: FieldTable::new(),
            },
            Cmd::Purge { queue } => Command::QueuePurge {
                queue: queue.to_owned(),
            },
            Cmd::Delete {
                queue,
                if_unused,
                if_empty,
            } => Command::QueueDelete {
                queue: queue.to_owned(),
                if_unused,
                if_empty,
            },
            _ => self.basic_command(),
        }
    }

    /// The core command for a basic.* command.
    fn basic_command(&self) -> Command {
        match *self {
            Cmd::Qos {
                size,
                count,
                global,
            } => Command::BasicQos {
                prefetch_size: size,
                prefetch_count: count,
                global,
            },
            Cmd::Publish {
                exchange,
                key,
                mandatory,
                expiration,
                priority,
                body,
                repeat,
            } => Command::BasicPublish {
                exchange: exchange.into(),
                routing_key: key.into(),
                mandatory,
                immediate: false,
                properties: match repeat {
                    true => PublishProperties::Repeated,
                    false => Arc::new(Properties {
                        expiration: expiration.map(str::to_owned),
                        priority,
                        ..Properties::default()
                    })
                    .into(),
                },
                body: Bytes::from_static(body.as_bytes()),
            },
            Cmd::Consume {
                queue,
                tag,
                no_ack,
                exclusive,
            } => Command::BasicConsume {
                queue: queue.to_owned(),
                consumer_tag: tag.to_owned(),
                no_ack,
                exclusive,
                arguments: FieldTable::new(),
            },
            Cmd::Cancel { tag } => Command::BasicCancel {
                consumer_tag: tag.to_owned(),
            },
            Cmd::Get { queue, no_ack } => Command::BasicGet {
                queue: queue.to_owned(),
                no_ack,
            },
            Cmd::Ack { tag, multiple } => Command::BasicAck {
                delivery_tag: tag.literal(),
                multiple,
            },
            Cmd::Nack {
                tag,
                multiple,
                requeue,
            } => Command::BasicNack {
                delivery_tag: tag.literal(),
                multiple,
                requeue,
            },
            Cmd::Reject { tag, requeue } => Command::BasicReject {
                delivery_tag: tag.literal(),
                requeue,
            },
            Cmd::Recover { requeue } => Command::BasicRecover { requeue },
            Cmd::ConfirmSelect => Command::ConfirmSelect,
            _ => unreachable!("dispatched by `command`"),
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Connect(conn) => write!(f, "connect c{conn}"),
            Step::Disconnect(conn) => write!(f, "disconnect c{conn}"),
            Step::Advance(ms) => write!(f, "advance {ms}ms"),
            Step::Reopen { conn, channel } => write!(f, "c{conn}/ch{channel} reopen (close, open)"),
            Step::Reconnect(conn) => {
                write!(
                    f,
                    "reconnect c{conn} (disconnect, connect, open ch1 and ch2)"
                )
            }
            Step::Heal => write!(f, "heal"),
            Step::Batch(steps) => write!(f, "batch {steps:?}"),
            Step::Send {
                conn,
                channel,
                command,
            } => write!(f, "c{conn}/ch{channel} {command:?}"),
        }
    }
}

/// Writes the flags that are set, by name.
fn flags(f: &mut fmt::Formatter<'_>, flags: &[(&str, bool)]) -> fmt::Result {
    for (name, set) in flags {
        if *set {
            write!(f, " {name}")?;
        }
    }
    Ok(())
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cmd::Open => write!(f, "channel.open"),
            Cmd::Close => write!(f, "channel.close"),
            Cmd::CloseOk => write!(f, "channel.close-ok"),
            Cmd::Declare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                args,
            } => {
                write!(f, "queue.declare {queue:?}")?;
                flags(
                    f,
                    &[
                        ("passive", *passive),
                        ("durable", *durable),
                        ("exclusive", *exclusive),
                        ("auto_delete", *auto_delete),
                    ],
                )?;
                if *args != Args::default() {
                    write!(f, " {args:?}")?;
                }
                Ok(())
            }
            Cmd::Bind {
                queue,
                exchange,
                key,
            } => write!(f, "queue.bind {queue:?} to {exchange:?} key {key:?}"),
            Cmd::Unbind {
                queue,
                exchange,
                key,
            } => write!(f, "queue.unbind {queue:?} from {exchange:?} key {key:?}"),
            Cmd::Purge { queue } => write!(f, "queue.purge {queue:?}"),
            Cmd::Delete {
                queue,
                if_unused,
                if_empty,
            } => {
                write!(f, "queue.delete {queue:?}")?;
                flags(f, &[("if_unused", *if_unused), ("if_empty", *if_empty)])
            }
            _ => self.fmt_basic(f),
        }
    }
}

impl Cmd {
    /// Writes a basic.* command.
    fn fmt_basic(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cmd::Qos {
                size,
                count,
                global,
            } => {
                write!(f, "basic.qos count={count}")?;
                if *size != 0 {
                    write!(f, " size={size}")?;
                }
                flags(f, &[("global", *global)])
            }
            Cmd::Publish {
                exchange,
                key,
                mandatory,
                expiration,
                priority,
                body,
                repeat,
            } => {
                write!(f, "basic.publish {exchange:?} key {key:?} body {body:?}")?;
                flags(
                    f,
                    &[("mandatory", *mandatory), ("repeated-properties", *repeat)],
                )?;
                if let Some(expiration) = expiration {
                    write!(f, " expiration={expiration:?}")?;
                }
                if let Some(priority) = priority {
                    write!(f, " priority={priority}")?;
                }
                Ok(())
            }
            Cmd::Consume {
                queue,
                tag,
                no_ack,
                exclusive,
            } => {
                write!(f, "basic.consume {queue:?} tag {tag:?}")?;
                flags(f, &[("no_ack", *no_ack), ("exclusive", *exclusive)])
            }
            Cmd::Cancel { tag } => write!(f, "basic.cancel {tag:?}"),
            Cmd::Get { queue, no_ack } => {
                write!(f, "basic.get {queue:?}")?;
                flags(f, &[("no_ack", *no_ack)])
            }
            Cmd::Ack { tag, multiple } => {
                write!(f, "basic.ack {tag:?}")?;
                flags(f, &[("multiple", *multiple)])
            }
            Cmd::Nack {
                tag,
                multiple,
                requeue,
            } => {
                write!(f, "basic.nack {tag:?}")?;
                flags(f, &[("multiple", *multiple), ("requeue", *requeue)])
            }
            Cmd::Reject { tag, requeue } => {
                write!(f, "basic.reject {tag:?}")?;
                flags(f, &[("requeue", *requeue)])
            }
            Cmd::Recover { requeue } => write!(f, "basic.recover requeue={requeue}"),
            Cmd::ConfirmSelect => write!(f, "confirm.select"),
            _ => unreachable!("dispatched by `fmt`"),
        }
    }
}
