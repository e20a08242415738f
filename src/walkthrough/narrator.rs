//! The narrator that every walkthrough drives the core through: it plays
//! the driver's part (it syncs the log at once and fires timers as time
//! passes), prints one line for each output under the step that caused it, and
//! fails the walkthrough when the core refuses a step that must succeed.

use brokerlab_core::record::Record;
use brokerlab_core::Name;
use brokerlab_core::SharedMessage;
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, Event, FieldTable, FieldValue, Input,
    Instant, Message, Output, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::io::{self, Write};

/// The most timers one `wait` may fire: a walkthrough arms a handful.
const TIMEOUTS_PER_WAIT_MAX: usize = 1_000;

/// The most log syncs one step may need: a sync releases confirms but logs nothing new.
const SYNCS_PER_STEP_MAX: usize = 16;

/// Drives a `Broker` as a driver would (it syncs the log at once, unless
/// told to sync in batches) and narrates every output.
pub(super) struct Narrator<'out, W: Write> {
    broker: Broker,
    /// The broker's configuration, to recover it after a crash.
    config: Config,
    /// Every record the core asked to be logged, in order: the driver's log.
    log: Vec<Record>,
    /// The last record synced: what a crash keeps.
    synced_upto: u64,
    now: Instant,
    pub(super) out: &'out mut W,
    /// The events told so far and not yet taken, for walkthroughs that count them.
    events: Vec<Event>,
    /// Records are synced only when the walkthrough says so (`sync`), as a
    /// driver that syncs its log in batches does.
    batched_syncs: bool,
    /// The last record logged and not yet synced, under batched syncs.
    unsynced_upto: Option<u64>,
    /// The connections the core asked the driver to stop reading (`Output::Pause`).
    paused: BTreeSet<u64>,
}

impl<'out, W: Write> Narrator<'out, W> {
    pub(super) fn new(out: &'out mut W) -> Self {
        Self::with_config(out, Config::default())
    }

    /// A narrator whose broker runs with `config` (with its events on).
    pub(super) fn with_config(out: &'out mut W, config: Config) -> Self {
        let config = Config {
            events: true,
            ..config
        };
        Narrator {
            broker: Broker::new(config.clone()),
            config,
            log: Vec::new(),
            synced_upto: 0,
            now: Instant(0),
            out,
            events: Vec::new(),
            batched_syncs: false,
            unsynced_upto: None,
            paused: BTreeSet::new(),
        }
    }

    /// From now on the log is synced only by `sync`, as a driver that syncs in batches does.
    pub(super) fn batch_syncs(&mut self) {
        self.batched_syncs = true;
    }

    /// The broker, for what a driver may read of it (its counters and queues).
    pub(super) fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The narrated time.
    pub(super) fn now(&self) -> Instant {
        self.now
    }

    /// The events told since the last call, in order.
    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn input(&mut self, what: &str, input: Input) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
        let conn = match &input {
            Input::Command { conn, .. } | Input::Refused { conn, .. } => Some(conn.0),
            _ => None,
        };
        if let Some(conn) = conn.filter(|conn| self.paused.contains(conn)) {
            return Err(io::Error::other(format!(
                "'{what}': the driver does not read conn {conn} while it is paused"
            )));
        }
        self.broker.handle(self.now, input);
        self.drain()
    }

    /// Records logged and not yet synced, under batched syncs.
    pub(super) fn has_unsynced(&self) -> bool {
        self.unsynced_upto.is_some()
    }

    /// The driver syncs the log up to the last record written: under
    /// batched syncs, this is what releases publisher confirms.
    pub(super) fn sync(&mut self, what: &str) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
        let Some(upto) = self.unsynced_upto.take() else {
            return Err(io::Error::other(format!("'{what}': nothing to sync")));
        };
        writeln!(
            self.out,
            "    (the driver syncs the log up to record {upto})"
        )?;
        self.synced_upto = upto;
        self.broker.handle(self.now, Input::Synced { upto });
        self.drain()
    }

    /// The broker crashes: the records not yet synced are lost, every
    /// connection with them, and the driver recovers the broker from the
    /// rest of its log (`Broker::recover`), as a restarted server does.
    pub(super) fn crash_and_recover(&mut self, what: &str) -> io::Result<()> {
        writeln!(self.out, "\n> {what}")?;
        let synced_upto = self.synced_upto;
        let lost = self
            .log
            .iter()
            .filter(|record| record.lsn > synced_upto)
            .count();
        self.log.retain(|record| record.lsn <= synced_upto);
        writeln!(
            self.out,
            "    (the disk holds the log up to record {synced_upto}; {lost} record(s) written after it are lost)"
        )?;
        self.broker = Broker::recover(self.config.clone(), self.log.clone());
        self.unsynced_upto = None;
        self.paused.clear();
        writeln!(
            self.out,
            "    (the driver recovers the broker from those records)"
        )?;
        for info in self.broker.queue_infos() {
            writeln!(
                self.out,
                "    recovered: queue '{}' with {} message(s) ready",
                info.name, info.messages_ready
            )?;
        }
        Ok(())
    }

    /// Tells the events, then takes every output; when some asked for records
    /// to be logged, reports them synced (which may release publisher
    /// confirms) and takes those too, unless syncs are batched.
    fn drain(&mut self) -> io::Result<Vec<Output>> {
        let mut outputs = Vec::new();
        for _ in 0..SYNCS_PER_STEP_MAX {
            let mut logged_upto = None;
            while let Some(event) = self.broker.poll_event() {
                writeln!(self.out, "    event: {}", describe_event(&event))?;
                self.events.push(event);
            }
            while let Some(output) = self.broker.poll_output() {
                writeln!(self.out, "    {}", describe(&output))?;
                match &output {
                    Output::Persist(record) => {
                        logged_upto = Some(record.lsn);
                        self.log.push(Record::clone(record));
                    }
                    Output::Pause { conn, paused: true } => {
                        self.paused.insert(conn.0);
                    }
                    Output::Pause {
                        conn,
                        paused: false,
                    } => {
                        self.paused.remove(&conn.0);
                    }
                    _ => {}
                }
                outputs.push(output);
            }
            if self.batched_syncs {
                self.unsynced_upto = logged_upto.or(self.unsynced_upto);
                return Ok(outputs);
            }
            let Some(upto) = logged_upto else {
                return Ok(outputs);
            };
            writeln!(
                self.out,
                "    (the driver syncs the log up to record {upto})"
            )?;
            self.synced_upto = upto;
            self.broker.handle(self.now, Input::Synced { upto });
        }
        Err(io::Error::other(
            "the core kept asking for records to be logged",
        ))
    }

    /// A command on channel 1 that must succeed: a close fails the walkthrough.
    pub(super) fn command(
        &mut self,
        what: &str,
        conn: u64,
        command: Command,
    ) -> io::Result<Vec<Output>> {
        let outputs = self.send(what, conn, command)?;
        match refusal(&outputs) {
            Some(code) => Err(io::Error::other(format!(
                "the core refused '{what}': {code}"
            ))),
            None => Ok(outputs),
        }
    }

    /// A command on channel 1 that the broker must refuse: returns the close's reply code.
    pub(super) fn refused(
        &mut self,
        what: &str,
        conn: u64,
        command: Command,
    ) -> io::Result<ReplyCode> {
        let outputs = self.send(what, conn, command)?;
        refusal(&outputs).ok_or_else(|| io::Error::other(format!("the core accepted '{what}'")))
    }

    fn send(&mut self, what: &str, conn: u64, command: Command) -> io::Result<Vec<Output>> {
        let (conn, channel) = (ConnectionId(conn), ChannelId(1));
        self.input(
            what,
            Input::Command {
                conn,
                channel,
                command,
            },
        )
    }

    pub(super) fn connect(&mut self, who: &str, conn: u64) -> io::Result<()> {
        let (user, vhost) = ("guest".to_owned(), "/".to_owned());
        let input = Input::Connect {
            conn: ConnectionId(conn),
            user,
            vhost,
            channel_max: u16::MAX,
        };
        self.input(&format!("{who} connects (connection {conn})"), input)?;
        self.command(
            &format!("{who} opens channel 1"),
            conn,
            Command::ChannelOpen,
        )?;
        Ok(())
    }

    /// Declares the durable queue `queue`.
    pub(super) fn declare(
        &mut self,
        what: &str,
        conn: u64,
        queue: &str,
        args: FieldTable,
    ) -> io::Result<()> {
        self.command(what, conn, queue_declare(queue, false, false, args))?;
        Ok(())
    }

    /// Declares an exclusive queue named by the broker and returns its name.
    pub(super) fn declare_exclusive(&mut self, what: &str, conn: u64) -> io::Result<Name> {
        let outputs = self.command(
            what,
            conn,
            queue_declare("", false, true, FieldTable::new()),
        )?;
        let name = outputs.iter().find_map(|output| match output {
            Output::Reply {
                reply: Reply::QueueDeclareOk { queue, .. },
                ..
            } => Some(queue.clone()),
            _ => None,
        });
        name.ok_or_else(|| io::Error::other(format!("no queue.declare-ok for '{what}'")))
    }

    pub(super) fn exchange(
        &mut self,
        what: &str,
        conn: u64,
        exchange: &str,
        kind: &str,
    ) -> io::Result<()> {
        let command = Command::ExchangeDeclare {
            exchange: exchange.into(),
            kind: kind.into(),
            passive: false,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        };
        self.command(what, conn, command)?;
        Ok(())
    }

    pub(super) fn bind(
        &mut self,
        conn: u64,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> io::Result<()> {
        let what = format!("bind '{queue}' to '{exchange}' with key '{key}'");
        let (queue, exchange, routing_key) = (queue.into(), exchange.into(), key.into());
        let arguments = FieldTable::new();
        let command = Command::QueueBind {
            queue,
            exchange,
            routing_key,
            arguments,
        };
        self.command(&what, conn, command)?;
        Ok(())
    }

    pub(super) fn consume(
        &mut self,
        what: &str,
        conn: u64,
        queue: &str,
        no_ack: bool,
    ) -> io::Result<Vec<Output>> {
        self.command(what, conn, basic_consume(queue, "", no_ack, false))
    }

    pub(super) fn qos(&mut self, what: &str, conn: u64, prefetch_count: u16) -> io::Result<()> {
        let command = Command::BasicQos {
            prefetch_size: 0,
            prefetch_count,
            global: false,
        };
        self.command(what, conn, command)?;
        Ok(())
    }

    pub(super) fn publish(
        &mut self,
        what: &str,
        conn: u64,
        exchange: &str,
        routing_key: &str,
        properties: Properties,
        body: &str,
    ) -> io::Result<Vec<Output>> {
        let command = Command::BasicPublish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory: false,
            immediate: false,
            properties: properties.into(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        };
        self.command(what, conn, command)
    }

    pub(super) fn ack(
        &mut self,
        what: &str,
        conn: u64,
        tag: u64,
        multiple: bool,
    ) -> io::Result<Vec<Output>> {
        let command = Command::BasicAck {
            delivery_tag: tag,
            multiple,
        };
        self.command(what, conn, command)
    }

    /// A command on channel 1 that the driver refuses on its own authority
    /// (`Input::Refused`): the core fails it with `code` as if it had.
    pub(super) fn refuse(
        &mut self,
        what: &str,
        conn: u64,
        command: Command,
        code: ReplyCode,
        text: &str,
    ) -> io::Result<Vec<Output>> {
        let (conn, channel, text) = (ConnectionId(conn), ChannelId(1), text.to_owned());
        self.input(
            what,
            Input::Refused {
                conn,
                channel,
                command,
                code,
                text,
            },
        )
    }

    pub(super) fn nack(
        &mut self,
        what: &str,
        conn: u64,
        tag: u64,
        requeue: bool,
    ) -> io::Result<Vec<Output>> {
        let command = Command::BasicNack {
            delivery_tag: tag,
            multiple: false,
            requeue,
        };
        self.command(what, conn, command)
    }

    /// Lets `duration_ms` pass, firing every timer that falls due on the way, in order.
    pub(super) fn wait(&mut self, what: &str, duration_ms: u64) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
        self.advance(what, duration_ms)
    }

    /// Lets `duration_ms` pass as `wait` does, under the step told last.
    pub(super) fn advance(&mut self, what: &str, duration_ms: u64) -> io::Result<Vec<Output>> {
        let until = self.now.plus_ms(duration_ms);
        let mut outputs = Vec::new();
        for _ in 0..TIMEOUTS_PER_WAIT_MAX {
            match self.broker.poll_timeout() {
                Some(deadline) if deadline <= until => {
                    self.now = self.now.max(deadline);
                    self.broker.handle(self.now, Input::Timeout);
                    outputs.extend(self.drain()?);
                }
                _ => {
                    self.now = until;
                    return Ok(outputs);
                }
            }
        }
        Err(io::Error::other(format!(
            "over {TIMEOUTS_PER_WAIT_MAX} timers fired in '{what}'"
        )))
    }
}

pub(super) fn queue_declare(
    queue: &str,
    passive: bool,
    exclusive: bool,
    arguments: FieldTable,
) -> Command {
    // Named queues outlive a restart; exclusive ones die with their connection anyway.
    let (queue, durable, auto_delete) = (queue.into(), !exclusive, false);
    Command::QueueDeclare {
        queue,
        passive,
        durable,
        exclusive,
        auto_delete,
        arguments,
    }
}

pub(super) fn basic_consume(queue: &str, tag: &str, no_ack: bool, exclusive: bool) -> Command {
    let (queue, consumer_tag, arguments) = (queue.into(), tag.into(), FieldTable::new());
    Command::BasicConsume {
        queue,
        consumer_tag,
        no_ack,
        exclusive,
        arguments,
    }
}

/// A field table of queue arguments.
pub(super) fn arguments(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// The reply code of the close among `outputs`, if the broker refused something.
fn refusal(outputs: &[Output]) -> Option<ReplyCode> {
    outputs.iter().find_map(|output| match output {
        Output::Reply {
            reply: Reply::Close { code, .. },
            ..
        } => Some(*code),
        _ => None,
    })
}

/// The messages delivered to connection `conn` among `outputs`, with their delivery tags.
pub(super) fn delivered_to(outputs: &[Output], conn: u64) -> Vec<(u64, SharedMessage)> {
    let delivery = |output: &Output| match output {
        Output::Reply {
            conn: to,
            reply:
                Reply::Deliver {
                    delivery_tag,
                    message,
                    ..
                },
            ..
        } if to.0 == conn => Some((*delivery_tag, message.clone())),
        _ => None,
    };
    outputs.iter().filter_map(delivery).collect()
}

/// The message's `x-death` history, newest first: (queue, reason, count).
pub(super) fn deaths(message: &Message) -> Vec<(String, String, i128)> {
    let headers = message.properties().headers.as_ref();
    let Some(FieldValue::Array(deaths)) = headers.and_then(|headers| headers.get("x-death")) else {
        return Vec::new();
    };
    let text = |fields: &FieldTable, name: &str| Some(fields.get(name)?.as_str()?.to_owned());
    let death = |death: &FieldValue| match death {
        FieldValue::Table(fields) => {
            let count = fields.get("count")?.as_integer()?;
            Some((text(fields, "queue")?, text(fields, "reason")?, count))
        }
        _ => None,
    };
    deaths.iter().filter_map(death).collect()
}

/// One line for one output.
fn describe(output: &Output) -> String {
    match output {
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
        } => {
            format!(
                "deliver to conn {} ch {} ({consumer_tag}): tag {delivery_tag}, redelivered={redelivered}, body {:?}{}",
                conn.0,
                channel.0,
                String::from_utf8_lossy(&message.body),
                describe_message(message)
            )
        }
        Output::Reply {
            conn,
            channel,
            reply:
                Reply::GetOk {
                    delivery_tag,
                    redelivered,
                    message_count,
                    message,
                },
        } => {
            format!(
                "get-ok to conn {} ch {}: tag {delivery_tag}, redelivered={redelivered}, body {:?}{}, {message_count} left in the queue",
                conn.0,
                channel.0,
                String::from_utf8_lossy(&message.body),
                describe_message(message)
            )
        }
        Output::Reply {
            conn,
            channel,
            reply,
        } => {
            format!("reply to conn {} ch {}: {reply:?}", conn.0, channel.0)
        }
        Output::Persist(record) => {
            let change = format!("{:?}", record.change);
            let kind = change.split([' ', '(', '{']).next().unwrap_or_default();
            format!("persist: record {} ({kind})", record.lsn)
        }
        Output::Pause { conn, paused: true } => format!("pause: stop reading conn {}", conn.0),
        Output::Pause {
            conn,
            paused: false,
        } => format!("pause: read conn {} again", conn.0),
        Output::Stream {
            conn,
            request,
            reply,
        } => format!(
            "stream reply to conn {} request {request}: {reply:?}",
            conn.0
        ),
        Output::PubSub { conn, reply } => format!("pubsub reply to conn {}: {reply:?}", conn.0),
        Output::PubSubPublished { published } => format!("pubsub deliveries: {published:?}"),
        Output::Sqs {
            conn,
            request,
            reply,
        } => format!("sqs reply to conn {} request {request}: {reply:?}", conn.0),
    }
}

/// The routing and the properties that the patterns rely on, for a delivery's line.
fn describe_message(message: &Message) -> String {
    let mut notes = Vec::new();
    if !message.exchange().is_empty() {
        notes.push(format!(
            "via '{}' with key {:?}",
            message.exchange(),
            message.routing_key()
        ));
    }
    let properties = message.properties();
    if let Some(priority) = properties.priority {
        notes.push(format!("priority {priority}"));
    }
    for (name, value) in [
        ("message_id", &properties.message_id),
        ("correlation_id", &properties.correlation_id),
        ("reply_to", &properties.reply_to),
        ("expiration", &properties.expiration),
    ] {
        if let Some(value) = value {
            notes.push(format!("{name} {value:?}"));
        }
    }
    let deaths: Vec<String> = deaths(message)
        .into_iter()
        .map(|(queue, reason, count)| format!("{reason} in '{queue}' x{count}"))
        .collect();
    if !deaths.is_empty() {
        notes.push(format!("x-death [{}]", deaths.join(", ")));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", notes.join(", "))
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Published { message, .. } => format!("message {} published", message.0),
        Event::Enqueued { message, queue } => {
            format!("message {} enqueued in '{queue}'", message.0)
        }
        Event::Delivered {
            message,
            queue,
            delivery_tag,
            redelivered,
            ..
        } => format!(
            "message {} delivered from '{queue}' as tag {delivery_tag} (redelivered={redelivered})",
            message.0
        ),
        Event::Acked { message, queue } => {
            format!("message {} acknowledged, gone from '{queue}'", message.0)
        }
        Event::Requeued { message, queue } => {
            format!("message {} requeued to '{queue}'", message.0)
        }
        Event::Expired { message, queue } => format!("message {} expired in '{queue}'", message.0),
        Event::DeadLettered {
            message,
            queue,
            reason,
            exchange,
        } => format!(
            "message {} dead-lettered from '{queue}' ({}) to exchange '{exchange}'",
            message.0,
            reason.as_str()
        ),
        Event::Dropped {
            message,
            queue: Some(queue),
            reason,
        } => {
            format!("message {} dropped from '{queue}' ({reason:?})", message.0)
        }
        Event::Confirmed {
            message,
            confirm_seq,
            ack,
            ..
        } => {
            let how = if *ack { "basic.ack" } else { "basic.nack" };
            format!(
                "message {} confirmed to its publisher ({how}, seq {confirm_seq})",
                message.0
            )
        }
        Event::SagaIgnored {
            message,
            exchange,
            reason,
        } => format!(
            "message {} changes nothing in saga '{exchange}' ({reason:?}), counted",
            message.0
        ),
        Event::SagaTimedOut {
            exchange,
            saga,
            action,
            step,
        } => format!("saga '{saga}' of '{exchange}' timed out waiting on step {step}'s {action:?}"),
        other => format!("{other:?}"),
    }
}
