//! SQS bench: the full SQS cycle through the broker's inputs and outputs,
//! in batches of 10 as the client does: SendMessageBatch (answered
//! once its records are synced, one sync per batch), ReceiveMessage of 10,
//! DeleteMessageBatch of their handles. The floor beside it moves the same
//! messages through a durable AMQP queue: 10 persistent publishes, a sync,
//! delivery to a consumer, one multiple ack.
//!
//! `cargo bench -p brokerlab-core --bench sqs`; `scripts/bench-sqs.py`
//! writes the figures and the ratio to reports/bench-sqs-core.md.

use brokerlab_core::sqs::{Received, SendEntry};
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output,
    Properties, PublishProperties, Reply, SqsCommand, SqsReply,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Messages per measured iteration.
const MESSAGES: usize = 10_000;
/// Messages per batch.
const BATCH: usize = 10;

const CLIENT: ConnectionId = ConnectionId(1);
const CHANNEL: ChannelId = ChannelId(1);

struct Driver {
    broker: Broker,
    logged: u64,
    request: u64,
    answers: Vec<SqsReply>,
    tags: Vec<u64>,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            broker: Broker::new(Config::default()),
            logged: 0,
            request: 0,
            answers: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn input(&mut self, input: Input) {
        self.broker.handle(Instant(1), input);
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Persist(record) => self.logged = record.lsn,
                Output::Sqs { reply, .. } => self.answers.push(*reply),
                Output::Reply {
                    reply: Reply::Deliver { delivery_tag, .. },
                    ..
                } => self.tags.push(delivery_tag),
                _ => {}
            }
        }
    }

    fn sync(&mut self) {
        self.input(Input::Synced { upto: self.logged });
    }

    fn sqs(&mut self, command: SqsCommand) {
        self.request += 1;
        self.input(Input::Sqs {
            conn: CLIENT,
            request: self.request,
            command: Box::new(command),
        });
    }

    fn command(&mut self, command: Command) {
        self.input(Input::Command {
            conn: CLIENT,
            channel: CHANNEL,
            command,
        });
    }
}

fn sqs_driver() -> Driver {
    let mut driver = Driver::new();
    driver.sqs(SqsCommand::CreateQueue {
        queue: "jobs".into(),
        attributes: Vec::new(),
    });
    driver.sync();
    driver.answers.clear();
    driver
}

fn run_sqs(driver: &mut Driver, body: &Bytes) {
    let entries: Vec<SendEntry> = (0..BATCH)
        .map(|i| SendEntry {
            id: format!("m{i}"),
            body: body.clone(),
            delay_seconds: None,
            attributes: Vec::new(),
            group_id: None,
            deduplication_id: None,
        })
        .collect();
    let mut cycled = 0;
    for _ in (0..MESSAGES).step_by(BATCH) {
        driver.sqs(SqsCommand::Send {
            queue: "jobs".into(),
            entries: entries.clone(),
            batch: true,
        });
        driver.sync();
        driver.sqs(SqsCommand::Receive {
            queue: "jobs".into(),
            max_messages: BATCH as u32,
            visibility_timeout: None,
            wait_time_seconds: None,
        });
        let received: Vec<Received> = driver
            .answers
            .drain(..)
            .filter_map(|answer| match answer {
                SqsReply::Received(messages) => Some(messages),
                _ => None,
            })
            .flatten()
            .collect();
        cycled += received.len();
        let handles = received
            .into_iter()
            .enumerate()
            .map(|(i, message)| (format!("m{i}"), message.receipt_handle))
            .collect();
        driver.sqs(SqsCommand::Delete {
            queue: "jobs".into(),
            entries: handles,
            batch: true,
        });
        driver.answers.clear();
    }
    assert_eq!(cycled, MESSAGES, "every message sent, received and deleted");
}

fn amqp_driver() -> Driver {
    let mut driver = Driver::new();
    driver.input(Input::Connect {
        conn: CLIENT,
        user: "guest".into(),
        vhost: "/".into(),
        channel_max: 16,
    });
    driver.command(Command::ChannelOpen);
    driver.command(Command::QueueDeclare {
        queue: "jobs".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    });
    driver.command(Command::BasicConsume {
        queue: "jobs".into(),
        consumer_tag: "c".into(),
        no_ack: false,
        exclusive: false,
        arguments: FieldTable::new(),
    });
    driver.sync();
    driver
}

fn run_floor(driver: &mut Driver, body: &Bytes) {
    let persistent: PublishProperties = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    }
    .into();
    let mut cycled = 0;
    for _ in (0..MESSAGES).step_by(BATCH) {
        for _ in 0..BATCH {
            driver.command(Command::BasicPublish {
                exchange: "".into(),
                routing_key: "jobs".into(),
                mandatory: false,
                immediate: false,
                properties: persistent.clone(),
                body: body.clone(),
            });
        }
        driver.sync();
        cycled += driver.tags.len();
        let last = *driver.tags.last().expect("delivered");
        driver.tags.clear();
        driver.command(Command::BasicAck {
            delivery_tag: last,
            multiple: true,
        });
    }
    assert_eq!(
        cycled, MESSAGES,
        "every message published, delivered and acked"
    );
}

fn bench(c: &mut Criterion) {
    let body = Bytes::from_static(b"{\"job\":42,\"kind\":\"resize\"}");
    let mut group = c.benchmark_group("core/sqs");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("send_receive_delete_batches_of_10", |b| {
        b.iter_batched_ref(
            sqs_driver,
            |driver| run_sqs(driver, &body),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("floor_amqp_publish_deliver_ack", |b| {
        b.iter_batched_ref(
            amqp_driver,
            |driver| run_floor(driver, &body),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
