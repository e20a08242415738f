//! Saga bench: order sagas of three steps run to completion through the
//! broker's inputs and outputs (the start publish, each command routed to a
//! participant's durable queue once its record is synced, each reply, the
//! outcome published), with participants answering every command at once,
//! `IN_FLIGHT` sagas at a time and one sync per round, as a driver that
//! syncs in batches does. Two floors are measured beside it: the same four
//! client publishes per saga (a start and three replies) as plain
//! persistent messages through durable queues to consumers, with the same
//! syncs; and all eight messages of a saga (those four, and the three
//! commands and the outcome the broker sends, each with the properties,
//! headers and body the broker gives it) published the same way, which is
//! what a saga's messages cost with no saga at all.
//!
//! `cargo bench -p brokerlab-core --bench sagas`; `scripts/bench-sagas.py`
//! writes the figures and the ratios to reports/bench-sagas.md.

use brokerlab_core::saga::{correlation_id, send_headers, Action, REPLY_PREFIX};
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, FieldValue, Input, Instant,
    Output, Properties, PublishProperties, Reply,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::Arc;

/// The allocator `brokerlab serve` runs the core with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sagas per measured iteration.
const SAGAS: usize = 1_000;
/// Sagas in flight at once: each round answers every one of them.
const IN_FLIGHT: usize = 100;
/// The participants' queues, one per step (command and compensation alike).
const STEPS: [&str; 3] = ["inventory", "payment", "shipping"];
/// Where the second floor publishes the starts and the replies.
const FLOOR_QUEUES: [&str; 2] = ["starts", "replies"];

const SHOP: ConnectionId = ConnectionId(1);
const PARTICIPANT: ConnectionId = ConnectionId(2);
const CHANNEL: ChannelId = ChannelId(1);

struct Driver {
    broker: Broker,
    /// The time the last input was given.
    now: Instant,
    /// The last lsn the broker asked to persist.
    logged: u64,
    /// Deliveries to the participant: (delivery tag, correlation id, reply_to).
    commands: Vec<Option<String>>,
    /// Outcomes (or, for the floor, messages) seen by the observer.
    ended: usize,
}

impl Driver {
    fn new() -> Driver {
        let mut driver = Driver {
            broker: Broker::new(Config::default()),
            now: Instant(0),
            logged: 0,
            commands: Vec::new(),
            ended: 0,
        };
        for conn in [SHOP, PARTICIPANT] {
            driver.input(Input::Connect {
                conn,
                user: "guest".into(),
                vhost: "/".into(),
                channel_max: 16,
            });
            driver.command(conn, Command::ChannelOpen);
        }
        for queue in STEPS.into_iter().chain(["outcomes"]).chain(FLOOR_QUEUES) {
            driver.command(PARTICIPANT, durable_queue(queue));
            let consume = Command::BasicConsume {
                queue: queue.into(),
                consumer_tag: queue.into(),
                no_ack: true,
                exclusive: false,
                arguments: FieldTable::new(),
            };
            driver.command(PARTICIPANT, consume);
        }
        driver
    }

    fn input(&mut self, input: Input) {
        // The clock moves as a driver's does: a microsecond an input.
        self.now = Instant(self.now.0 + 1_000);
        self.broker.handle(self.now, input);
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Persist(record) => self.logged = record.lsn,
                Output::Reply {
                    reply: Reply::Deliver { message, .. },
                    ..
                } => {
                    let key = message.routing_key();
                    if key.as_str() == "outcomes"
                        || key.starts_with("saga.")
                        || FLOOR_QUEUES.contains(&key.as_str())
                    {
                        self.ended += 1;
                    } else {
                        self.commands
                            .push(message.properties().correlation_id.clone());
                    }
                }
                _ => {}
            }
        }
    }

    fn command(&mut self, conn: ConnectionId, command: Command) {
        self.input(Input::Command {
            conn,
            channel: CHANNEL,
            command,
        });
    }

    fn sync(&mut self) {
        self.input(Input::Synced { upto: self.logged });
    }

    fn publish(
        &mut self,
        conn: ConnectionId,
        exchange: &str,
        key: &str,
        properties: PublishProperties,
    ) {
        let body = Bytes::from_static(b"{\"orderId\":7}");
        self.publish_body(conn, exchange, key, properties, body);
    }

    fn publish_body(
        &mut self,
        conn: ConnectionId,
        exchange: &str,
        key: &str,
        properties: PublishProperties,
        body: Bytes,
    ) {
        self.command(
            conn,
            Command::BasicPublish {
                exchange: exchange.into(),
                routing_key: key.into(),
                mandatory: false,
                immediate: false,
                properties,
                body,
            },
        );
    }
}

fn durable_queue(name: &str) -> Command {
    Command::QueueDeclare {
        queue: name.into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    }
}

/// The outcome queue's binding to the saga outcomes on `amq.topic`.
fn bind_outcomes(driver: &mut Driver) {
    let bind = Command::QueueBind {
        queue: "outcomes".into(),
        exchange: "amq.topic".into(),
        routing_key: "saga.*".into(),
        arguments: FieldTable::new(),
    };
    driver.command(PARTICIPANT, bind);
}

/// A broker with the order saga declared and its participants consuming.
fn saga_driver() -> Driver {
    let mut driver = Driver::new();
    let steps = STEPS
        .iter()
        .map(|queue| {
            let mut step = FieldTable::new();
            step.insert("name".into(), FieldValue::string(queue));
            step.insert("command".into(), FieldValue::string(queue));
            step.insert("compensation".into(), FieldValue::string(queue));
            FieldValue::Table(step)
        })
        .collect();
    let mut arguments = FieldTable::new();
    arguments.insert("x-saga-steps".into(), FieldValue::Array(steps));
    let declare = Command::ExchangeDeclare {
        exchange: "order".into(),
        kind: "x-saga".into(),
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        arguments,
    };
    driver.command(SHOP, declare);
    bind_outcomes(&mut driver);
    driver.sync();
    driver
}

/// A broker whose participants consume, and whose outcome queue is bound,
/// as the saga bench's are, but with no saga declared.
fn floor_driver() -> Driver {
    let mut driver = Driver::new();
    bind_outcomes(&mut driver);
    driver.sync();
    driver
}

/// Runs `SAGAS` sagas to completion, `IN_FLIGHT` at a time.
fn run_sagas(driver: &mut Driver, first_id: usize, success: &Arc<FieldTable>) {
    for batch in (0..SAGAS).step_by(IN_FLIGHT) {
        for n in batch..batch + IN_FLIGHT {
            let start = Properties {
                message_id: Some(format!("order-{}", first_id + n)),
                delivery_mode: Some(2),
                ..Properties::default()
            };
            driver.publish(SHOP, "order", "", start.into());
        }
        driver.sync();
        while !driver.commands.is_empty() {
            for correlation_id in std::mem::take(&mut driver.commands) {
                let reply = Properties {
                    correlation_id,
                    headers: Some(Arc::new(FieldTable::clone(success))),
                    ..Properties::default()
                };
                driver.publish(PARTICIPANT, "", "amq.saga.order", reply.into());
            }
            driver.sync();
        }
    }
    assert_eq!(driver.ended, SAGAS, "every saga ended");
    driver.ended = 0;
}

/// The floor: the same four client publishes per saga, as persistent
/// messages through durable queues to consumers, with one sync per round.
fn run_floor(driver: &mut Driver) {
    let persistent: PublishProperties = Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    }
    .into();
    for _ in (0..SAGAS).step_by(IN_FLIGHT) {
        for queue in STEPS.into_iter().chain(["outcomes"]) {
            for _ in 0..IN_FLIGHT {
                driver.publish(SHOP, "", queue, persistent.clone());
            }
            driver.sync();
        }
    }
    assert_eq!(
        driver.commands.len() + driver.ended,
        4 * SAGAS,
        "every message delivered"
    );
    driver.commands.clear();
    driver.ended = 0;
}

/// The floor: all eight messages of each saga, as the saga bench
/// carries them, published by clients as plain persistent messages through
/// durable queues to consumers, with the saga bench's four syncs for each
/// `IN_FLIGHT` sagas.
fn run_floor_same_messages(driver: &mut Driver, first_id: usize, success: &Arc<FieldTable>) {
    let command_headers: Vec<Arc<FieldTable>> = STEPS
        .iter()
        .enumerate()
        .map(|(step, name)| {
            let step = u32::try_from(step).expect("three steps");
            Arc::new(send_headers("order", step, name, Action::Command, 1))
        })
        .collect();
    let body = Bytes::from_static(b"{\"orderId\":7}");
    for batch in (0..SAGAS).step_by(IN_FLIGHT) {
        let ids: Vec<String> = (batch..batch + IN_FLIGHT)
            .map(|n| format!("order-{}", first_id + n))
            .collect();
        for id in &ids {
            let start = Properties {
                message_id: Some(id.clone()),
                delivery_mode: Some(2),
                ..Properties::default()
            };
            driver.publish(SHOP, "", "starts", start.into());
        }
        for (step, queue) in STEPS.iter().enumerate() {
            for id in &ids {
                let step = u32::try_from(step).expect("three steps");
                let command = Properties {
                    delivery_mode: Some(2),
                    message_id: Some(id.clone()),
                    timestamp: Some(driver.now.as_secs()),
                    headers: Some(Arc::clone(&command_headers[step as usize])),
                    correlation_id: Some(correlation_id(Action::Command, step, id)),
                    reply_to: Some(format!("{REPLY_PREFIX}order")),
                    ..Properties::default()
                };
                driver.publish_body(SHOP, "", queue, command.into(), body.clone());
            }
            driver.sync();
            for correlation_id in std::mem::take(&mut driver.commands) {
                let reply = Properties {
                    correlation_id,
                    headers: Some(Arc::new(FieldTable::clone(success))),
                    ..Properties::default()
                };
                driver.publish(PARTICIPANT, "", "replies", reply.into());
            }
        }
        for id in &ids {
            let headers = FieldTable::from([
                ("x-saga".to_owned(), FieldValue::string("order")),
                ("x-saga-id".to_owned(), FieldValue::string(id)),
                ("x-saga-state".to_owned(), FieldValue::string("completed")),
            ]);
            let outcome = Properties {
                content_type: Some("application/json".to_owned()),
                delivery_mode: Some(2),
                message_id: Some(id.clone()),
                timestamp: Some(driver.now.as_secs()),
                headers: Some(Arc::new(headers)),
                correlation_id: Some(id.clone()),
                ..Properties::default()
            };
            let json =
                format!("{{\"sagaId\":\"{id}\",\"saga\":\"order\",\"state\":\"completed\"}}");
            driver.publish_body(
                SHOP,
                "amq.topic",
                "saga.completed",
                outcome.into(),
                json.into(),
            );
        }
        driver.sync();
    }
    assert_eq!(
        driver.ended + driver.commands.len(),
        5 * SAGAS,
        "every start, reply and outcome delivered"
    );
    driver.commands.clear();
    driver.ended = 0;
}

fn bench(c: &mut Criterion) {
    let success = Arc::new({
        let mut headers = FieldTable::new();
        headers.insert("x-saga-outcome".into(), FieldValue::string("success"));
        headers
    });
    let mut group = c.benchmark_group("core/saga");
    group.throughput(Throughput::Elements(SAGAS as u64));
    let mut next_id = 0;
    group.bench_function("three_steps", |b| {
        b.iter_batched_ref(
            saga_driver,
            |driver| {
                run_sagas(driver, next_id, &success);
                next_id += SAGAS;
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("floor_plain_publishes", |b| {
        b.iter_batched_ref(Driver::new, run_floor, BatchSize::LargeInput);
    });
    let mut next_id = 0;
    group.bench_function("floor_same_messages", |b| {
        b.iter_batched_ref(
            floor_driver,
            |driver| {
                run_floor_same_messages(driver, next_id, &success);
                next_id += SAGAS;
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
