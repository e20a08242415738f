//! Crash anywhere, recover, and nothing acknowledged is lost: a property test
//! over random histories of persistent publishes, gets, acks, rejects,
//! channel closes and syncs, crashed at every record boundary from the last
//! sync on (what a store may hold after a crash).

mod support;

use brokerlab_core::{Command, FieldTable, Properties, Reply};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use support::Harness;

#[derive(Clone, Debug)]
enum Op {
    Publish { persistent: bool },
    Get { no_ack: bool },
    Ack,
    Reject { requeue: bool },
    CloseChannel,
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|transient| Op::Publish { persistent: !transient }),
        3 => any::<bool>().prop_map(|no_ack| Op::Get { no_ack }),
        2 => Just(Op::Ack),
        2 => any::<bool>().prop_map(|requeue| Op::Reject { requeue }),
        1 => Just(Op::CloseChannel),
        2 => Just(Op::Sync),
    ]
}

/// What the clients saw before the crash, by message body.
#[derive(Default)]
struct Seen {
    /// Confirmed by the broker (acked).
    confirmed: BTreeSet<String>,
    /// Settled for good by the client (ack, reject without requeue, no-ack get) before the last sync.
    settled_before_sync: BTreeSet<String>,
    /// Handed to a client before the last sync.
    delivered_before_sync: BTreeSet<String>,
    /// Settled for good by the client at any time.
    settled_ever: BTreeSet<String>,
    /// Persistent messages published.
    persistent: BTreeSet<String>,
}

fn run(ops: &[Op]) -> (Harness, Seen, usize) {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.send(1, 1, Command::ConfirmSelect).assert_ok();
    let declare = Command::QueueDeclare {
        queue: "q".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    broker.send(1, 1, declare).assert_ok();
    broker.connect(2);
    let mut seen = Seen::default();
    let (mut settled, mut delivered) = (BTreeSet::new(), BTreeSet::new());
    let mut unacked: BTreeMap<u64, String> = BTreeMap::new();
    let mut confirm_bodies = BTreeMap::new();
    let mut synced_records = 0;
    for (index, op) in ops.iter().enumerate() {
        match op {
            Op::Publish { persistent } => {
                let body = format!("m{index:03}");
                let delivery_mode = persistent.then_some(2);
                let properties = Properties {
                    delivery_mode,
                    ..Properties::default()
                };
                confirm_bodies.insert(confirm_bodies.len() as u64 + 1, body.clone());
                if *persistent {
                    seen.persistent.insert(body.clone());
                }
                let step = broker.publish_with(1, 1, "", "q", &body, properties);
                seen.confirmed.extend(
                    step.confirms()
                        .into_iter()
                        .map(|(seq, _)| confirm_bodies[&seq].clone()),
                );
            }
            Op::Get { no_ack } => {
                let step = broker.get(2, 1, "q", *no_ack);
                if let Some(delivery) = step.deliveries().first() {
                    delivered.insert(delivery.body_str());
                    if *no_ack {
                        settled.insert(delivery.body_str());
                    } else {
                        unacked.insert(delivery.tag, delivery.body_str());
                    }
                }
            }
            Op::Ack | Op::Reject { .. } => {
                let Some((&tag, _)) = unacked.first_key_value() else {
                    continue;
                };
                let body = unacked.remove(&tag).expect("just seen");
                match op {
                    Op::Ack => broker.ack(2, 1, tag, false).assert_ok(),
                    Op::Reject { requeue } => {
                        broker.reject(2, 1, tag, *requeue).assert_ok();
                        if *requeue {
                            continue;
                        }
                    }
                    _ => unreachable!("matched above"),
                }
                settled.insert(body);
            }
            Op::CloseChannel => {
                broker.send(2, 1, Command::ChannelClose).assert_ok();
                broker.open(2, 1);
                unacked.clear();
            }
            Op::Sync => {
                let step = broker.sync();
                seen.confirmed
                    .extend(step.all_replies().into_iter().filter_map(
                        |(_, _, reply)| match reply {
                            Reply::ConfirmAck { delivery_tag, .. } => {
                                Some(confirm_bodies[&delivery_tag].clone())
                            }
                            _ => None,
                        },
                    ));
                synced_records = broker.log.len();
                seen.settled_before_sync.extend(settled.iter().cloned());
                seen.delivered_before_sync.extend(delivered.iter().cloned());
            }
        }
    }
    seen.settled_ever = settled;
    (broker, seen, synced_records)
}

/// Every message of `q` after recovery, as (body, redelivered).
fn recovered(log: &[brokerlab_core::record::Record], cut: usize) -> Vec<(String, bool)> {
    let mut broker = Harness {
        log: log.to_vec(),
        ..Harness::default()
    };
    broker.crash_and_recover(cut);
    broker.connect(9);
    let mut messages = Vec::new();
    for _ in 0..1_000 {
        let step = broker.get(9, 1, "q", true);
        match step.deliveries().first() {
            Some(delivery) => messages.push((delivery.body_str(), delivery.redelivered)),
            None => return messages,
        }
    }
    panic!("more messages than were ever published");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn crash_after_the_last_sync_loses_nothing_acknowledged(ops in proptest::collection::vec(op(), 1..40)) {
        let (broker, seen, synced) = run(&ops);
        let log = broker.log.clone();
        for cut in synced..=log.len() {
            let messages = recovered(&log, cut);
            let bodies: Vec<&String> = messages.iter().map(|(body, _)| body).collect();
            let mut ordered = bodies.clone();
            ordered.sort();
            prop_assert_eq!(&bodies, &ordered, "cut {}: publish order kept", cut);
            for (body, redelivered) in &messages {
                prop_assert!(seen.persistent.contains(body), "cut {}: only persistent messages survive: {}", cut, body);
                prop_assert!(!seen.settled_before_sync.contains(body), "cut {}: synced settle came back: {}", cut, body);
                if seen.delivered_before_sync.contains(body) {
                    prop_assert!(*redelivered, "cut {}: {} was delivered before, must be flagged", cut, body);
                }
            }
            for body in &seen.confirmed {
                let kept = messages.iter().any(|(other, _)| other == body);
                // Past the last sync, a later settle may have reached the log too.
                let settled = seen.settled_before_sync.contains(body)
                    || (cut > synced && seen.settled_ever.contains(body));
                prop_assert!(kept || settled || !seen.persistent.contains(body), "cut {}: confirmed {} lost", cut, body);
            }
        }
    }
}
