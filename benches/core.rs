//! Core benches: the publish → deliver → ack path against its data-structure
//! floor, over message size and consumer count too, topic routing against 10,000 bindings, recovery, and a queue's
//! declare and delete among 100,000 exchanges against the same with none.
//!
//! `cargo bench --bench core`. Figures and the core/floor ratio go into
//! reports/bench-core.md.

use brokerlab_core::record::{Change, Record};
use brokerlab_core::routing::TopicRouter;
use brokerlab_core::Name;
use brokerlab_core::SharedMessage;
use brokerlab_core::{Broker, Config, FieldTable, Properties};
use brokerlab_core::{Message, MessageId};
use bytes::Bytes;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use std::sync::Arc;

mod support;

use support::{
    bind, command, connect, consume, consumers_setup, declare, direct_setup, drain,
    publish_deliver_ack, publish_deliver_ack_consumers, transient_publish, ConsumersFloor, Floor,
    Tags, Words,
};

/// Messages per measured iteration.
const MESSAGES: u64 = 10_000;
/// Topic bindings in the routing bench.
const TOPIC_BINDINGS: usize = 10_000;
/// Routing keys published per iteration of the routing bench.
const TOPIC_KEYS: usize = 1024;
/// Body sizes of the publish → deliver → ack path over message size.
const SIZES: [usize; 4] = [16, 256, 4096, 65536];
/// Consumers on the one queue of the path over consumer count.
const CONSUMERS: [u64; 3] = [1, 4, 16];

fn bench_publish_deliver_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(MESSAGES));
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    group.bench_function("publish_deliver_ack/direct", |b| {
        let mut broker = direct_setup(true);
        let mut acked = 0;
        b.iter(|| publish_deliver_ack(&mut broker, &exchange, &key, &body, &mut acked, MESSAGES));
    });
    group.bench_function("publish_deliver_ack/direct_no_events", |b| {
        let mut broker = direct_setup(false);
        let mut acked = 0;
        b.iter(|| publish_deliver_ack(&mut broker, &exchange, &key, &body, &mut acked, MESSAGES));
    });
    group.bench_function("floor/vecdeque_map", |b| {
        let mut floor = Floor::default();
        b.iter(|| floor.run(&body, MESSAGES));
    });
    group.finish();
}

/// The publish → deliver → ack path (events on) over body size, each size's
/// floor measured right after it: the same body through `Floor`. A body is
/// shared, never copied, by the broker and by the floor alike.
fn bench_publish_deliver_ack_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(MESSAGES));
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    for size in SIZES {
        let body = Bytes::from(vec![7; size]);
        group.bench_with_input(
            BenchmarkId::new("publish_deliver_ack/size", size),
            &body,
            |b, body| {
                let mut broker = direct_setup(true);
                let mut acked = 0;
                b.iter(|| {
                    publish_deliver_ack(&mut broker, &exchange, &key, body, &mut acked, MESSAGES)
                });
            },
        );
        group.bench_with_input(BenchmarkId::new("floor/size", size), &body, |b, body| {
            let mut floor = Floor::default();
            b.iter(|| floor.run(body, MESSAGES));
        });
    }
    group.finish();
}

/// The path (events on, 16-byte bodies) with 1, 4 and 16 consumers on the
/// one queue, each acking its own deliveries every `ACK_EVERY`; each count's
/// floor, `ConsumersFloor` with as many in-flight maps, measured right after.
fn bench_publish_deliver_ack_consumers(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(MESSAGES));
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    for consumers in CONSUMERS {
        group.bench_with_input(
            BenchmarkId::new("publish_deliver_ack/consumers", consumers),
            &consumers,
            |b, &consumers| {
                let mut broker = consumers_setup(true, consumers);
                let mut tags = vec![Tags::default(); consumers as usize];
                b.iter(|| {
                    publish_deliver_ack_consumers(
                        &mut broker,
                        &exchange,
                        &key,
                        &body,
                        &mut tags,
                        MESSAGES,
                    )
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor/consumers", consumers),
            &consumers,
            |b, &consumers| {
                let mut floor = ConsumersFloor::new(consumers as usize);
                b.iter(|| floor.run(&body, MESSAGES));
            },
        );
    }
    group.finish();
}

/// A broker with `TOPIC_BINDINGS` mixed `*`/`#` bindings on `amq.topic`, spread
/// over 10 queues that each have a no-ack consumer, and the keys to publish.
fn topic_setup() -> (Broker, Vec<Name>) {
    let mut broker = Broker::new(Config {
        events: true,
        ..Config::default()
    });
    connect(&mut broker, 1);
    let mut words = Words(42);
    for queue in 0..10 {
        command(&mut broker, 1, declare(&format!("q{queue}")));
        command(&mut broker, 1, consume(&format!("q{queue}"), true));
    }
    for binding in 0..TOPIC_BINDINGS {
        let pattern = words.pattern();
        command(
            &mut broker,
            1,
            bind(&format!("q{}", binding % 10), "amq.topic", &pattern),
        );
    }
    drain(&mut broker);
    let keys = (0..TOPIC_KEYS).map(|_| words.key().into()).collect();
    (broker, keys)
}

fn publish_keys(broker: &mut Broker, exchange: &Name, keys: &[Name], body: &Bytes) -> u64 {
    let mut deliveries = 0;
    for key in keys {
        command(broker, 1, transient_publish(exchange, key, body));
        deliveries += drain(broker);
    }
    deliveries
}

fn bench_topic_routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(TOPIC_KEYS as u64));
    group.bench_function("route/topic_10k", |b| {
        // Built here, so runs filtered to other benches do not pay for it.
        let (mut broker, keys) = topic_setup();
        let exchange: Name = "amq.topic".into();
        let body = Bytes::from_static(&[7; 16]);
        let deliveries = publish_keys(&mut broker, &exchange, &keys, &body);
        // Each publish costs its routing plus one delivery per queue it
        // reaches; printed so the report can separate the two.
        static PRINTED: std::sync::Once = std::sync::Once::new();
        PRINTED.call_once(|| {
            eprintln!(
                "route/topic_10k: {:.2} deliveries per publish",
                deliveries as f64 / keys.len() as f64
            );
        });
        b.iter(|| publish_keys(&mut broker, &exchange, &keys, &body));
    });
    // Routing alone: the same bindings and keys through the broker's topic
    // trie (`TopicRouter`), matched destinations sorted and deduplicated as
    // a publish has them, without enqueueing or delivering.
    group.bench_function("route/topic_10k_match", |b| {
        let (mut router, keys) = topic_router_setup();
        let mut out = Vec::new();
        b.iter(|| {
            let mut matched = 0;
            for key in &keys {
                router.route(key, &mut out);
                matched += out.len();
            }
            matched
        });
    });
    group.finish();
}

/// The bindings and keys of `topic_setup`, in a `TopicRouter`.
fn topic_router_setup() -> (TopicRouter, Vec<Name>) {
    let mut router = TopicRouter::new();
    let mut words = Words(42);
    for binding in 0..TOPIC_BINDINGS {
        let pattern = words.pattern();
        router.bind(&pattern, (binding % 10) as u32);
    }
    let keys = (0..TOPIC_KEYS).map(|_| words.key().into()).collect();
    (router, keys)
}

/// Messages in the recovery bench.
const RECOVERED: u64 = 1_000_000;

/// A log holding one durable queue and `RECOVERED` persistent 16-byte messages.
fn recovery_log() -> Vec<Record> {
    let declared = Change::QueueDeclared {
        vhost: "/".into(),
        name: "q".into(),
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    let properties = Arc::new(Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    });
    let (exchange, key): (Name, Name) = ("".into(), "q".into());
    let mut log = vec![Record {
        lsn: 1,
        change: declared,
    }];
    for seq in 0..RECOVERED {
        let message = Message {
            id: MessageId(seq + 1),
            envelope: brokerlab_core::Envelope::shared(
                exchange.clone(),
                key.clone(),
                properties.clone(),
            ),
            body: Bytes::from_static(&[7; 16]).into(),
        };
        let change = Change::Enqueued {
            vhost: "/".into(),
            queue: "q".into(),
            seq,
            message: SharedMessage::new(message),
            expires_at: None,
            delivery_count: 0,
        };
        log.push(Record {
            lsn: seq + 2,
            change,
        });
    }
    log
}

fn bench_recovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECOVERED));
    group.bench_function("recover_1m", |b| {
        // Built here, so runs filtered to other benches do not pay for it.
        let log = recovery_log();
        b.iter_batched(
            || log.clone(),
            |log| Broker::recover(Config::default(), log),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// What one shared reference costs on this machine: an `Arc` clone and its
/// drop (two atomic instructions) against an `Rc` clone and drop, each into a
/// short vector as the broker's queues and outputs hold them. The
/// publish → deliver → ack path keeps five such instructions per message
/// (the shared properties and the message itself, which must stay `Send` for
/// drivers), and the report sets its figures against this one.
fn bench_reference_counts(c: &mut Criterion) {
    const HELD: usize = 16;
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("cost/arc_clone_drop", |b| {
        let shared: Arc<str> = "amq.direct".into();
        let mut held: Vec<Arc<str>> = Vec::with_capacity(HELD);
        b.iter(|| {
            for _ in 0..MESSAGES {
                if held.len() == HELD {
                    held.clear();
                }
                held.push(black_box(&shared).clone());
            }
        });
    });
    group.bench_function("cost/rc_clone_drop", |b| {
        let shared: std::rc::Rc<str> = "amq.direct".into();
        let mut held: Vec<std::rc::Rc<str>> = Vec::with_capacity(HELD);
        b.iter(|| {
            for _ in 0..MESSAGES {
                if held.len() == HELD {
                    held.clear();
                }
                held.push(black_box(&shared).clone());
            }
        });
    });
    group.finish();
}

/// Unrelated exchanges in the delete bench.
const MANY_EXCHANGES: usize = 100_000;

/// A broker with `exchanges` direct exchanges bound to nothing.
fn exchanges_setup(exchanges: usize) -> Broker {
    let mut broker = Broker::new(Config::default());
    connect(&mut broker, 1);
    for index in 0..exchanges {
        let declare = brokerlab_core::Command::ExchangeDeclare {
            exchange: format!("x{index}"),
            kind: "direct".into(),
            passive: false,
            durable: false,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
        };
        command(&mut broker, 1, declare);
    }
    drain(&mut broker);
    broker
}

/// A queue declared, bound to one exchange, and deleted: the delete visits
/// only the exchanges bound to the queue, so among 100,000 others it costs
/// what it costs among none (the peer).
fn bench_delete_among_exchanges(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    for (name, exchanges) in [
        ("delete/queue_among_100k_exchanges", MANY_EXCHANGES),
        ("delete/queue_among_1_exchange", 1),
    ] {
        let mut broker = exchanges_setup(exchanges);
        group.bench_function(name, |b| {
            b.iter(|| {
                command(&mut broker, 1, declare("doomed"));
                command(&mut broker, 1, bind("doomed", "x0", "k"));
                let delete = brokerlab_core::Command::QueueDelete {
                    queue: "doomed".into(),
                    if_unused: false,
                    if_empty: false,
                };
                command(&mut broker, 1, delete);
                black_box(drain(&mut broker))
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_publish_deliver_ack,
    bench_publish_deliver_ack_sizes,
    bench_publish_deliver_ack_consumers,
    bench_topic_routing,
    bench_recovery,
    bench_reference_counts,
    bench_delete_among_exchanges
);
criterion_main!(benches);
