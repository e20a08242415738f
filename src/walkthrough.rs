//! Step-by-step walkthroughs of the seed document's patterns, driven through
//! the core and narrated as they happen.

use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, Event, FieldTable, Input, Instant, Output, Properties, Reply,
};
use bytes::Bytes;
use std::io::{self, Write};
use std::sync::Arc;

/// Drives a `Broker` and narrates every reply and event it outputs.
struct Narrator<'out, W: Write> {
    broker: Broker,
    now: Instant,
    out: &'out mut W,
}

impl<W: Write> Narrator<'_, W> {
    fn input(&mut self, what: &str, input: Input) -> io::Result<Vec<Output>> {
        writeln!(self.out, "\n> {what}")?;
        self.broker.handle(self.now, input);
        let mut outputs = Vec::new();
        while let Some(output) = self.broker.poll_output() {
            writeln!(self.out, "    {}", describe(&output))?;
            outputs.push(output);
        }
        Ok(outputs)
    }

    fn command(&mut self, what: &str, conn: u64, command: Command) -> io::Result<Vec<Output>> {
        let input = Input::Command { conn: ConnectionId(conn), channel: ChannelId(1), command };
        self.input(what, input)
    }

    fn connect(&mut self, who: &str, conn: u64) -> io::Result<()> {
        let input = Input::Connect { conn: ConnectionId(conn), user: "guest".into(), vhost: "/".into() };
        self.input(&format!("{who} connects (connection {conn})"), input)?;
        self.command(&format!("{who} opens channel 1"), conn, Command::ChannelOpen)?;
        Ok(())
    }
}

/// One line for one output.
fn describe(output: &Output) -> String {
    match output {
        Output::Reply { conn, channel, reply: Reply::Deliver { consumer_tag, delivery_tag, redelivered, message } } => {
            format!(
                "deliver to conn {} ch {} ({consumer_tag}): tag {delivery_tag}, redelivered={redelivered}, body {:?}",
                conn.0,
                channel.0,
                String::from_utf8_lossy(&message.body)
            )
        }
        Output::Reply { conn, channel, reply } => format!("reply to conn {} ch {}: {reply:?}", conn.0, channel.0),
        Output::Event(event) => format!("event: {}", describe_event(event)),
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::Published { message, .. } => format!("message {} published", message.0),
        Event::Enqueued { message, queue } => format!("message {} enqueued in '{queue}'", message.0),
        Event::Delivered { message, queue, delivery_tag, redelivered, .. } => {
            format!("message {} delivered from '{queue}' as tag {delivery_tag} (redelivered={redelivered})", message.0)
        }
        Event::Acked { message, queue } => format!("message {} acknowledged, gone from '{queue}'", message.0),
        Event::Requeued { message, queue } => format!("message {} requeued to '{queue}'", message.0),
        other => format!("{other:?}"),
    }
}

/// The work-queue pattern: one producer, two competing workers with prefetch
/// 1, acknowledgements, and a worker that dies holding a task, whose task goes
/// back to the queue and on to the other worker flagged as redelivered.
pub fn work_queue(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: the work queue (competing consumers, prefetch 1, acks, requeue)")?;
    let mut narrator = Narrator { broker: Broker::new(Config::default()), now: Instant(0), out };
    narrator.connect("the producer", 1)?;
    let declare = Command::QueueDeclare {
        queue: "task_queue".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    narrator.command("the producer declares the durable queue 'task_queue'", 1, declare)?;
    for (conn, name) in [(2, "worker A"), (3, "worker B")] {
        narrator.connect(name, conn)?;
        let qos = Command::BasicQos { prefetch_size: 0, prefetch_count: 1, global: false };
        narrator.command(&format!("{name} asks for one task at a time (basic.qos prefetch 1)"), conn, qos)?;
        let consume = Command::BasicConsume {
            queue: "task_queue".into(),
            consumer_tag: name.replace(' ', "-"),
            no_ack: false,
            exclusive: false,
            arguments: FieldTable::new(),
        };
        narrator.command(&format!("{name} consumes from 'task_queue'"), conn, consume)?;
    }
    for task in ["resize image 1", "resize image 2", "resize image 3"] {
        let publish = Command::BasicPublish {
            exchange: "".into(),
            routing_key: "task_queue".into(),
            mandatory: false,
            immediate: false,
            properties: Arc::new(Properties { delivery_mode: Some(2), ..Properties::default() }),
            body: Bytes::from(task),
        };
        narrator.command(&format!("the producer publishes the persistent task {task:?}"), 1, publish)?;
    }
    let ack = Command::BasicAck { delivery_tag: 1, multiple: false };
    narrator.command("worker A finishes its task and acknowledges tag 1: it gets the next one", 2, ack)?;
    let dies = Input::Disconnect { conn: ConnectionId(3) };
    narrator.input("worker B dies holding its task: the task goes back to the queue, then to worker A", dies)?;
    for tag in [2, 3] {
        let ack = Command::BasicAck { delivery_tag: tag, multiple: false };
        narrator.command(&format!("worker A acknowledges tag {tag}"), 2, ack)?;
    }
    writeln!(narrator.out, "\nEvery task was delivered and acknowledged once; the one held by the dead worker came back with redelivered=true.")?;
    Ok(())
}
