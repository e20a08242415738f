//! What the core benches share: the publish → deliver → ack traffic and its
//! floor, the publishes and the properties they carry, and the words of the
//! topic benches' binding patterns and routing keys, so that
//! `benches/core.rs`, `benches/paired.rs` and `benches/publish_loop.rs`
//! measure the same thing.
// Each bench uses a part of this module.
#![allow(dead_code)]

use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, Event, FieldTable, Input, Instant, Name,
    Output, PublishProperties, Reply,
};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;

/// Deliveries between two acks with multiple=true.
pub const ACK_EVERY: u64 = 100;

/// Hands the broker a command on channel 1 of connection `conn`.
pub fn command(broker: &mut Broker, conn: u64, command: Command) {
    broker.handle(
        Instant(0),
        Input::Command {
            conn: ConnectionId(conn),
            channel: ChannelId(1),
            command,
        },
    );
}

/// Polls every output and drains the events (counting the acks, as a
/// metrics observer would); returns how many outputs were deliveries.
pub fn drain(broker: &mut Broker) -> u64 {
    let mut deliveries = 0;
    while let Some(output) = broker.poll_output() {
        if let Output::Reply {
            reply: Reply::Deliver { .. },
            ..
        } = output
        {
            deliveries += 1;
        }
    }
    let mut acks = 0_u64;
    broker.drain_events(|event| {
        if let Event::Acked { .. } = event {
            acks += 1;
        }
    });
    black_box(acks);
    deliveries
}

/// Opens connection `conn` (as guest, on vhost `/`) and its channel 1.
pub fn connect(broker: &mut Broker, conn: u64) {
    broker.handle(
        Instant(0),
        Input::Connect {
            conn: ConnectionId(conn),
            user: "guest".into(),
            vhost: "/".into(),
            channel_max: u16::MAX,
        },
    );
    command(broker, conn, Command::ChannelOpen);
}

/// queue.declare of a plain transient queue.
pub fn declare(queue: &str) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    }
}

/// queue.bind.
pub fn bind(queue: &str, exchange: &str, key: &str) -> Command {
    Command::QueueBind {
        queue: queue.into(),
        exchange: exchange.into(),
        routing_key: key.into(),
        arguments: FieldTable::new(),
    }
}

/// basic.consume with a server-named tag.
pub fn consume(queue: &str, no_ack: bool) -> Command {
    Command::BasicConsume {
        queue: queue.into(),
        consumer_tag: String::new(),
        no_ack,
        exclusive: false,
        arguments: FieldTable::new(),
    }
}

/// A broker with queue `q` bound to `amq.direct` under `k`, a publisher on
/// connection 1 and a consumer with prefetch 1000 on connection 2; with or
/// without its events.
pub fn direct_setup(events: bool) -> Broker {
    consumers_setup(events, 1)
}

/// `direct_setup` with `consumers` consumers on queue `q`, each on its own
/// connection (2, 3, ...) with prefetch 1000: the broker hands the queue's
/// messages to them in turn.
pub fn consumers_setup(events: bool, consumers: u64) -> Broker {
    let config = Config {
        events,
        ..Config::default()
    };
    let mut broker = Broker::new(config);
    connect(&mut broker, 1);
    command(&mut broker, 1, declare("q"));
    command(&mut broker, 1, bind("q", "amq.direct", "k"));
    for conn in 2..2 + consumers {
        connect(&mut broker, conn);
        command(
            &mut broker,
            conn,
            Command::BasicQos {
                prefetch_size: 0,
                prefetch_count: 1000,
                global: false,
            },
        );
        command(&mut broker, conn, consume("q", false));
    }
    drain(&mut broker);
    broker
}

/// The direct traffic: `messages` publishes to `direct_setup`'s broker, each
/// delivered, and an ack with multiple=true every `ACK_EVERY` deliveries.
/// `acked` carries the last acked tag from one call to the next.
pub fn publish_deliver_ack(
    broker: &mut Broker,
    exchange: &Name,
    key: &Name,
    body: &Bytes,
    acked: &mut u64,
    messages: u64,
) {
    let mut delivered = *acked;
    for _ in 0..messages {
        command(broker, 1, transient_publish(exchange, key, body));
        delivered += drain(broker);
        if delivered - *acked >= ACK_EVERY {
            command(
                broker,
                2,
                Command::BasicAck {
                    delivery_tag: delivered,
                    multiple: true,
                },
            );
            *acked = delivered;
            drain(broker);
        }
    }
    assert_eq!(
        delivered - *acked,
        0,
        "every message was delivered and acked"
    );
}

/// The data-structure floor of the direct traffic: each message through a
/// `VecDeque` and a map of in-flight tags, removed from the map in runs of
/// `ACK_EVERY`.
#[derive(Default)]
pub struct Floor {
    queue: VecDeque<(u64, Bytes)>,
    in_flight: HashMap<u64, Bytes>,
    next_tag: u64,
    acked: u64,
}

impl Floor {
    /// Puts `messages` messages through. The state lives in locals for the
    /// loop, as it did when the floor was written inline in the bench.
    pub fn run(&mut self, body: &Bytes, messages: u64) {
        let Floor {
            queue,
            in_flight,
            next_tag,
            acked,
        } = &mut *self;
        let (mut next_tag, mut acked) = ((*next_tag).max(1), *acked);
        for id in 0..messages {
            queue.push_back((id, body.clone()));
            let (_, message) = queue.pop_front().expect("just pushed");
            in_flight.insert(next_tag, message);
            next_tag += 1;
            if next_tag - 1 - acked >= ACK_EVERY {
                for tag in acked + 1..next_tag {
                    black_box(in_flight.remove(&tag));
                }
                acked = next_tag - 1;
            }
        }
        (self.next_tag, self.acked) = (next_tag, acked);
    }
}

/// Each consumer's delivery tags in the traffic of `publish_deliver_ack_consumers`:
/// the last delivered and the last acked, carried from one call to the next.
#[derive(Clone, Copy, Default)]
pub struct Tags {
    pub delivered: u64,
    pub acked: u64,
}

/// The direct traffic with several consumers on the queue
/// (`consumers_setup`, one `Tags` per consumer): `messages` publishes, each
/// delivered to one consumer, and each consumer acks with multiple=true every
/// `ACK_EVERY` of its own deliveries.
pub fn publish_deliver_ack_consumers(
    broker: &mut Broker,
    exchange: &Name,
    key: &Name,
    body: &Bytes,
    tags: &mut [Tags],
    messages: u64,
) {
    for _ in 0..messages {
        command(broker, 1, transient_publish(exchange, key, body));
        let mut to = None;
        while let Some(output) = broker.poll_output() {
            if let Output::Reply {
                conn,
                reply: Reply::Deliver { delivery_tag, .. },
                ..
            } = output
            {
                let consumer = (conn.0 - 2) as usize;
                tags[consumer].delivered = delivery_tag;
                to = Some(consumer);
            }
        }
        let mut acks = 0_u64;
        broker.drain_events(|event| {
            if let Event::Acked { .. } = event {
                acks += 1;
            }
        });
        black_box(acks);
        let consumer = to.expect("every message was delivered");
        let Tags { delivered, acked } = tags[consumer];
        if delivered - acked >= ACK_EVERY {
            command(
                broker,
                2 + consumer as u64,
                Command::BasicAck {
                    delivery_tag: delivered,
                    multiple: true,
                },
            );
            tags[consumer].acked = delivered;
            drain(broker);
        }
    }
}

/// The floor of `publish_deliver_ack_consumers`: each message through one
/// `VecDeque`, then into the map of in-flight tags of the next consumer in
/// turn, each map emptied in runs of `ACK_EVERY`. With one consumer it is
/// `Floor` plus the choice of the consumer.
pub struct ConsumersFloor {
    queue: VecDeque<(u64, Bytes)>,
    consumers: Vec<FloorConsumer>,
    next: usize,
}

#[derive(Default)]
struct FloorConsumer {
    in_flight: HashMap<u64, Bytes>,
    next_tag: u64,
    acked: u64,
}

impl ConsumersFloor {
    pub fn new(consumers: usize) -> Self {
        ConsumersFloor {
            queue: VecDeque::new(),
            consumers: (0..consumers)
                .map(|_| FloorConsumer {
                    next_tag: 1,
                    ..FloorConsumer::default()
                })
                .collect(),
            next: 0,
        }
    }

    /// Puts `messages` messages through.
    pub fn run(&mut self, body: &Bytes, messages: u64) {
        for id in 0..messages {
            self.queue.push_back((id, body.clone()));
            let (_, message) = self.queue.pop_front().expect("just pushed");
            let next = self.next;
            self.next = (next + 1) % self.consumers.len();
            let consumer = &mut self.consumers[next];
            consumer.in_flight.insert(consumer.next_tag, message);
            consumer.next_tag += 1;
            if consumer.next_tag - 1 - consumer.acked >= ACK_EVERY {
                for tag in consumer.acked + 1..consumer.next_tag {
                    black_box(consumer.in_flight.remove(&tag));
                }
                consumer.acked = consumer.next_tag - 1;
            }
        }
    }
}

/// A transient publish without confirms, as every message bench sends it.
/// Its properties repeat the channel's last publish's, as the server sends a
/// publish whose content header repeats them (`LastProperties` in
/// server/src/connection/content.rs); on a channel that has not published,
/// that is the default properties, which is what the benches' messages carry.
/// Always inlined, as the benches built it in place before: a call here adds
/// about 30 instructions per message to what the benches count as the core's.
#[inline(always)]
pub fn transient_publish(exchange: &Name, key: &Name, body: &Bytes) -> Command {
    Command::BasicPublish {
        exchange: exchange.clone(),
        routing_key: key.clone(),
        mandatory: false,
        immediate: false,
        properties: PublishProperties::Repeated,
        body: body.clone(),
    }
}

/// Words drawn by a fixed LCG, so runs are identical; `Words(42)` is the
/// benches' seed.
pub struct Words(pub u64);

impl Words {
    fn next(&mut self, choices: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % choices
    }

    /// One of 1,000 words.
    fn word(&mut self) -> String {
        format!("w{}", self.next(1_000))
    }

    /// A binding pattern of 3 or 4 words: 10% `*`, 3% `#`, the rest literal.
    pub fn pattern(&mut self) -> String {
        let words = 3 + self.next(2);
        (0..words)
            .map(|_| match self.next(100) {
                0..=2 => "#".to_owned(),
                3..=12 => "*".to_owned(),
                _ => self.word(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A routing key of 3 or 4 literal words.
    pub fn key(&mut self) -> String {
        let words = 3 + self.next(2);
        (0..words)
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(".")
    }
}
