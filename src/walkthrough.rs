//! Step-by-step walkthroughs of the seed document's patterns, driven through
//! the core and narrated as they happen.
//!
//! Each walkthrough is a short story told with real inputs: every output of
//! the core is printed under the step that caused it, and the clients in the
//! story act on what was actually delivered (a server reads `reply_to`, a
//! worker reads `x-death`), so a core that misbehaves makes a walkthrough
//! fail instead of telling a wrong story.
//!
//! The seed document's consumer groups (Kafka-style partitions with offsets)
//! and sagas have no walkthrough here: they belong to the later work on
//! streams and sagas, which the queue core alone does not provide.

use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, Event, FieldTable, FieldValue, Input,
    Instant, Message, Output, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::Arc;

/// Every walkthrough's command-line name, in teaching order.
pub const PATTERNS: [&str; 10] = [
    "work-queue",
    "pubsub",
    "routing",
    "request-reply",
    "dlq-retry",
    "ttl",
    "priority",
    "ordering-by-key",
    "idempotency",
    "prefetch",
];

/// Runs the walkthrough named `pattern` (one of [`PATTERNS`]); `None` when there is none.
pub fn run(pattern: &str, out: &mut impl Write) -> Option<io::Result<()>> {
    let result = match pattern {
        "work-queue" => work_queue(out),
        "pubsub" => pubsub(out),
        "routing" => routing(out),
        "request-reply" => request_reply(out),
        "dlq-retry" => dlq_retry(out),
        "ttl" => ttl(out),
        "priority" => priority(out),
        "ordering-by-key" => ordering_by_key(out),
        "idempotency" => idempotency(out),
        "prefetch" => prefetch(out),
        _ => return None,
    };
    Some(result)
}

/// The most timers one `wait` may fire: a walkthrough arms a handful.
const TIMEOUTS_PER_WAIT_MAX: usize = 1_000;

/// The most log syncs one step may need: a sync releases confirms but logs nothing new.
const SYNCS_PER_STEP_MAX: usize = 16;

/// Drives a `Broker` as a driver would (it syncs the log at once) and
/// narrates every output.
struct Narrator<'out, W: Write> {
    broker: Broker,
    now: Instant,
    out: &'out mut W,
}

impl<'out, W: Write> Narrator<'out, W> {
    fn new(out: &'out mut W) -> Self {
        Narrator {
            broker: Broker::new(Config::default()),
            now: Instant(0),
            out,
        }
    }

    fn input(&mut self, what: &str, input: Input) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
        self.broker.handle(self.now, input);
        self.drain()
    }

    /// Takes every output; when some asked for records to be logged, reports
    /// them synced (which may release publisher confirms) and takes those too.
    fn drain(&mut self) -> io::Result<Vec<Output>> {
        let mut outputs = Vec::new();
        for _ in 0..SYNCS_PER_STEP_MAX {
            let mut logged_upto = None;
            while let Some(output) = self.broker.poll_output() {
                writeln!(self.out, "    {}", describe(&output))?;
                if let Output::Persist(record) = &output {
                    logged_upto = Some(record.lsn);
                }
                outputs.push(output);
            }
            let Some(upto) = logged_upto else {
                return Ok(outputs);
            };
            writeln!(
                self.out,
                "    (the driver syncs the log up to record {upto})"
            )?;
            self.broker.handle(self.now, Input::Synced { upto });
        }
        Err(io::Error::other(
            "the core kept asking for records to be logged",
        ))
    }

    /// A command on channel 1 that must succeed: a close fails the walkthrough.
    fn command(&mut self, what: &str, conn: u64, command: Command) -> io::Result<Vec<Output>> {
        let outputs = self.send(what, conn, command)?;
        match refusal(&outputs) {
            Some(code) => Err(io::Error::other(format!(
                "the core refused '{what}': {code}"
            ))),
            None => Ok(outputs),
        }
    }

    /// A command on channel 1 that the broker must refuse: returns the close's reply code.
    fn refused(&mut self, what: &str, conn: u64, command: Command) -> io::Result<ReplyCode> {
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

    fn connect(&mut self, who: &str, conn: u64) -> io::Result<()> {
        let (user, vhost) = ("guest".to_owned(), "/".to_owned());
        let input = Input::Connect {
            conn: ConnectionId(conn),
            user,
            vhost,
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
    fn declare(&mut self, what: &str, conn: u64, queue: &str, args: FieldTable) -> io::Result<()> {
        self.command(what, conn, queue_declare(queue, false, false, args))?;
        Ok(())
    }

    /// Declares an exclusive queue named by the broker and returns its name.
    fn declare_exclusive(&mut self, what: &str, conn: u64) -> io::Result<Arc<str>> {
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

    fn exchange(&mut self, what: &str, conn: u64, exchange: &str, kind: &str) -> io::Result<()> {
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

    fn bind(&mut self, conn: u64, queue: &str, exchange: &str, key: &str) -> io::Result<()> {
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

    fn consume(
        &mut self,
        what: &str,
        conn: u64,
        queue: &str,
        no_ack: bool,
    ) -> io::Result<Vec<Output>> {
        self.command(what, conn, basic_consume(queue, "", no_ack, false))
    }

    fn qos(&mut self, what: &str, conn: u64, prefetch_count: u16) -> io::Result<()> {
        let command = Command::BasicQos {
            prefetch_size: 0,
            prefetch_count,
            global: false,
        };
        self.command(what, conn, command)?;
        Ok(())
    }

    fn publish(
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
            properties: Arc::new(properties),
            body: Bytes::copy_from_slice(body.as_bytes()),
        };
        self.command(what, conn, command)
    }

    fn ack(&mut self, what: &str, conn: u64, tag: u64, multiple: bool) -> io::Result<Vec<Output>> {
        let command = Command::BasicAck {
            delivery_tag: tag,
            multiple,
        };
        self.command(what, conn, command)
    }

    /// Lets `duration_ms` pass, firing every timer that falls due on the way, in order.
    fn wait(&mut self, what: &str, duration_ms: u64) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
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

fn queue_declare(queue: &str, passive: bool, exclusive: bool, arguments: FieldTable) -> Command {
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

fn basic_consume(queue: &str, tag: &str, no_ack: bool, exclusive: bool) -> Command {
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
fn arguments(entries: &[(&str, FieldValue)]) -> FieldTable {
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
fn delivered_to(outputs: &[Output], conn: u64) -> Vec<(u64, Arc<Message>)> {
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
fn deaths(message: &Message) -> Vec<(String, String, i128)> {
    let headers = message.properties.headers.as_ref();
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
            reply,
        } => {
            format!("reply to conn {} ch {}: {reply:?}", conn.0, channel.0)
        }
        Output::Event(event) => format!("event: {}", describe_event(event)),
        Output::Persist(record) => {
            let change = format!("{:?}", record.change);
            let kind = change.split([' ', '(', '{']).next().unwrap_or_default();
            format!("persist: record {} ({kind})", record.lsn)
        }
    }
}

/// The routing and the properties that the patterns rely on, for a delivery's line.
fn describe_message(message: &Message) -> String {
    let mut notes = Vec::new();
    if !message.exchange.is_empty() {
        notes.push(format!(
            "via '{}' with key {:?}",
            message.exchange, message.routing_key
        ));
    }
    let properties = &message.properties;
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
        other => format!("{other:?}"),
    }
}

/// The work-queue pattern: one producer, two competing workers with prefetch
/// 1, acknowledgements, and a worker that dies holding a task, whose task goes
/// back to the queue and on to the other worker flagged as redelivered.
pub fn work_queue(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: the work queue (competing consumers, prefetch 1, acks, requeue)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let what = "the producer declares the durable queue 'task_queue'";
    narrator.declare(what, 1, "task_queue", FieldTable::new())?;
    for (conn, name) in [(2, "worker A"), (3, "worker B")] {
        narrator.connect(name, conn)?;
        narrator.qos(
            &format!("{name} asks for one task at a time (basic.qos prefetch 1)"),
            conn,
            1,
        )?;
        let what = format!("{name} consumes from 'task_queue'");
        let consume = basic_consume("task_queue", &name.replace(' ', "-"), false, false);
        narrator.command(&what, conn, consume)?;
    }
    for task in ["resize image 1", "resize image 2", "resize image 3"] {
        let persistent = Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        };
        let what = format!("the producer publishes the persistent task {task:?}");
        narrator.publish(&what, 1, "", "task_queue", persistent, task)?;
    }
    let what = "worker A finishes its task and acknowledges tag 1: it gets the next one";
    narrator.ack(what, 2, 1, false)?;
    let dies = Input::Disconnect {
        conn: ConnectionId(3),
    };
    let what = "worker B dies holding its task: the task goes back to the queue, then to worker A";
    narrator.input(what, dies)?;
    for tag in [2, 3] {
        narrator.ack(&format!("worker A acknowledges tag {tag}"), 2, tag, false)?;
    }
    writeln!(narrator.out, "\nEvery task was delivered and acknowledged once; the one held by the dead worker came back with redelivered=true.")?;
    Ok(())
}

/// Publish/subscribe: a fanout exchange copies every message to each
/// subscriber's own exclusive, server-named queue; a subscriber that leaves
/// takes its queue with it and misses what follows.
pub fn pubsub(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: publish/subscribe (a fanout exchange, an exclusive server-named queue per subscriber)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the publisher", 1)?;
    let what = "the publisher declares the fanout exchange 'notifications'";
    narrator.exchange(what, 1, "notifications", "fanout")?;
    for (conn, name) in [
        (2, "the email service"),
        (3, "the stock service"),
        (4, "the analytics service"),
    ] {
        narrator.connect(name, conn)?;
        let what = format!("{name} declares an exclusive queue and lets the broker name it");
        let queue = narrator.declare_exclusive(&what, conn)?;
        narrator.bind(conn, &queue, "notifications", "")?;
        let what = format!("{name} consumes from '{queue}' (no acks: a lost notification is fine)");
        narrator.consume(&what, conn, &queue, true)?;
    }
    for event in ["user-registered 123", "order-created 12345"] {
        let what = format!("the publisher publishes {event:?}: every subscriber gets a copy");
        narrator.publish(&what, 1, "notifications", "", Properties::default(), event)?;
    }
    let leaves = Input::Disconnect {
        conn: ConnectionId(4),
    };
    narrator.input(
        "the analytics service disconnects: its exclusive queue is deleted with it",
        leaves,
    )?;
    let what = "the publisher publishes \"user-deleted 123\": two subscribers are left";
    narrator.publish(
        what,
        1,
        "notifications",
        "",
        Properties::default(),
        "user-deleted 123",
    )?;
    writeln!(
        narrator.out,
        "\nEach subscriber got its own copy of every message published while it was subscribed."
    )?;
    Ok(())
}

/// Routing: a direct exchange delivers by exact routing key, a topic exchange
/// by pattern, where `*` is exactly one word and `#` is any number of words.
pub fn routing(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: routing (a direct exchange by exact key, a topic exchange by pattern)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the logger", 1)?;
    narrator.connect("the log reader", 2)?;
    let what = "the logger declares the direct exchange 'direct_logs'";
    narrator.exchange(what, 1, "direct_logs", "direct")?;
    for (queue, keys) in [
        ("errors", &["error"][..]),
        ("all_levels", &["info", "warning", "error"]),
    ] {
        narrator.declare(
            &format!("the log reader declares '{queue}'"),
            2,
            queue,
            FieldTable::new(),
        )?;
        for key in keys {
            narrator.bind(2, queue, "direct_logs", key)?;
        }
        narrator.consume(
            &format!("the log reader consumes from '{queue}'"),
            2,
            queue,
            true,
        )?;
    }
    for (key, body) in [("error", "disk full"), ("info", "user 123 logged in")] {
        let what = format!("the logger publishes {body:?} with key '{key}'");
        narrator.publish(&what, 1, "direct_logs", key, Properties::default(), body)?;
    }
    narrator.exchange(
        "the logger declares the topic exchange 'logs'",
        1,
        "logs",
        "topic",
    )?;
    for pattern in ["error.*", "*.critical", "#"] {
        let what = format!("the log reader declares an exclusive queue for '{pattern}'");
        let queue = narrator.declare_exclusive(&what, 2)?;
        narrator.bind(2, &queue, "logs", pattern)?;
        let what = format!("the log reader consumes from '{queue}' as '{pattern}'");
        narrator.command(&what, 2, basic_consume(&queue, pattern, true, false))?;
    }
    for (key, body) in [
        ("error.critical", "database connection failed"),
        ("error.disk", "disk 80% full"),
        ("app.critical", "out of memory"),
        ("info.startup", "service started"),
        ("error.disk.full", "disk 100% full"),
    ] {
        let what = format!("the logger publishes {body:?} with key '{key}'");
        narrator.publish(&what, 1, "logs", key, Properties::default(), body)?;
    }
    writeln!(narrator.out, "\n'*' matched exactly one word and '#' any number: 'error.disk.full' reached only the '#' queue.")?;
    Ok(())
}

/// Request-reply: the client sends requests carrying `reply_to` (its
/// exclusive, server-named reply queue) and a `correlation_id`; the server
/// answers to `reply_to` with the same `correlation_id`, which the client uses
/// to match each reply to its request.
pub fn request_reply(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: request-reply (reply_to, correlation_id, an exclusive reply queue)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the server", 1)?;
    let what = "the server declares the request queue 'rpc_queue'";
    narrator.declare(what, 1, "rpc_queue", FieldTable::new())?;
    narrator.consume(
        "the server consumes requests from 'rpc_queue'",
        1,
        "rpc_queue",
        false,
    )?;
    narrator.connect("the client", 2)?;
    let what = "the client declares its reply queue: exclusive to it, named by the broker";
    let reply_queue = narrator.declare_exclusive(what, 2)?;
    let what = format!("the client consumes its replies from '{reply_queue}'");
    narrator.consume(&what, 2, &reply_queue, true)?;
    let mut requests = Vec::new();
    for (correlation_id, text) in [("req-1", "hello"), ("req-2", "world")] {
        let properties = Properties {
            reply_to: Some(reply_queue.to_string()),
            correlation_id: Some(correlation_id.to_owned()),
            ..Properties::default()
        };
        let what = format!("the client sends {text:?} (correlation_id {correlation_id})");
        let outputs = narrator.publish(&what, 2, "", "rpc_queue", properties, text)?;
        requests.extend(delivered_to(&outputs, 1));
    }
    for (tag, request) in requests {
        let (Some(reply_to), Some(id)) = (
            &request.properties.reply_to,
            &request.properties.correlation_id,
        ) else {
            return Err(io::Error::other(
                "a request arrived without reply_to or correlation_id",
            ));
        };
        let answer = String::from_utf8_lossy(&request.body).to_uppercase();
        let properties = Properties {
            correlation_id: Some(id.clone()),
            ..Properties::default()
        };
        let what =
            format!("the server answers {answer:?} to '{reply_to}', copying correlation_id {id}");
        narrator.publish(&what, 1, "", reply_to, properties, &answer)?;
        narrator.ack(
            &format!("the server acknowledges the request (tag {tag})"),
            1,
            tag,
            false,
        )?;
    }
    writeln!(narrator.out, "\nThe client matched each reply to its request by correlation_id; its reply queue goes away with its connection.")?;
    Ok(())
}

/// Attempts a task gets before the worker gives up on it.
const ATTEMPTS_MAX: i128 = 3;

/// How long a failed task waits in the retry queue before its next attempt.
const RETRY_DELAY_MS: u64 = 5_000;

/// Dead-letter queue and retry: a worker rejects a failed task; the work
/// queue dead-letters it to a retry queue, whose TTL dead-letters it back;
/// the worker counts the attempts in `x-death` and, at the limit, parks the
/// task in a dead-letter queue for a human.
pub fn dlq_retry(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: dead-letter queue and retry (reject -> DLX -> retry queue with TTL -> back; give up after {ATTEMPTS_MAX} attempts)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    declare_retry_topology(&mut narrator)?;
    narrator.connect("the worker", 2)?;
    narrator.consume("the worker consumes from 'tasks'", 2, "tasks", false)?;
    let (what, task) = ("the producer publishes a task", "charge card 4242");
    let mut outputs = narrator.publish(what, 1, "", "tasks", Properties::default(), task)?;
    let delay_s = RETRY_DELAY_MS / 1_000;
    for _ in 0..ATTEMPTS_MAX {
        let Some((tag, task)) = delivered_to(&outputs, 2).pop() else {
            return Err(io::Error::other("the task did not come back to the worker"));
        };
        let deaths = deaths(&task);
        let rejected = deaths
            .iter()
            .find(|(queue, reason, _)| queue == "tasks" && reason == "rejected");
        let attempt = rejected.map_or(0, |(_, _, count)| *count) + 1;
        if attempt == ATTEMPTS_MAX {
            let what = format!("attempt {attempt} of {ATTEMPTS_MAX} fails too: the worker gives up and parks the task, x-death and all, in 'tasks.dlq'");
            let (properties, body) = (
                (*task.properties).clone(),
                String::from_utf8_lossy(&task.body),
            );
            narrator.publish(&what, 2, "tasks.dlx", "failed", properties, &body)?;
            narrator.ack(&format!("the worker acknowledges tag {tag}"), 2, tag, false)?;
            writeln!(narrator.out, "\nThe task was tried {ATTEMPTS_MAX} times, {delay_s} s apart, then parked in the dead-letter queue for a human.")?;
            return Ok(());
        }
        let what = format!("x-death counts {} rejections: attempt {attempt} of {ATTEMPTS_MAX} fails, and the worker rejects tag {tag} without requeue", attempt - 1);
        let reject = Command::BasicReject {
            delivery_tag: tag,
            requeue: false,
        };
        narrator.command(&what, 2, reject)?;
        let what = format!("{delay_s} s pass: the task expires from 'tasks.retry' back to 'tasks'");
        outputs = narrator.wait(&what, RETRY_DELAY_MS)?;
    }
    Err(io::Error::other("the worker never reached the retry limit"))
}

/// The dead-letter queue and retry walkthrough's exchange and queues: 'tasks'
/// dead-letters to 'tasks.dlx' with key 'retry', which leads to 'tasks.retry',
/// whose TTL dead-letters back to 'tasks'; key 'failed' leads to 'tasks.dlq'.
fn declare_retry_topology<W: Write>(narrator: &mut Narrator<'_, W>) -> io::Result<()> {
    let what = "the producer declares the dead-letter exchange 'tasks.dlx'";
    narrator.exchange(what, 1, "tasks.dlx", "direct")?;
    let to_retry = arguments(&[
        ("x-dead-letter-exchange", FieldValue::string("tasks.dlx")),
        ("x-dead-letter-routing-key", FieldValue::string("retry")),
    ]);
    let what = "the producer declares 'tasks', which dead-letters to 'tasks.dlx' with key 'retry'";
    narrator.declare(what, 1, "tasks", to_retry)?;
    let back_to_work = arguments(&[
        ("x-message-ttl", FieldValue::I64(RETRY_DELAY_MS as i64)),
        ("x-dead-letter-exchange", FieldValue::string("")),
        ("x-dead-letter-routing-key", FieldValue::string("tasks")),
    ]);
    let delay_s = RETRY_DELAY_MS / 1_000;
    let what = format!("the producer declares 'tasks.retry', whose tasks expire back to 'tasks' (default exchange) after {delay_s} s");
    narrator.declare(&what, 1, "tasks.retry", back_to_work)?;
    narrator.bind(1, "tasks.retry", "tasks.dlx", "retry")?;
    let what = "the producer declares the dead-letter queue 'tasks.dlq', for tasks given up on";
    narrator.declare(what, 1, "tasks.dlq", FieldTable::new())?;
    narrator.bind(1, "tasks.dlq", "tasks.dlx", "failed")
}

/// Time-to-live: a queue's `x-message-ttl` bounds how long any message waits
/// in it, a message's `expiration` can shorten that, and an expired message
/// is never delivered (here it is dropped: the queue has no dead-letter exchange).
pub fn ttl(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: time-to-live (per-queue x-message-ttl, per-message expiration)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let ttl_60_s = arguments(&[("x-message-ttl", FieldValue::I32(60_000))]);
    let what = "the producer declares 'quotes', whose messages live 60 s at most";
    narrator.declare(what, 1, "quotes", ttl_60_s)?;
    let expires_5_s = Properties {
        expiration: Some("5000".to_owned()),
        ..Properties::default()
    };
    let what = "t=0 s: the producer publishes a flash offer that expires after 5 s";
    narrator.publish(what, 1, "", "quotes", expires_5_s, "flash offer")?;
    let what = "t=0 s: the producer publishes a price list (the queue's 60 s apply)";
    narrator.publish(
        what,
        1,
        "",
        "quotes",
        Properties::default(),
        "price list v1",
    )?;
    narrator.wait(
        "no consumer yet; time passes to t=30 s: the flash offer expires at t=5 s",
        30_000,
    )?;
    let what = "t=30 s: the producer publishes a newer price list";
    narrator.publish(
        what,
        1,
        "",
        "quotes",
        Properties::default(),
        "price list v2",
    )?;
    narrator.wait(
        "time passes to t=61 s: the first price list expires at t=60 s",
        31_000,
    )?;
    narrator.connect("the consumer", 2)?;
    narrator.consume(
        "t=61 s: the consumer starts consuming 'quotes'",
        2,
        "quotes",
        true,
    )?;
    writeln!(narrator.out, "\nOnly the price list published at t=30 s was still alive: expired messages are never delivered.")?;
    Ok(())
}

/// Priority: in a queue declared with `x-max-priority`, waiting messages
/// are delivered highest priority first, in publish order within a priority.
pub fn priority(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: message priority (x-max-priority)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    let priorities = arguments(&[("x-max-priority", FieldValue::U8(10))]);
    let what = "the producer declares 'emails' with priorities 0 to 10";
    narrator.declare(what, 1, "emails", priorities)?;
    let emails = [
        (None, "newsletter"),
        (Some(1), "weekly report A"),
        (Some(9), "password reset"),
        (Some(1), "weekly report B"),
        (Some(5), "order confirmation"),
    ];
    for (priority, email) in emails {
        let level = priority.map_or("no priority (0)".to_owned(), |level| {
            format!("priority {level}")
        });
        let what = format!("the producer publishes {email:?} with {level}");
        let properties = Properties {
            priority,
            ..Properties::default()
        };
        narrator.publish(&what, 1, "", "emails", properties, email)?;
    }
    narrator.connect("the mailer", 2)?;
    narrator.qos("the mailer sends one email at a time (prefetch 1)", 2, 1)?;
    let mut outputs = narrator.consume("the mailer consumes from 'emails'", 2, "emails", false)?;
    for _ in emails {
        let Some((tag, _)) = delivered_to(&outputs, 2).pop() else {
            return Err(io::Error::other("the mailer was not given the next email"));
        };
        outputs = narrator.ack(
            &format!("the mailer sent it and acknowledges tag {tag}"),
            2,
            tag,
            false,
        )?;
    }
    writeln!(
        narrator.out,
        "\nThe waiting emails went out highest priority first, in publish order within a priority."
    )?;
    Ok(())
}

/// Partitions of the ordering-by-key walkthrough: one queue and one consumer each.
const PARTITIONS: usize = 2;

/// The partition of a key. Any hash works as long as it never changes while
/// messages are in flight: the same key must always pick the same queue.
fn partition_of(key: &str) -> usize {
    key.bytes().map(usize::from).sum::<usize>() % PARTITIONS
}

/// Ordering by key: the producer routes each key to one of a few partition
/// queues (the core has no consistent-hash exchange, so the producer hashes
/// the key and uses the partition as a direct routing key); each partition
/// has one exclusive consumer, so each key's messages are handled in order.
pub fn ordering_by_key(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: ordering by key (a key always goes to one partition queue with one consumer)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.exchange(
        "the producer declares the direct exchange 'orders'",
        1,
        "orders",
        "direct",
    )?;
    for partition in 0..PARTITIONS {
        let queue = format!("orders.{partition}");
        let what = format!("the producer declares the partition queue '{queue}'");
        narrator.declare(&what, 1, &queue, FieldTable::new())?;
        narrator.bind(1, &queue, "orders", &partition.to_string())?;
    }
    for (conn, name, queue) in [(2, "worker-0", "orders.0"), (3, "worker-1", "orders.1")] {
        narrator.connect(name, conn)?;
        let what = format!("{name} consumes from '{queue}' exclusively: no one else may");
        narrator.command(&what, conn, basic_consume(queue, name, true, true))?;
    }
    narrator.connect("worker-2", 4)?;
    let what = "worker-2 tries to consume from 'orders.0' as well";
    let code = narrator.refused(what, 4, basic_consume("orders.0", "worker-2", true, false))?;
    writeln!(
        narrator.out,
        "    (refused with {code}: the partition keeps its one consumer)"
    )?;
    for (key, event) in [
        ("customer-1", "created"),
        ("customer-2", "created"),
        ("customer-1", "paid"),
        ("customer-3", "created"),
        ("customer-2", "paid"),
        ("customer-1", "shipped"),
    ] {
        let partition = partition_of(key).to_string();
        let what = format!("the producer publishes '{key} {event}' to partition {partition}");
        let body = format!("{key} {event}");
        narrator.publish(&what, 1, "orders", &partition, Properties::default(), &body)?;
    }
    writeln!(
        narrator.out,
        "\nEach customer's events reached one worker, in the order they were published."
    )?;
    Ok(())
}

/// Idempotency: the producer republishes a message whose publisher confirm
/// it never saw, so the broker delivers it twice, as two messages that are
/// not even flagged redelivered; the consumer dedupes by `message_id`.
pub fn idempotency(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: idempotency (a retried publish, a consumer that dedupes by message_id)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.declare(
        "the producer declares 'payments'",
        1,
        "payments",
        FieldTable::new(),
    )?;
    narrator.command(
        "the producer turns on publisher confirms",
        1,
        Command::ConfirmSelect,
    )?;
    narrator.connect("the consumer", 2)?;
    narrator.consume(
        "the consumer consumes from 'payments'",
        2,
        "payments",
        false,
    )?;
    let mut processed = BTreeSet::new();
    let payment = |id: &str| Properties {
        message_id: Some(id.to_owned()),
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let charge = "charge 10 EUR for order 1001";
    let what = "the producer publishes the persistent payment-1001; the broker confirms it";
    let outputs = narrator.publish(what, 1, "", "payments", payment("payment-1001"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    let lost = Input::Disconnect {
        conn: ConnectionId(1),
    };
    let what =
        "the confirm is lost: the producer's connection drops before the basic.ack reaches it";
    narrator.input(what, lost)?;
    narrator.connect("the restarted producer", 3)?;
    narrator.command(
        "the producer turns on publisher confirms again",
        3,
        Command::ConfirmSelect,
    )?;
    let what = "the producer never saw a confirm for payment-1001, so it publishes it again";
    let outputs = narrator.publish(what, 3, "", "payments", payment("payment-1001"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    let what = "the producer publishes payment-1002";
    let charge = "charge 25 EUR for order 1002";
    let outputs = narrator.publish(what, 3, "", "payments", payment("payment-1002"), charge)?;
    consume_idempotently(&mut narrator, &mut processed, &outputs)?;
    writeln!(narrator.out, "\npayment-1001 arrived twice, as two messages, neither flagged redelivered: only the consumer's record of message_ids kept the card from being charged twice.")?;
    Ok(())
}

/// The idempotency walkthrough's consumer (connection 2): it processes each
/// `message_id` once and acknowledges every delivery, duplicates included.
fn consume_idempotently<W: Write>(
    narrator: &mut Narrator<'_, W>,
    processed: &mut BTreeSet<String>,
    outputs: &[Output],
) -> io::Result<()> {
    for (tag, message) in delivered_to(outputs, 2) {
        let id = message.properties.message_id.clone().unwrap_or_default();
        let what = if processed.insert(id.clone()) {
            format!("{id} is new to the consumer: it charges the card, records {id} and acknowledges tag {tag}")
        } else {
            format!("the consumer already processed {id}: it skips the work and just acknowledges tag {tag}")
        };
        narrator.ack(&what, 2, tag, false)?;
    }
    Ok(())
}

/// Prefetch back-pressure: basic.qos bounds how many deliveries a consumer
/// holds unacknowledged; the rest wait in the queue until acks make room.
pub fn prefetch(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: prefetch back-pressure (basic.qos bounds unacknowledged deliveries)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.declare("the producer declares 'jobs'", 1, "jobs", FieldTable::new())?;
    narrator.connect("the consumer", 2)?;
    narrator.qos(
        "the consumer allows itself 2 unacknowledged jobs (prefetch 2)",
        2,
        2,
    )?;
    narrator.consume("the consumer consumes from 'jobs'", 2, "jobs", false)?;
    for job in 1..=5 {
        let (what, body) = (
            format!("the producer publishes job {job}"),
            format!("job {job}"),
        );
        narrator.publish(&what, 1, "", "jobs", Properties::default(), &body)?;
    }
    let what =
        "the producer looks at 'jobs' (passive declare): 3 jobs wait, held back by the prefetch";
    narrator.command(
        what,
        1,
        queue_declare("jobs", true, false, FieldTable::new()),
    )?;
    let what = "the consumer finishes job 1 and acknowledges tag 1: room for one more";
    narrator.ack(what, 2, 1, false)?;
    let what = "the consumer acknowledges tags 2 and 3 at once (multiple): room for two more";
    narrator.ack(what, 2, 3, true)?;
    narrator.ack("the consumer acknowledges tags 4 and 5", 2, 5, true)?;
    writeln!(narrator.out, "\nThe consumer never held more than 2 unacknowledged jobs; the others waited in the queue.")?;
    Ok(())
}
