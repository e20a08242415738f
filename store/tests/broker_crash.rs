//! The core and the simulated disk together: a broker whose log lives on a
//! `SimStore` crashes (unsynced writes lost, some written back, the last one
//! torn or with flipped bits), recovers from what the disk kept, and goes on;
//! at the end nothing acknowledged is lost and nothing settled comes back.

use brokerlab_core::record::Record;
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output,
    Properties, Reply,
};
use brokerlab_store::{CrashFaults, SimStore, Store};
use bytes::Bytes;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Clone, Debug)]
enum Op {
    Publish,
    Get,
    Ack,
    Reject { requeue: bool },
    Sync,
    Compact,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Publish),
        3 => Just(Op::Get),
        2 => Just(Op::Ack),
        1 => any::<bool>().prop_map(|requeue| Op::Reject { requeue }),
        2 => Just(Op::Sync),
        1 => Just(Op::Compact),
        1 => Just(Op::Crash),
    ]
}

const FAULTS: CrashFaults = CrashFaults {
    writeback_per_mille: 500,
    torn_write_per_mille: 500,
    flip_bits_per_mille: 300,
};

/// A broker on a simulated disk, with a producer (connection 1, confirms on)
/// and a consumer (connection 2), and what those clients saw.
struct Node {
    broker: Broker,
    store: SimStore,
    confirm_bodies: BTreeMap<u64, String>,
    unacked: BTreeMap<u64, String>,
    confirmed: BTreeSet<String>,
    /// Settled for good by the consumer since the last completed sync.
    settled_pending: BTreeSet<String>,
    settled_synced: BTreeSet<String>,
    settled_ever: BTreeSet<String>,
    /// Handed to the consumer since the last completed sync.
    delivered_pending: BTreeSet<String>,
    delivered_synced: BTreeSet<String>,
    published: BTreeSet<String>,
}

impl Node {
    fn input(&mut self, input: Input) -> Vec<Reply> {
        self.broker.handle(Instant(0), input);
        let mut replies = Vec::new();
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Persist(record) => self
                    .store
                    .append(&record)
                    .expect("the simulated disk takes every record"),
                Output::Reply { reply, .. } => replies.push(reply),
                // Without credit flow or the memory alarm nothing is paused.
                Output::Pause { .. } => unreachable!("no pauses in this broker"),
                Output::Stream { .. } => unreachable!("this test sends no stream command"),
                Output::PubSub { .. } | Output::PubSubPublished { .. } => {
                    unreachable!("this test sends no Pub/Sub command")
                }
                Output::Sqs { .. } => unreachable!("this test sends no SQS action"),
            }
        }
        self.broker.drain_events(|_| {});
        for reply in &replies {
            if let Reply::ConfirmAck { delivery_tag, .. } = reply {
                self.confirmed
                    .insert(self.confirm_bodies[delivery_tag].clone());
            }
        }
        replies
    }

    fn send(&mut self, conn: u64, command: Command) -> Vec<Reply> {
        self.input(Input::Command {
            conn: ConnectionId(conn),
            channel: ChannelId(1),
            command,
        })
    }

    /// Connects both clients to a fresh broker incarnation.
    fn open_clients(&mut self) {
        for conn in [1, 2] {
            let connect = Input::Connect {
                conn: ConnectionId(conn),
                user: "guest".into(),
                vhost: "/".into(),
                channel_max: u16::MAX,
            };
            self.input(connect);
            self.send(conn, Command::ChannelOpen);
        }
        self.send(1, Command::ConfirmSelect);
        let declare = Command::QueueDeclare {
            queue: "q".into(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        };
        self.send(1, declare);
        self.confirm_bodies.clear();
        self.unacked.clear();
    }

    fn sync(&mut self) {
        if let Some(upto) = self.store.sync().expect("the simulated disk syncs") {
            self.input(Input::Synced { upto });
        }
        // What happened before a completed sync is on the disk for good.
        self.settled_synced.append(&mut self.settled_pending);
        self.delivered_synced.append(&mut self.delivered_pending);
    }

    fn crash(&mut self, rng: &mut ChaCha8Rng) {
        // Unsynced deliveries and settles may or may not survive the crash.
        self.settled_pending.clear();
        self.delivered_pending.clear();
        self.store.crash(rng, FAULTS);
        let records: Vec<Record> = self
            .store
            .recover()
            .expect("a crash leaves a recoverable log");
        self.broker = Broker::recover(Config::default(), records);
        self.open_clients();
    }

    fn step(&mut self, index: usize, op: &Op, rng: &mut ChaCha8Rng) {
        match op {
            Op::Publish => {
                let body = format!("m{index:03}");
                let seq = self.confirm_bodies.len() as u64 + 1;
                self.confirm_bodies.insert(seq, body.clone());
                self.published.insert(body.clone());
                let properties = Properties {
                    delivery_mode: Some(2),
                    ..Properties::default()
                };
                let publish = Command::BasicPublish {
                    exchange: "".into(),
                    routing_key: "q".into(),
                    mandatory: false,
                    immediate: false,
                    properties: Arc::new(properties).into(),
                    body: Bytes::from(body),
                };
                self.send(1, publish);
            }
            Op::Get => {
                for reply in self.send(
                    2,
                    Command::BasicGet {
                        queue: "q".into(),
                        no_ack: false,
                    },
                ) {
                    if let Reply::GetOk {
                        delivery_tag,
                        message,
                        ..
                    } = reply
                    {
                        let body = String::from_utf8_lossy(&message.body).into_owned();
                        self.delivered_pending.insert(body.clone());
                        self.unacked.insert(delivery_tag, body);
                    }
                }
            }
            Op::Ack | Op::Reject { .. } => {
                let Some((tag, body)) = self.unacked.pop_first() else {
                    return;
                };
                let (command, settles) = match op {
                    Op::Reject { requeue } => (
                        Command::BasicReject {
                            delivery_tag: tag,
                            requeue: *requeue,
                        },
                        !requeue,
                    ),
                    _ => (
                        Command::BasicAck {
                            delivery_tag: tag,
                            multiple: false,
                        },
                        true,
                    ),
                };
                self.send(2, command);
                if settles {
                    self.settled_pending.insert(body.clone());
                    self.settled_ever.insert(body);
                }
            }
            Op::Sync => self.sync(),
            Op::Compact => {
                let snapshot = self.broker.snapshot();
                self.store
                    .compact(&snapshot)
                    .expect("a fresh snapshot is never stale");
                self.sync();
            }
            Op::Crash => self.crash(rng),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn crashes_on_a_faulty_disk_lose_nothing_acknowledged(ops in proptest::collection::vec(op(), 1..50), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = SimStore::new();
        store.recover().expect("an empty disk recovers");
        let mut node = Node {
            broker: Broker::new(Config::default()),
            store,
            confirm_bodies: BTreeMap::new(),
            unacked: BTreeMap::new(),
            confirmed: BTreeSet::new(),
            settled_pending: BTreeSet::new(),
            settled_synced: BTreeSet::new(),
            settled_ever: BTreeSet::new(),
            delivered_pending: BTreeSet::new(),
            delivered_synced: BTreeSet::new(),
            published: BTreeSet::new(),
        };
        node.open_clients();
        for (index, op) in ops.iter().enumerate() {
            node.step(index, op, &mut rng);
        }
        node.crash(&mut rng);
        let mut left = Vec::new();
        for _ in 0..1_000 {
            let replies = node.send(2, Command::BasicGet { queue: "q".into(), no_ack: true });
            let Some(Reply::GetOk { message, redelivered, .. }) = replies.into_iter().next() else { break };
            left.push((String::from_utf8_lossy(&message.body).into_owned(), redelivered));
        }
        let bodies: Vec<&String> = left.iter().map(|(body, _)| body).collect();
        let mut ordered = bodies.clone();
        ordered.sort();
        prop_assert_eq!(&bodies, &ordered, "publish order kept");
        for (body, redelivered) in &left {
            prop_assert!(node.published.contains(body), "phantom {}", body);
            prop_assert!(!node.settled_synced.contains(body), "synced settle came back: {}", body);
            if node.delivered_synced.contains(body) {
                prop_assert!(*redelivered, "{} was delivered before a sync: must be flagged", body);
            }
        }
        for body in &node.confirmed {
            let kept = left.iter().any(|(other, _)| other == body);
            prop_assert!(kept || node.settled_ever.contains(body), "confirmed {} lost", body);
        }
    }
}
