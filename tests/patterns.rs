//! Every messaging pattern of the seed document, driven through the core
//! directly: each test sets the pattern up as its clients would and asserts
//! what arrives, where, in what order, and with which flags and headers.
//!
//! Consumer groups and sagas, also in the seed document, are not tested here:
//! they belong to the later work on streams and sagas.

use brokerlab_core::record::Record;
use brokerlab_core::SharedMessage;
use brokerlab_core::{
    Broker, ChannelId, CloseScope, Command, Config, ConnectionId, Event, FieldTable, FieldValue,
    Input, Instant, Message, MessageId, Output, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most log syncs one step may need: a sync releases confirms but logs nothing new.
const SYNCS_PER_STEP_MAX: usize = 16;

/// The most timers one `advance_ms` may fire.
const TIMEOUTS_PER_ADVANCE_MAX: usize = 1_000;

/// One broker, driven as a driver would: every client uses channel 1, and the
/// log is synced as soon as the broker asks for records to be written.
struct Lab {
    broker: Broker,
    now: Instant,
    /// The broker's events not yet taken.
    events: Vec<Event>,
    /// The log is synced only by `sync`, as a driver that syncs in batches does.
    batched_syncs: bool,
    /// The last record logged and not yet synced, under batched syncs.
    unsynced_upto: Option<u64>,
    /// Every record the broker asked to be logged, in order.
    log: Vec<Record>,
    /// The last record synced: what a crash keeps.
    synced_upto: u64,
}

/// A basic.deliver as its client sees it.
#[derive(Clone, Debug)]
struct Delivery {
    conn: u64,
    consumer_tag: String,
    tag: u64,
    redelivered: bool,
    message: SharedMessage,
}

impl Delivery {
    fn body(&self) -> String {
        String::from_utf8_lossy(&self.message.body).into_owned()
    }
}

impl Lab {
    fn new() -> Lab {
        Lab::with_config(Config::default())
    }

    /// A lab whose broker runs with `config` (with its events on).
    fn with_config(config: Config) -> Lab {
        Lab {
            broker: Broker::new(Config {
                events: true,
                ..config
            }),
            now: Instant(0),
            events: Vec::new(),
            batched_syncs: false,
            unsynced_upto: None,
            log: Vec::new(),
            synced_upto: 0,
        }
    }

    /// The broker crashes, losing the records not yet synced, and is
    /// recovered from the rest.
    fn crash_and_recover(&mut self) {
        let synced_upto = self.synced_upto;
        self.log.retain(|record| record.lsn <= synced_upto);
        let config = self.broker.config().clone();
        self.broker = Broker::recover(config, self.log.clone());
        self.unsynced_upto = None;
    }

    /// Syncs the log up to the last record written (under batched syncs).
    fn sync(&mut self) -> Vec<Output> {
        let upto = self.unsynced_upto.take().expect("records wait for a sync");
        self.synced_upto = upto;
        self.step(Input::Synced { upto })
    }

    fn step(&mut self, input: Input) -> Vec<Output> {
        self.broker.handle(self.now, input);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut outputs = Vec::new();
        for _ in 0..SYNCS_PER_STEP_MAX {
            let mut logged_upto = None;
            while let Some(output) = self.broker.poll_output() {
                if let Output::Persist(record) = &output {
                    logged_upto = Some(record.lsn);
                    self.log.push(Record::clone(record));
                }
                outputs.push(output);
            }
            while let Some(event) = self.broker.poll_event() {
                self.events.push(event);
            }
            if self.batched_syncs {
                self.unsynced_upto = logged_upto.or(self.unsynced_upto);
                return outputs;
            }
            let Some(upto) = logged_upto else {
                return outputs;
            };
            self.synced_upto = upto;
            self.broker.handle(self.now, Input::Synced { upto });
        }
        panic!("the broker kept asking for records after {SYNCS_PER_STEP_MAX} syncs");
    }

    /// A command that must succeed.
    #[track_caller]
    fn ok(&mut self, conn: u64, command: Command) -> Vec<Output> {
        let outputs = self.send(conn, command);
        assert_eq!(refusal(&outputs), None, "{outputs:#?}");
        outputs
    }

    fn send(&mut self, conn: u64, command: Command) -> Vec<Output> {
        let (conn, channel) = (ConnectionId(conn), ChannelId(1));
        self.step(Input::Command {
            conn,
            channel,
            command,
        })
    }

    fn connect(&mut self, conn: u64) {
        let (user, vhost) = ("guest".to_owned(), "/".to_owned());
        self.step(Input::Connect {
            conn: ConnectionId(conn),
            user,
            vhost,
            channel_max: u16::MAX,
        });
        self.ok(conn, Command::ChannelOpen);
    }

    fn disconnect(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::Disconnect {
            conn: ConnectionId(conn),
        })
    }

    /// Declares a queue and returns its name (the generated one for `""`).
    #[track_caller]
    fn declare(
        &mut self,
        conn: u64,
        queue: &str,
        exclusive: bool,
        arguments: FieldTable,
    ) -> String {
        let outputs = self.ok(conn, queue_declare(queue, false, exclusive, arguments));
        let name = outputs.iter().find_map(|output| match output {
            Output::Reply {
                reply: Reply::QueueDeclareOk { queue, .. },
                ..
            } => Some(queue.to_string()),
            _ => None,
        });
        name.expect("a successful queue.declare answers declare-ok")
    }

    /// The ready messages of a queue, as a passive declare reports them.
    #[track_caller]
    fn ready(&mut self, conn: u64, queue: &str) -> u32 {
        let outputs = self.ok(conn, queue_declare(queue, true, false, FieldTable::new()));
        let count = outputs.iter().find_map(|output| match output {
            Output::Reply {
                reply: Reply::QueueDeclareOk { message_count, .. },
                ..
            } => Some(*message_count),
            _ => None,
        });
        count.expect("a successful passive declare answers declare-ok")
    }

    #[track_caller]
    fn exchange(&mut self, conn: u64, exchange: &str, kind: &str) {
        let command = Command::ExchangeDeclare {
            exchange: exchange.into(),
            kind: kind.into(),
            passive: false,
            durable: false,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        };
        self.ok(conn, command);
    }

    #[track_caller]
    fn bind(&mut self, conn: u64, queue: &str, exchange: &str, key: &str) {
        let (queue, exchange, routing_key) = (queue.into(), exchange.into(), key.into());
        let arguments = FieldTable::new();
        self.ok(
            conn,
            Command::QueueBind {
                queue,
                exchange,
                routing_key,
                arguments,
            },
        );
    }

    #[track_caller]
    fn consume(&mut self, conn: u64, queue: &str, tag: &str, no_ack: bool) -> Vec<Output> {
        self.ok(conn, basic_consume(queue, tag, no_ack, false))
    }

    #[track_caller]
    fn qos(&mut self, conn: u64, prefetch_count: u16) {
        self.ok(
            conn,
            Command::BasicQos {
                prefetch_size: 0,
                prefetch_count,
                global: false,
            },
        );
    }

    #[track_caller]
    fn publish(
        &mut self,
        conn: u64,
        exchange: &str,
        key: &str,
        properties: Properties,
        body: &str,
    ) -> Vec<Output> {
        let command = Command::BasicPublish {
            exchange: exchange.into(),
            routing_key: key.into(),
            mandatory: false,
            immediate: false,
            properties: Arc::new(properties).into(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        };
        self.ok(conn, command)
    }

    #[track_caller]
    fn ack(&mut self, conn: u64, tag: u64, multiple: bool) -> Vec<Output> {
        self.ok(
            conn,
            Command::BasicAck {
                delivery_tag: tag,
                multiple,
            },
        )
    }

    /// The broker's events since the last call, in order.
    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Lets `ms` pass, firing every timer due on the way at its own deadline.
    fn advance_ms(&mut self, ms: u64) -> Vec<Output> {
        let until = self.now.plus_ms(ms);
        let mut outputs = Vec::new();
        for _ in 0..TIMEOUTS_PER_ADVANCE_MAX {
            match self.broker.poll_timeout() {
                Some(deadline) if deadline <= until => {
                    self.now = self.now.max(deadline);
                    outputs.extend(self.step(Input::Timeout));
                }
                _ => {
                    self.now = until;
                    return outputs;
                }
            }
        }
        panic!("over {TIMEOUTS_PER_ADVANCE_MAX} timers fired in {ms} ms");
    }
}

fn queue_declare(queue: &str, passive: bool, exclusive: bool, arguments: FieldTable) -> Command {
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

fn arguments(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// The error close among `outputs`: (scope, code).
fn refusal(outputs: &[Output]) -> Option<(CloseScope, ReplyCode)> {
    outputs.iter().find_map(|output| match output {
        Output::Reply {
            reply: Reply::Close { scope, code, .. },
            ..
        } => Some((*scope, *code)),
        _ => None,
    })
}

/// Every basic.deliver among `outputs`, in order.
fn deliveries(outputs: &[Output]) -> Vec<Delivery> {
    let delivery = |output: &Output| match output {
        Output::Reply {
            conn,
            reply:
                Reply::Deliver {
                    consumer_tag,
                    delivery_tag,
                    redelivered,
                    message,
                },
            ..
        } => Some(Delivery {
            conn: conn.0,
            consumer_tag: consumer_tag.to_string(),
            tag: *delivery_tag,
            redelivered: *redelivered,
            message: message.clone(),
        }),
        _ => None,
    };
    outputs.iter().filter_map(delivery).collect()
}

/// The bodies delivered to connection `conn` among `outputs`, in order.
fn bodies_to(outputs: &[Output], conn: u64) -> Vec<String> {
    deliveries(outputs)
        .iter()
        .filter(|delivery| delivery.conn == conn)
        .map(Delivery::body)
        .collect()
}

/// The messages that expired among `events`, by broker id.
fn expired(events: &[Event]) -> Vec<MessageId> {
    let expired = |event: &Event| match event {
        Event::Expired { message, .. } => Some(*message),
        _ => None,
    };
    events.iter().filter_map(expired).collect()
}

/// The ids of the messages published among `events`.
fn published(events: &[Event]) -> Vec<MessageId> {
    let published = |event: &Event| match event {
        Event::Published { message, .. } => Some(*message),
        _ => None,
    };
    events.iter().filter_map(published).collect()
}

/// A message's `x-death` history, newest first: (queue, reason, count).
fn deaths(message: &Message) -> Vec<(String, String, i128)> {
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
        _ => panic!("an x-death entry written by the broker is a table: {death:?}"),
    };
    deaths.iter().filter_map(death).collect()
}

fn death(queue: &str, reason: &str, count: i128) -> (String, String, i128) {
    (queue.to_owned(), reason.to_owned(), count)
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a FieldValue> {
    message.properties().headers.as_ref()?.get(name)
}

#[test]
fn work_queue_gives_each_task_to_one_worker_and_redelivers_a_dead_workers_task() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "tasks", false, FieldTable::new());
    for worker in [2, 3] {
        lab.connect(worker);
        lab.qos(worker, 1);
        lab.consume(worker, "tasks", &format!("worker-{worker}"), false);
    }
    let persistent = || Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let mut steps = Vec::new();
    for task in ["task 1", "task 2", "task 3"] {
        steps.push(who_got(&lab.publish(1, "", "tasks", persistent(), task)));
    }
    steps.push(who_got(&lab.ack(2, 1, false)));
    steps.push(who_got(&lab.disconnect(3)));
    steps.push(who_got(&lab.ack(2, 2, false)));
    steps.push(who_got(&lab.ack(2, 3, false)));
    let expected = [
        vec![(2, "task 1".to_owned(), false)],
        vec![(3, "task 2".to_owned(), false)],
        vec![],
        vec![(2, "task 3".to_owned(), false)],
        vec![],
        vec![(2, "task 2".to_owned(), true)],
        vec![],
    ];
    let story =
        "one task per worker at a time; the dead worker's task goes to the other, redelivered";
    assert_eq!(steps, expected, "{story}");
    assert_eq!(lab.ready(1, "tasks"), 0);
}

/// Who got which message in a step: (connection, body, redelivered).
fn who_got(outputs: &[Output]) -> Vec<(u64, String, bool)> {
    let delivered = deliveries(outputs).into_iter();
    delivered
        .map(|delivery| (delivery.conn, delivery.body(), delivery.redelivered))
        .collect()
}

#[test]
fn pubsub_delivers_every_message_to_every_subscriber() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.exchange(1, "notifications", "fanout");
    let mut queues = BTreeSet::new();
    for subscriber in [2, 3, 4] {
        lab.connect(subscriber);
        let queue = lab.declare(subscriber, "", true, FieldTable::new());
        assert!(
            queue.starts_with("amq.gen-"),
            "a server-named queue: {queue}"
        );
        lab.bind(subscriber, &queue, "notifications", "");
        lab.consume(subscriber, &queue, "", true);
        queues.insert(queue);
    }
    assert_eq!(queues.len(), 3, "each subscriber has a queue of its own");
    let mut outputs = lab.publish(
        1,
        "notifications",
        "",
        Properties::default(),
        "user-registered",
    );
    outputs.extend(lab.publish(
        1,
        "notifications",
        "any key",
        Properties::default(),
        "order-created",
    ));
    for subscriber in [2, 3, 4] {
        assert_eq!(
            bodies_to(&outputs, subscriber),
            ["user-registered", "order-created"]
        );
    }
    assert!(deliveries(&outputs)
        .iter()
        .all(|delivery| !delivery.redelivered));
}

#[test]
fn pubsub_subscriber_queue_is_deleted_with_its_connection() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.exchange(1, "notifications", "fanout");
    let mut queues = Vec::new();
    for subscriber in [2, 3] {
        lab.connect(subscriber);
        let queue = lab.declare(subscriber, "", true, FieldTable::new());
        lab.bind(subscriber, &queue, "notifications", "");
        lab.consume(subscriber, &queue, "", true);
        queues.push(queue);
    }
    lab.disconnect(3);
    let outputs = lab.publish(
        1,
        "notifications",
        "",
        Properties::default(),
        "after the leave",
    );
    assert_eq!(bodies_to(&outputs, 2), ["after the leave"]);
    assert_eq!(deliveries(&outputs).len(), 1, "{outputs:#?}");
    let gone = lab.send(1, queue_declare(&queues[1], true, false, FieldTable::new()));
    assert_eq!(
        refusal(&gone),
        Some((CloseScope::Channel, ReplyCode::NotFound))
    );
}

#[test]
fn direct_routing_delivers_by_exact_routing_key() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.exchange(1, "direct_logs", "direct");
    lab.connect(2);
    for (queue, keys) in [
        ("errors", &["error"][..]),
        ("all_levels", &["info", "warning", "error"]),
    ] {
        lab.declare(2, queue, false, FieldTable::new());
        for key in keys {
            lab.bind(2, queue, "direct_logs", key);
        }
        lab.consume(2, queue, queue, true);
    }
    let mut received: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in ["error", "info", "debug", "error.disk", "warning"] {
        for delivery in deliveries(&lab.publish(1, "direct_logs", key, Properties::default(), key))
        {
            let queue = if delivery.consumer_tag == "errors" {
                "errors"
            } else {
                "all_levels"
            };
            received.entry(queue).or_default().push(delivery.body());
        }
    }
    assert_eq!(received["errors"], ["error"]);
    assert_eq!(received["all_levels"], ["error", "info", "warning"]);
}

#[test]
fn topic_routing_matches_star_as_one_word_and_hash_as_any_number_of_words() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.exchange(1, "logs", "topic");
    lab.connect(2);
    for pattern in ["error.*", "*.critical", "#"] {
        let queue = lab.declare(2, "", true, FieldTable::new());
        lab.bind(2, &queue, "logs", pattern);
        lab.consume(2, &queue, pattern, true);
    }
    let expected: [(&str, &[&str]); 7] = [
        ("error.critical", &["error.*", "*.critical", "#"]),
        ("error.disk", &["error.*", "#"]),
        ("app.critical", &["*.critical", "#"]),
        ("info.startup", &["#"]),
        ("error.disk.full", &["#"]),
        ("error", &["#"]),
        ("", &["#"]),
    ];
    for (key, patterns) in expected {
        let outputs = lab.publish(1, "logs", key, Properties::default(), key);
        let mut reached: Vec<String> = deliveries(&outputs)
            .into_iter()
            .map(|delivery| delivery.consumer_tag)
            .collect();
        reached.sort();
        let mut patterns: Vec<&str> = patterns.to_vec();
        patterns.sort();
        assert_eq!(reached, patterns, "routing key {key:?}");
        assert!(deliveries(&outputs).iter().all(|delivery| delivery
            .message
            .routing_key()
            .as_str()
            == key));
    }
}

#[test]
fn request_reply_answers_on_the_exclusive_reply_queue_with_the_request_correlation_id() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "rpc_queue", false, FieldTable::new());
    lab.consume(1, "rpc_queue", "server", false);
    lab.connect(2);
    let reply_queue = lab.declare(2, "", true, FieldTable::new());
    lab.consume(2, &reply_queue, "client", true);
    let mut requests = Vec::new();
    for (id, text) in [("req-1", "hello"), ("req-2", "world")] {
        let properties = Properties {
            reply_to: Some(reply_queue.clone()),
            correlation_id: Some(id.to_owned()),
            ..Properties::default()
        };
        requests.extend(deliveries(&lab.publish(
            2,
            "",
            "rpc_queue",
            properties,
            text,
        )));
    }
    assert_eq!(
        requests
            .iter()
            .map(|request| request.conn)
            .collect::<Vec<_>>(),
        [1, 1]
    );
    let mut replies = Vec::new();
    for request in requests.iter().rev() {
        let reply_to = request
            .message
            .properties()
            .reply_to
            .clone()
            .expect("reply_to travels to the server");
        let correlation_id = request.message.properties().correlation_id.clone();
        let properties = Properties {
            correlation_id,
            ..Properties::default()
        };
        replies.extend(deliveries(&lab.publish(
            1,
            "",
            &reply_to,
            properties,
            &request.body().to_uppercase(),
        )));
        lab.ack(1, request.tag, false);
    }
    let answered: Vec<(u64, Option<&str>, String)> = replies
        .iter()
        .map(|reply| {
            (
                reply.conn,
                reply.message.properties().correlation_id.as_deref(),
                reply.body(),
            )
        })
        .collect();
    assert_eq!(
        answered,
        [
            (2, Some("req-2"), "WORLD".to_owned()),
            (2, Some("req-1"), "HELLO".to_owned())
        ]
    );
    lab.connect(3);
    let intruder = lab.send(3, basic_consume(&reply_queue, "", true, false));
    assert_eq!(
        refusal(&intruder),
        Some((CloseScope::Channel, ReplyCode::ResourceLocked))
    );
}

/// Sets up the retry topology of `dlq_retry_gives_up_after_the_retry_limit_read_from_x_death`.
fn retry_topology(lab: &mut Lab, retry_delay_ms: u64) {
    lab.exchange(1, "tasks.dlx", "direct");
    let to_retry = arguments(&[
        ("x-dead-letter-exchange", FieldValue::string("tasks.dlx")),
        ("x-dead-letter-routing-key", FieldValue::string("retry")),
    ]);
    lab.declare(1, "tasks", false, to_retry);
    let delay_ms = i64::try_from(retry_delay_ms).expect("a test delay fits an i64");
    let back_to_work = arguments(&[
        ("x-message-ttl", FieldValue::I64(delay_ms)),
        ("x-dead-letter-exchange", FieldValue::string("")),
        ("x-dead-letter-routing-key", FieldValue::string("tasks")),
    ]);
    lab.declare(1, "tasks.retry", false, back_to_work);
    lab.bind(1, "tasks.retry", "tasks.dlx", "retry");
    lab.declare(1, "tasks.dlq", false, FieldTable::new());
    lab.bind(1, "tasks.dlq", "tasks.dlx", "failed");
}

#[test]
fn dlq_retry_gives_up_after_the_retry_limit_read_from_x_death() {
    const ATTEMPTS_MAX: i128 = 3;
    const RETRY_DELAY_MS: u64 = 5_000;
    let mut lab = Lab::new();
    lab.connect(1);
    retry_topology(&mut lab, RETRY_DELAY_MS);
    lab.connect(2);
    lab.consume(2, "tasks", "worker", false);
    let mut outputs = lab.publish(1, "", "tasks", Properties::default(), "charge card 4242");
    let mut seen = Vec::new();
    let mut parked = false;
    for _ in 0..=ATTEMPTS_MAX {
        let [task] = &deliveries(&outputs)[..] else {
            panic!("one delivery per attempt: {outputs:#?}")
        };
        let rejected = deaths(&task.message)
            .into_iter()
            .find(|(queue, reason, _)| queue == "tasks" && reason == "rejected");
        let attempt = rejected.map_or(0, |(_, _, count)| count) + 1;
        seen.push((lab.now, attempt, task.redelivered, deaths(&task.message)));
        if attempt == ATTEMPTS_MAX {
            let body = task.body();
            lab.publish(
                2,
                "tasks.dlx",
                "failed",
                (**task.message.properties()).clone(),
                &body,
            );
            lab.ack(2, task.tag, false);
            parked = true;
            break;
        }
        lab.ok(
            2,
            Command::BasicReject {
                delivery_tag: task.tag,
                requeue: false,
            },
        );
        outputs = lab.advance_ms(RETRY_DELAY_MS);
    }
    assert!(parked, "the worker gave up within the limit: {seen:#?}");
    let at = |seconds: u64| Instant(0).plus_ms(seconds * 1_000);
    let expected = vec![
        (at(0), 1, false, vec![]),
        (
            at(5),
            2,
            false,
            vec![
                death("tasks.retry", "expired", 1),
                death("tasks", "rejected", 1),
            ],
        ),
        (
            at(10),
            3,
            false,
            vec![
                death("tasks.retry", "expired", 2),
                death("tasks", "rejected", 2),
            ],
        ),
    ];
    assert_eq!(
        seen, expected,
        "attempts: (time, attempt, redelivered, x-death newest first)"
    );
    assert_eq!((lab.ready(1, "tasks"), lab.ready(1, "tasks.retry")), (0, 0));
    let got = lab.ok(
        1,
        Command::BasicGet {
            queue: "tasks.dlq".into(),
            no_ack: true,
        },
    );
    let parked = got.iter().find_map(|output| match output {
        Output::Reply {
            reply: Reply::GetOk { message, .. },
            ..
        } => Some(message.clone()),
        _ => None,
    });
    let parked = parked.expect("the given-up task waits in the dead-letter queue");
    assert_eq!(&parked.body[..], b"charge card 4242");
    assert_eq!(
        deaths(&parked),
        [
            death("tasks.retry", "expired", 2),
            death("tasks", "rejected", 2)
        ]
    );
    assert_eq!(
        header(&parked, "x-first-death-queue"),
        Some(&FieldValue::string("tasks"))
    );
    assert_eq!(
        header(&parked, "x-first-death-reason"),
        Some(&FieldValue::string("rejected"))
    );
}

#[test]
fn ttl_expires_messages_at_the_lower_of_the_queue_ttl_and_their_own_expiration() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(
        1,
        "quotes",
        false,
        arguments(&[("x-message-ttl", FieldValue::I32(60_000))]),
    );
    let expiring = |ms: &str| Properties {
        expiration: Some(ms.to_owned()),
        ..Properties::default()
    };
    lab.take_events();
    lab.publish(1, "", "quotes", expiring("5000"), "flash offer");
    let flash = published(&lab.take_events());
    lab.publish(1, "", "quotes", Properties::default(), "price list v1");
    let price = published(&lab.take_events());
    lab.publish(1, "", "quotes", expiring("120000"), "capped by the queue");
    let long = published(&lab.take_events());
    lab.advance_ms(4_999);
    assert!(
        expired(&lab.take_events()).is_empty(),
        "nothing is due before t=5 s"
    );
    lab.advance_ms(1);
    assert_eq!(expired(&lab.take_events()), flash, "the message's own 5 s");
    lab.publish(1, "", "quotes", Properties::default(), "price list v2");
    let fresh = published(&lab.take_events());
    lab.advance_ms(54_999);
    assert!(
        expired(&lab.take_events()).is_empty(),
        "nothing is due before t=60 s"
    );
    lab.advance_ms(1);
    assert_eq!(
        expired(&lab.take_events()),
        [price, long].concat(),
        "the queue's 60 s, which caps 120 s"
    );
    lab.connect(2);
    let survivors = lab.consume(2, "quotes", "", true);
    assert_eq!(bodies_to(&survivors, 2), ["price list v2"]);
    assert_eq!(deliveries(&survivors)[0].message.id, fresh[0]);
}

#[test]
fn priority_delivers_higher_priorities_first_and_keeps_publish_order_within_one() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(
        1,
        "emails",
        false,
        arguments(&[("x-max-priority", FieldValue::U8(10))]),
    );
    for (priority, body) in [
        (None, "newsletter"),
        (Some(1), "report A"),
        (Some(10), "password reset"),
        (Some(1), "report B"),
        (Some(200), "account locked (200 counts as the maximum, 10)"),
        (Some(5), "order confirmation"),
        (Some(0), "digest"),
    ] {
        lab.publish(
            1,
            "",
            "emails",
            Properties {
                priority,
                ..Properties::default()
            },
            body,
        );
    }
    lab.connect(2);
    lab.qos(2, 1);
    let mut outputs = lab.consume(2, "emails", "mailer", false);
    let mut order = Vec::new();
    for _ in 0..7 {
        let [email] = &deliveries(&outputs)[..] else {
            panic!("prefetch 1: one at a time: {outputs:#?}")
        };
        order.push(email.body());
        outputs = lab.ack(2, email.tag, false);
    }
    assert!(deliveries(&outputs).is_empty());
    let expected = [
        "password reset",
        "account locked (200 counts as the maximum, 10)",
        "order confirmation",
        "report A",
        "report B",
        "newsletter",
        "digest",
    ];
    assert_eq!(order, expected);
}

/// Two partition queues of a direct exchange 'orders', bound with keys "0" and "1".
fn partitions(lab: &mut Lab) {
    lab.exchange(1, "orders", "direct");
    for partition in ["0", "1"] {
        let queue = format!("orders.{partition}");
        lab.declare(1, &queue, false, FieldTable::new());
        lab.bind(1, &queue, "orders", partition);
    }
}

#[test]
fn ordering_by_key_keeps_each_keys_messages_on_one_consumer_in_publish_order() {
    let mut lab = Lab::new();
    lab.connect(1);
    partitions(&mut lab);
    for (worker, queue) in [(2, "orders.0"), (3, "orders.1")] {
        lab.connect(worker);
        lab.ok(worker, basic_consume(queue, "", false, true));
    }
    lab.connect(4);
    let second = lab.send(4, basic_consume("orders.0", "", false, false));
    assert_eq!(
        refusal(&second),
        Some((CloseScope::Channel, ReplyCode::AccessRefused))
    );
    let partition_of = BTreeMap::from([
        ("customer-1", "0"),
        ("customer-2", "1"),
        ("customer-3", "0"),
    ]);
    let events = ["created", "paid", "shipped"];
    let mut published: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut received: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for event in events {
        for (key, partition) in &partition_of {
            let body = format!("{key} {event}");
            published.entry(key).or_default().push(body.clone());
            for delivery in
                deliveries(&lab.publish(1, "orders", partition, Properties::default(), &body))
            {
                lab.ack(delivery.conn, delivery.tag, false);
                received
                    .entry(key.to_string())
                    .or_default()
                    .push((delivery.conn, delivery.body()));
            }
        }
    }
    for (key, bodies) in published {
        let got = &received[key];
        let consumers: BTreeSet<u64> = got.iter().map(|(conn, _)| *conn).collect();
        assert_eq!(consumers.len(), 1, "{key} reached one consumer: {got:?}");
        assert_eq!(
            got.iter().map(|(_, body)| body.clone()).collect::<Vec<_>>(),
            bodies,
            "{key} in order"
        );
    }
}

#[test]
fn ordering_by_key_survives_a_consumer_failover_in_publish_order() {
    let mut lab = Lab::new();
    lab.connect(1);
    partitions(&mut lab);
    lab.connect(2);
    lab.qos(2, 2);
    lab.ok(2, basic_consume("orders.0", "", false, true));
    let mut first = Vec::new();
    for body in [
        "customer-1 created",
        "customer-1 paid",
        "customer-1 shipped",
        "customer-1 delivered",
    ] {
        first.extend(deliveries(&lab.publish(
            1,
            "orders",
            "0",
            Properties::default(),
            body,
        )));
    }
    assert_eq!(
        first.iter().map(Delivery::body).collect::<Vec<_>>(),
        ["customer-1 created", "customer-1 paid"]
    );
    let next = lab.ack(2, first[0].tag, false);
    assert_eq!(bodies_to(&next, 2), ["customer-1 shipped"]);
    lab.disconnect(2);
    lab.connect(3);
    let takeover = lab.ok(3, basic_consume("orders.0", "", false, true));
    let got: Vec<(String, bool)> = deliveries(&takeover)
        .iter()
        .map(|delivery| (delivery.body(), delivery.redelivered))
        .collect();
    let expected = [
        ("customer-1 paid".to_owned(), true),
        ("customer-1 shipped".to_owned(), true),
        ("customer-1 delivered".to_owned(), false),
    ];
    let order =
        "the dead worker's unacknowledged messages come back first, then the rest, in order";
    assert_eq!(got, expected, "{order}");
}

#[test]
fn idempotent_consumer_processes_a_republished_unconfirmed_message_once() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "payments", false, FieldTable::new());
    lab.ok(1, Command::ConfirmSelect);
    lab.connect(2);
    lab.consume(2, "payments", "consumer", false);
    let payment = |id: &str| Properties {
        message_id: Some(id.to_owned()),
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let mut outputs = lab.publish(1, "", "payments", payment("payment-1001"), "charge 10 EUR");
    assert!(
        outputs.iter().any(|output| matches!(output, Output::Reply { conn, reply: Reply::ConfirmAck { delivery_tag: 1, .. }, .. } if conn.0 == 1)),
        "the broker confirmed the first publish: {outputs:#?}"
    );
    // The confirm is lost on the way: the producer never sees it, and publishes again.
    lab.disconnect(1);
    lab.connect(3);
    lab.ok(3, Command::ConfirmSelect);
    outputs.extend(lab.publish(3, "", "payments", payment("payment-1001"), "charge 10 EUR"));
    outputs.extend(lab.publish(3, "", "payments", payment("payment-1002"), "charge 25 EUR"));
    let delivered = deliveries(&outputs);
    let ids: Vec<Option<&str>> = delivered
        .iter()
        .map(|delivery| delivery.message.properties().message_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        [
            Some("payment-1001"),
            Some("payment-1001"),
            Some("payment-1002")
        ]
    );
    assert_ne!(
        delivered[0].message.id, delivered[1].message.id,
        "the retry is a new message to the broker"
    );
    assert!(
        delivered.iter().all(|delivery| !delivery.redelivered),
        "so it is not flagged redelivered"
    );
    let mut processed = BTreeSet::new();
    let mut charged = Vec::new();
    for delivery in &delivered {
        let id = delivery
            .message
            .properties()
            .message_id
            .clone()
            .expect("every payment has a message_id");
        if processed.insert(id) {
            charged.push(delivery.body());
        }
        lab.ack(2, delivery.tag, false);
    }
    assert_eq!(charged, ["charge 10 EUR", "charge 25 EUR"]);
    assert_eq!(lab.ready(3, "payments"), 0);
}

#[test]
fn prefetch_bounds_unacknowledged_deliveries_and_holds_the_rest_in_the_queue() {
    const PREFETCH: usize = 2;
    const JOBS: usize = 10;
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "jobs", false, FieldTable::new());
    lab.connect(2);
    lab.qos(2, PREFETCH as u16);
    lab.consume(2, "jobs", "consumer", false);
    let mut unacked = Vec::new();
    let mut received = Vec::new();
    for job in 1..=JOBS {
        let outputs = lab.publish(1, "", "jobs", Properties::default(), &format!("job {job}"));
        for delivery in deliveries(&outputs) {
            unacked.push(delivery.tag);
            received.push(delivery.body());
        }
        assert!(
            unacked.len() <= PREFETCH,
            "at most {PREFETCH} unacknowledged: {unacked:?}"
        );
    }
    assert_eq!(unacked.len(), PREFETCH);
    assert_eq!(
        lab.ready(1, "jobs") as usize,
        JOBS - PREFETCH,
        "the rest wait in the queue"
    );
    for _ in 0..JOBS {
        let Some(tag) = unacked.first().copied() else {
            break;
        };
        unacked.remove(0);
        for delivery in deliveries(&lab.ack(2, tag, false)) {
            unacked.push(delivery.tag);
            received.push(delivery.body());
        }
        assert!(
            unacked.len() <= PREFETCH,
            "at most {PREFETCH} unacknowledged: {unacked:?}"
        );
    }
    let expected: Vec<String> = (1..=JOBS).map(|job| format!("job {job}")).collect();
    assert_eq!(received, expected, "every job, once, in order");
    assert!(unacked.is_empty());
}

#[test]
fn event_bus_delivers_each_event_once_to_every_interested_service_and_keeps_it_for_one_that_is_down(
) {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.exchange(1, "events", "topic");
    let services: [(u64, &str, &[&str]); 3] = [
        (2, "inventory", &["order.created"]),
        (3, "email", &["order.*", "*.created", "user.registered"]),
        (4, "analytics", &["#"]),
    ];
    for (conn, queue, patterns) in services {
        lab.connect(conn);
        lab.declare(conn, queue, false, FieldTable::new());
        for pattern in patterns {
            lab.bind(conn, queue, "events", pattern);
        }
        lab.consume(conn, queue, queue, false);
    }
    let persistent = || Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let mut received: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in ["order.created", "user.registered", "payment.failed"] {
        for delivery in deliveries(&lab.publish(1, "events", key, persistent(), key)) {
            received
                .entry(delivery.consumer_tag.clone())
                .or_default()
                .push(delivery.body());
        }
    }
    let expected = BTreeMap::from([
        (
            "analytics".to_owned(),
            vec!["order.created", "user.registered", "payment.failed"],
        ),
        ("email".to_owned(), vec!["order.created", "user.registered"]),
        ("inventory".to_owned(), vec!["order.created"]),
    ]);
    let expected: BTreeMap<String, Vec<String>> = expected
        .into_iter()
        .map(|(service, keys)| (service, keys.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(
        received, expected,
        "once per interested service, though 'order.created' matches two of email's bindings"
    );
    for (conn, _, _) in services {
        lab.ack(conn, 0, true);
    }
    lab.disconnect(3);
    let outputs = lab.publish(1, "events", "order.created", persistent(), "order 1002");
    let mut reached: Vec<String> = deliveries(&outputs)
        .into_iter()
        .map(|delivery| delivery.consumer_tag)
        .collect();
    reached.sort();
    assert_eq!(
        reached,
        ["analytics", "inventory"],
        "the services that are up"
    );
    assert_eq!(lab.ready(1, "email"), 1, "the email service's event waits");
    lab.connect(5);
    let back = lab.consume(5, "email", "email", false);
    let got: Vec<(u64, String, bool)> = who_got(&back);
    assert_eq!(got, [(5, "order 1002".to_owned(), false)]);
    lab.ack(5, deliveries(&back)[0].tag, false);
    for queue in ["inventory", "email", "analytics"] {
        assert_eq!(lab.ready(1, queue), 0, "{queue}");
    }
}

/// The basic.get-ok among `outputs`: (tag, redelivered, messages left, body).
fn got(outputs: &[Output]) -> Option<(u64, bool, u32, String)> {
    outputs.iter().find_map(|output| match output {
        Output::Reply {
            reply:
                Reply::GetOk {
                    delivery_tag,
                    redelivered,
                    message_count,
                    message,
                },
            ..
        } => Some((
            *delivery_tag,
            *redelivered,
            *message_count,
            String::from_utf8_lossy(&message.body).into_owned(),
        )),
        _ => None,
    })
}

fn nack(tag: u64, requeue: bool) -> Command {
    Command::BasicNack {
        delivery_tag: tag,
        multiple: false,
        requeue,
    }
}

#[test]
fn circuit_breaker_open_leaves_messages_ready_and_requeued_ones_come_back_redelivered() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "payments", false, FieldTable::new());
    lab.connect(2);
    lab.qos(2, 1);
    let mut outputs = lab.consume(2, "payments", "worker", false);
    for payment in 1..=4 {
        let body = format!("payment {payment}");
        outputs.extend(lab.publish(1, "", "payments", Properties::default(), &body));
    }
    let mut processed = Vec::new();
    // Closed: payment 1 succeeds, payment 2 fails and comes straight back.
    let first = deliveries(&outputs);
    assert_eq!(who_got(&outputs), [(2, "payment 1".to_owned(), false)]);
    processed.push(first[0].body());
    outputs = lab.ack(2, first[0].tag, false);
    assert_eq!(who_got(&outputs), [(2, "payment 2".to_owned(), false)]);
    outputs = lab.ok(2, nack(deliveries(&outputs)[0].tag, true));
    assert_eq!(who_got(&outputs), [(2, "payment 2".to_owned(), true)]);
    let held = deliveries(&outputs)[0].tag;
    // Open: the worker cancels, then hands back what it holds.
    let cancel = Command::BasicCancel {
        consumer_tag: "worker".to_owned(),
    };
    assert!(deliveries(&lab.ok(2, cancel)).is_empty());
    assert!(deliveries(&lab.ok(2, nack(held, true))).is_empty());
    assert!(
        deliveries(&lab.publish(1, "", "payments", Properties::default(), "payment 5")).is_empty()
    );
    assert!(deliveries(&lab.advance_ms(30_000)).is_empty());
    assert_eq!(lab.ready(1, "payments"), 4, "payments 2 to 5 wait, ready");
    // Half-open: one trial by basic.get, the requeued payment first.
    let get = Command::BasicGet {
        queue: "payments".into(),
        no_ack: false,
    };
    let (tag, redelivered, left, body) = got(&lab.ok(2, get)).expect("the queue is not empty");
    assert_eq!((redelivered, left, body.as_str()), (true, 3, "payment 2"));
    processed.push(body);
    assert!(deliveries(&lab.ack(2, tag, false)).is_empty());
    // Closed again: consuming resumes where the queue left off.
    outputs = lab.consume(2, "payments", "worker", false);
    while let [delivery] = &deliveries(&outputs)[..] {
        assert!(!delivery.redelivered, "{delivery:?}");
        processed.push(delivery.body());
        outputs = lab.ack(2, delivery.tag, false);
    }
    let expected: Vec<String> = (1..=5)
        .map(|payment| format!("payment {payment}"))
        .collect();
    assert_eq!(
        processed, expected,
        "every payment processed once, none lost"
    );
    assert_eq!(lab.ready(1, "payments"), 0);
}

/// The ready and unacknowledged messages of `queue`, as the broker reports them.
fn depth(lab: &Lab, queue: &str) -> (u64, u64) {
    let mut infos = lab.broker.queue_infos().into_iter();
    let info = infos.find(|info| &*info.name == queue);
    let info = info.expect("the queue exists");
    (info.messages_ready, info.messages_unacknowledged)
}

#[test]
fn metrics_from_events_agree_with_the_core_counters_and_queue_depths() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "orders", false, FieldTable::new());
    lab.connect(2);
    lab.qos(2, 2);
    lab.consume(2, "orders", "worker", false);
    let mut depths = Vec::new();
    for order in 1..=4 {
        lab.publish(
            1,
            "",
            "orders",
            Properties::default(),
            &format!("order {order}"),
        );
        depths.push(depth(&lab, "orders"));
    }
    lab.ack(2, 1, false);
    depths.push(depth(&lab, "orders"));
    lab.ok(2, nack(2, true));
    depths.push(depth(&lab, "orders"));
    lab.ack(2, 3, false);
    depths.push(depth(&lab, "orders"));
    lab.ack(2, 0, true);
    depths.push(depth(&lab, "orders"));
    let expected = [
        (0, 1),
        (0, 2),
        (1, 2),
        (2, 2),
        (1, 2),
        (1, 2),
        (0, 2),
        (0, 0),
    ];
    assert_eq!(depths, expected, "(ready, unacknowledged) after each step");
    let events = lab.take_events();
    let count =
        |matches: fn(&Event) -> bool| events.iter().filter(|event| matches(event)).count() as u64;
    let published = count(|event| matches!(event, Event::Published { .. }));
    let delivered = count(|event| matches!(event, Event::Delivered { .. }));
    let redelivered = count(|event| {
        matches!(
            event,
            Event::Delivered {
                redelivered: true,
                ..
            }
        )
    });
    let acked = count(|event| matches!(event, Event::Acked { .. }));
    let requeued = count(|event| matches!(event, Event::Requeued { .. }));
    assert_eq!(
        (published, delivered, redelivered, acked, requeued),
        (4, 5, 1, 4, 1)
    );
    let counters = *lab.broker.counters();
    assert_eq!(
        (
            counters.received,
            counters.routed,
            counters.delivered(),
            counters.redelivered,
            counters.acknowledged
        ),
        (published, published, delivered, redelivered, acked),
        "the counters agree with the events"
    );
}

#[test]
fn graceful_shutdown_confirms_what_was_taken_refuses_later_publishes_with_320_and_requeues_what_is_held(
) {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "orders", false, FieldTable::new());
    lab.ok(1, Command::ConfirmSelect);
    lab.connect(2);
    lab.qos(2, 2);
    lab.consume(2, "orders", "worker", false);
    lab.batched_syncs = true;
    let persistent = || Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let mut before_sync = Vec::new();
    for order in 1..=3 {
        before_sync.extend(lab.publish(1, "", "orders", persistent(), &format!("order {order}")));
    }
    before_sync.extend(lab.ack(2, 1, false));
    let confirms = |outputs: &[Output]| -> Vec<u64> {
        let confirm = |output: &Output| match output {
            Output::Reply {
                conn,
                reply: Reply::ConfirmAck { delivery_tag, .. },
                ..
            } if conn.0 == 1 => Some(*delivery_tag),
            _ => None,
        };
        outputs.iter().filter_map(confirm).collect()
    };
    assert!(
        confirms(&before_sync).is_empty(),
        "confirms wait for the sync"
    );
    assert_eq!(
        confirms(&lab.sync()),
        [1, 2, 3],
        "the shutdown's sync confirms every publish taken"
    );
    lab.take_events();
    let refused = lab.step(Input::Refused {
        conn: ConnectionId(1),
        channel: ChannelId(1),
        command: Command::BasicPublish {
            exchange: "".into(),
            routing_key: "orders".into(),
            mandatory: false,
            immediate: false,
            properties: Arc::new(persistent()).into(),
            body: Bytes::from_static(b"order 4"),
        },
        code: ReplyCode::ConnectionForced,
        text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
            .to_owned(),
    });
    assert_eq!(
        refusal(&refused),
        Some((CloseScope::Connection, ReplyCode::ConnectionForced))
    );
    assert!(
        published(&lab.take_events()).is_empty(),
        "order 4 was never taken"
    );
    lab.ack(2, 2, false);
    lab.sync();
    lab.disconnect(2);
    let requeued: Vec<&Event> = lab
        .events
        .iter()
        .filter(|event| matches!(event, Event::Requeued { .. }))
        .collect();
    assert_eq!(
        requeued.len(),
        1,
        "the order the worker still held: {requeued:?}"
    );
    lab.sync();
    assert_eq!(
        depth(&lab, "orders"),
        (1, 0),
        "order 3 waits, ready, for the restart"
    );
    assert_eq!(lab.broker.counters().confirmed, 3);
}

#[test]
fn credit_flow_pauses_a_publisher_while_its_consumed_queue_is_over_the_high_mark() {
    let flow = brokerlab_core::Flow {
        ready_high: 2,
        ready_low: 1,
        stall_ms: 60_000,
    };
    let mut lab = Lab::with_config(Config {
        flow: Some(flow),
        ..Config::default()
    });
    lab.connect(1);
    lab.declare(1, "jobs", false, FieldTable::new());
    lab.connect(2);
    lab.qos(2, 1);
    lab.consume(2, "jobs", "worker", false);
    let pauses = |outputs: &[Output]| -> Vec<(u64, bool)> {
        let pause = |output: &Output| match output {
            Output::Pause { conn, paused } => Some((conn.0, *paused)),
            _ => None,
        };
        outputs.iter().filter_map(pause).collect()
    };
    let mut steps = Vec::new();
    for job in 1..=4 {
        steps.push(pauses(&lab.publish(
            1,
            "",
            "jobs",
            Properties::default(),
            &format!("job {job}"),
        )));
    }
    for tag in 1..=2 {
        steps.push(pauses(&lab.ack(2, tag, false)));
    }
    let expected = [
        vec![],
        vec![],
        vec![],
        vec![(1, true)],
        vec![],
        vec![(1, false)],
    ];
    assert_eq!(
        steps, expected,
        "paused at 3 ready (over 2), read again at 1"
    );
    assert_eq!(depth(&lab, "jobs"), (1, 1), "nothing refused or dropped");
}

#[test]
fn memory_alarm_blocks_publishers_until_acks_bring_the_held_bytes_under_the_low_mark() {
    let alarm = brokerlab_core::MemoryAlarm {
        high_bytes: 64,
        low_bytes: 48,
    };
    let mut lab = Lab::with_config(Config {
        memory_alarm: Some(alarm),
        ..Config::default()
    });
    lab.connect(1);
    lab.declare(1, "chunks", false, FieldTable::new());
    lab.connect(2);
    lab.qos(2, 1);
    lab.consume(2, "chunks", "worker", false);
    let alarm_replies = |outputs: &[Output]| -> Vec<(u64, &'static str)> {
        let reply = |output: &Output| match output {
            Output::Reply {
                conn,
                reply: Reply::ConnectionBlocked,
                ..
            } => Some((conn.0, "blocked")),
            Output::Reply {
                conn,
                reply: Reply::ConnectionUnblocked,
                ..
            } => Some((conn.0, "unblocked")),
            _ => None,
        };
        outputs.iter().filter_map(reply).collect()
    };
    let mut steps = Vec::new();
    for chunk in 1..=5 {
        let body = format!("chunk {chunk} of the video");
        assert_eq!(body.len(), 20);
        steps.push((
            lab.broker.held_bytes(),
            alarm_replies(&lab.publish(1, "", "chunks", Properties::default(), &body)),
        ));
    }
    for tag in 1..=3 {
        steps.push((
            lab.broker.held_bytes(),
            alarm_replies(&lab.ack(2, tag, false)),
        ));
    }
    let expected = [
        (0, vec![]),
        (20, vec![]),
        (40, vec![]),
        (60, vec![]),
        (80, vec![(1, "blocked")]),
        (100, vec![]),
        (80, vec![]),
        (60, vec![(1, "unblocked")]),
    ];
    assert_eq!(steps, expected, "(bytes held before the step, what the step said): blocked on publishing over 64, released under 48; the consumer never");
    assert_eq!(lab.broker.held_bytes(), 40);
    assert_eq!(depth(&lab, "chunks"), (1, 1), "nothing refused or dropped");
}

#[test]
fn durability_keeps_what_was_confirmed_across_a_crash_and_nothing_transient() {
    let mut lab = Lab::new();
    lab.connect(1);
    lab.declare(1, "payments", false, FieldTable::new());
    lab.ok(1, Command::ConfirmSelect);
    lab.batched_syncs = true;
    let persistent = || Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    let confirms = |outputs: &[Output]| -> Vec<u64> {
        let confirm = |output: &Output| match output {
            Output::Reply {
                reply: Reply::ConfirmAck { delivery_tag, .. },
                ..
            } => Some(*delivery_tag),
            _ => None,
        };
        outputs.iter().filter_map(confirm).collect()
    };
    let first = lab.publish(1, "", "payments", persistent(), "payment 1");
    assert!(
        confirms(&first).is_empty(),
        "a persistent confirm waits for the sync"
    );
    let second = lab.publish(1, "", "payments", Properties::default(), "payment 2");
    assert_eq!(
        confirms(&second),
        [2],
        "a transient message is confirmed at once"
    );
    assert_eq!(
        confirms(&lab.sync()),
        [1],
        "the sync confirms the persistent one"
    );
    let third = lab.publish(1, "", "payments", persistent(), "payment 3");
    assert!(confirms(&third).is_empty());
    lab.crash_and_recover();
    lab.connect(2);
    let kept = deliveries(&lab.consume(2, "payments", "worker", false));
    let kept: Vec<(String, bool)> = kept
        .iter()
        .map(|delivery| (delivery.body(), delivery.redelivered))
        .collect();
    assert_eq!(
        kept,
        [("payment 1".to_owned(), true)],
        "only the confirmed persistent payment survives, flagged redelivered"
    );
}
