//! Sequences of `Input`s into the core's `Broker`, as a driver feeds them:
//! each step handled, every output drained (and events, when on), then the
//! broker checked. At the end, the log the run wrote must recover.

use crate::steps::{decode, Step};
use brokerlab_core::record::{Change, Record};
use brokerlab_core::{Broker, ChannelId, CloseScope, ConnectionId, Input, Output, Reply};
use std::collections::{BTreeMap, BTreeSet};

/// Runs the steps `data` decodes to; panics when a rule is broken.
pub fn core_inputs(data: &[u8]) {
    let run = decode(data);
    let mut broker = Broker::new(run.config.clone());
    let mut seen = Seen::default();
    for step in run.steps {
        let (now, input) = match step {
            Step::Input(input) => (broker.now(), input),
            Step::Tick(ms) => (broker.now().plus_ms(u64::from(ms)), Input::Timeout),
            Step::Deadline => (
                broker.poll_timeout().unwrap_or(broker.now()),
                Input::Timeout,
            ),
            Step::Sync(share) => {
                let upto = broker.last_lsn() * u64::from(share) / 255;
                (broker.now(), Input::Synced { upto })
            }
        };
        seen.before(&input);
        broker.handle(now, input);
        while let Some(output) = broker.poll_output() {
            seen.output(output);
        }
        if broker.config().events {
            broker.drain_events(|_| {});
        }
        check(&broker, &seen);
    }
    check_recovery(&broker, &seen);
}

/// The broker checked after each step: its own invariants
/// (`Broker::check_invariants`, which walks all its state), and what the
/// public API shows.
fn check(broker: &Broker, seen: &Seen) {
    broker.check_invariants();
    assert_eq!(
        broker.last_lsn(),
        seen.log.last().map_or(0, |record| record.lsn),
        "last_lsn is the lsn of the last record the broker emitted"
    );
    let _ = broker.held_bytes();
}

/// What the driver saw, to hold the broker's outputs to its rules.
#[derive(Default)]
struct Seen {
    /// Connections that connected and have not disconnected since.
    live: BTreeSet<ConnectionId>,
    /// The last delivery tag per channel since it was opened.
    delivery_tags: BTreeMap<(ConnectionId, ChannelId), u64>,
    /// Every record the broker asked to persist, in order.
    log: Vec<Record>,
}

impl Seen {
    fn before(&mut self, input: &Input) {
        match input {
            Input::Connect { conn, .. } => {
                self.live.insert(*conn);
            }
            Input::Disconnect { conn } => {
                self.live.remove(conn);
                self.delivery_tags.retain(|(c, _), _| c != conn);
            }
            _ => {}
        }
    }

    fn output(&mut self, output: Output) {
        match output {
            Output::Pause { conn, .. } => assert!(
                self.live.contains(&conn),
                "a pause is for a connected connection: {conn:?}"
            ),
            Output::Persist(record) => {
                let expected = self.log.last().map_or(1, |last| last.lsn + 1);
                assert_eq!(record.lsn, expected, "records are numbered 1, 2, 3, ...");
                self.log.push(*record);
            }
            Output::Reply {
                conn,
                channel,
                reply,
            } => {
                assert!(
                    self.live.contains(&conn),
                    "a reply goes to a connected connection: {conn:?} {reply:?}"
                );
                match reply {
                    Reply::ChannelOpenOk => {
                        self.delivery_tags.insert((conn, channel), 0);
                    }
                    Reply::Deliver { delivery_tag, .. } | Reply::GetOk { delivery_tag, .. } => {
                        let last = self.delivery_tags.entry((conn, channel)).or_insert(0);
                        assert!(
                            delivery_tag > *last,
                            "delivery tags on a channel rise from 1: {delivery_tag} after {last}"
                        );
                        *last = delivery_tag;
                    }
                    Reply::Close {
                        scope: CloseScope::Connection,
                        ..
                    } => {
                        self.delivery_tags.retain(|(c, _), _| *c != conn);
                    }
                    _ => {}
                }
            }
            // The fuzzer sends no stream command.
            Output::Stream { conn, .. } => {
                panic!("a stream reply without a stream command: {conn:?}")
            }
            // Nor any Pub/Sub command.
            Output::PubSub { conn, .. } => {
                panic!("a Pub/Sub reply without a Pub/Sub command: {conn:?}")
            }
            Output::PubSubPublished { published } => {
                panic!("Pub/Sub deliveries without a Pub/Sub command: {published:?}")
            }
            // Nor any SQS action.
            Output::Sqs { conn, .. } => {
                panic!("an SQS reply without an SQS action: {conn:?}")
            }
        }
    }
}

/// Rule: the log recovers, and to the same durable state as the broker's
/// snapshot does (a store may compact the log to the snapshot at any time).
/// The message ids issued are left out: a snapshot counts the ids of
/// transient messages too, which the log never records, and a recovered
/// broker only needs to issue none of its durable messages' ids again.
fn check_recovery(broker: &Broker, seen: &Seen) {
    let config = broker.config().clone();
    let durable = |broker: Broker| -> Vec<Change> {
        broker
            .snapshot()
            .into_iter()
            .map(|record| record.change)
            .filter(|change| !matches!(change, Change::MessageIdsIssued { .. }))
            .collect()
    };
    let from_log = durable(Broker::recover(config.clone(), seen.log.clone()));
    let from_snapshot = durable(Broker::recover(config, broker.snapshot()));
    assert_eq!(
        from_log, from_snapshot,
        "recovering the log and recovering the snapshot give the same broker"
    );
}
