//! Credit flow (`Config::flow`): a connection publishing faster than its
//! queues' consumers take messages is put in flow, so that the driver stops
//! reading it, as RabbitMQ "will reduce the speed of connections which are
//! publishing too quickly for queues to keep up". The broker says so with
//! `Output::Pause` when the answer changes. Off by default.

mod support;

use brokerlab_core::{Command, Config, ConnectionId, FieldTable, Flow};
use support::Harness;

const HIGH: usize = 4;
const LOW: usize = 2;
const STALL_MS: u64 = 1_000;

/// Publisher on connection 1, queue `q`, and a consumer with prefetch 1 on
/// connection 2 that holds one delivery.
fn consumed_queue() -> Harness {
    let mut broker = Harness::new(Config {
        flow: Some(Flow {
            ready_high: HIGH,
            ready_low: LOW,
            stall_ms: STALL_MS,
        }),
        ..Config::default()
    });
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker
}

/// Whether the broker last told the driver to stop reading `conn`.
fn in_flow(broker: &mut Harness, conn: u64) -> bool {
    broker.broker.is_paused(ConnectionId(conn))
}

/// Publishes `n` messages from connection 1 to `q`.
fn publish(broker: &mut Harness, n: usize) {
    for i in 0..n {
        broker.publish(1, 1, "", "q", &format!("m{i}")).assert_ok();
    }
}

#[test]
fn a_publisher_into_a_consumed_queue_past_the_high_mark_is_in_flow() {
    let mut broker = consumed_queue();
    // One goes to the consumer, then HIGH wait: at the mark, not past it.
    publish(&mut broker, 1 + HIGH);
    assert_eq!(broker.ready_count(1, 1, "q"), HIGH as u32);
    assert!(!in_flow(&mut broker, 1));
    let step = broker.publish(1, 1, "", "q", "one more");
    assert_eq!(step.pauses(), [(1, true)], "the driver is told once");
    assert!(in_flow(&mut broker, 1));
    assert!(!in_flow(&mut broker, 2), "the consumer is not slowed");
    let step = broker.publish(1, 1, "", "q", "read before the pause");
    assert_eq!(step.pauses(), [], "nothing new to tell");
}

#[test]
fn flow_lasts_until_the_queue_is_back_to_the_low_mark() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    // Each ack lets one more message go to the consumer.
    let mut tag = 1;
    let mut released = Vec::new();
    while broker.ready_count(1, 1, "q") as usize > LOW {
        assert!(in_flow(&mut broker, 1), "still above the low mark");
        released = broker.ack(2, 1, tag, false).pauses();
        tag += 1;
    }
    assert!(!in_flow(&mut broker, 1));
    assert_eq!(
        released,
        [(1, false)],
        "the ack that reached the mark says so"
    );
}

#[test]
fn a_queue_without_consumers_never_slows_its_publishers() {
    let mut broker = consumed_queue();
    broker
        .declare(1, 1, "buffer", FieldTable::new())
        .assert_ok();
    for i in 0..10 * HIGH {
        broker
            .publish(1, 1, "", "buffer", &format!("m{i}"))
            .assert_ok();
    }
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn a_connection_with_consumers_of_its_own_is_never_in_flow() {
    let mut broker = consumed_queue();
    broker
        .declare(1, 1, "replies", FieldTable::new())
        .assert_ok();
    broker.consume(1, 1, "replies", "mine", false).assert_ok();
    publish(&mut broker, 1 + 2 * HIGH);
    assert!(
        !in_flow(&mut broker, 1),
        "its reads carry its acks: pausing them could stall what it waits for"
    );
}

#[test]
fn consumers_that_stop_taking_deliveries_no_longer_slow_their_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    let stall = brokerlab_core::Instant((broker.now_ms + STALL_MS) * 1_000_000);
    assert_eq!(
        broker.broker.poll_timeout(),
        Some(stall),
        "the broker wakes when the consumer would count as stalled"
    );
    broker.advance(STALL_MS - 1).assert_ok();
    assert!(in_flow(&mut broker, 1));
    let step = broker.advance(1);
    assert_eq!(step.pauses(), [(1, false)]);
    assert!(
        !in_flow(&mut broker, 1),
        "a hung consumer lets the queue grow, as in RabbitMQ"
    );
    assert!(
        broker.broker.poll_timeout().is_none_or(|at| at > stall),
        "no credit-flow deadline is left"
    );
}

#[test]
fn cancelling_the_queues_consumers_releases_its_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    let cancel = Command::BasicCancel {
        consumer_tag: "c".into(),
    };
    broker.send(2, 1, cancel).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn deleting_the_queue_releases_its_publishers() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(in_flow(&mut broker, 1));
    let delete = Command::QueueDelete {
        queue: "q".into(),
        if_unused: false,
        if_empty: false,
    };
    broker.send(1, 1, delete).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn without_a_flow_config_no_publisher_is_ever_in_flow() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    publish(&mut broker, 100);
    assert!(!in_flow(&mut broker, 1));
}

#[test]
fn unknown_connections_are_not_in_flow() {
    let mut broker = consumed_queue();
    publish(&mut broker, 1 + HIGH + 1);
    assert!(!in_flow(&mut broker, 9));
    broker.disconnect(1).assert_ok();
    assert!(!in_flow(&mut broker, 1));
}

mod memory_alarm {
    //! The memory alarm (`Config::memory_alarm`): above the high mark of
    //! held message bytes (ready and unacknowledged), a connection that
    //! publishes is blocked (`Reply::ConnectionBlocked`, `Output::Pause`)
    //! until the bytes are below the low mark, as RabbitMQ's
    //! `vm_memory_high_watermark` blocks publishers.

    use super::support::Harness;
    use brokerlab_core::{Command, Config, ConnectionId, FieldTable, MemoryAlarm, Reply};

    /// Ten bytes a message: the eleventh message held passes the mark.
    const BODY: &str = "0123456789";

    fn alarmed() -> Harness {
        let mut broker = Harness::new(Config {
            memory_alarm: Some(MemoryAlarm::new(100)),
            ..Config::default()
        });
        broker.connect(1);
        broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
        broker
    }

    fn publish(broker: &mut Harness, conn: u64, n: usize) {
        for _ in 0..n {
            broker.publish(conn, 1, "", "q", BODY).assert_ok();
        }
    }

    #[test]
    fn a_connection_that_publishes_past_the_high_mark_is_blocked_and_told() {
        let mut broker = alarmed();
        publish(&mut broker, 1, 11);
        assert_eq!(broker.broker.held_bytes(), 110);
        assert!(broker.broker.memory_alarm_raised());
        assert!(
            !broker.broker.is_paused(ConnectionId(1)),
            "blocked at its next publish"
        );
        let step = broker.publish(1, 1, "", "q", BODY);
        assert_eq!(step.replies(1, 0), [Reply::ConnectionBlocked]);
        assert_eq!(step.pauses(), [(1, true)]);
        assert!(broker.broker.is_paused(ConnectionId(1)));
    }

    #[test]
    fn a_connection_that_only_consumes_is_never_blocked() {
        let mut broker = alarmed();
        publish(&mut broker, 1, 12);
        broker.connect(2);
        let step = broker.consume(2, 1, "q", "c", false);
        assert_eq!(step.pauses(), []);
        assert!(!broker.broker.is_paused(ConnectionId(2)));
    }

    #[test]
    fn unacknowledged_messages_count_toward_the_alarm() {
        let mut broker = alarmed();
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        publish(&mut broker, 1, 11);
        assert_eq!(
            broker.ready_count(1, 1, "q"),
            0,
            "all delivered, none acked"
        );
        assert_eq!(broker.broker.held_bytes(), 110);
        assert!(broker.broker.memory_alarm_raised());
    }

    #[test]
    fn the_alarm_clears_below_three_quarters_and_releases_every_blocked_publisher() {
        let mut broker = alarmed();
        publish(&mut broker, 1, 12);
        assert!(broker.broker.is_paused(ConnectionId(1)));
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        // 120 bytes held; the fifth ack brings them under 75.
        for tag in 1..=4 {
            let step = broker.ack(2, 1, tag, false);
            assert_eq!(step.pauses(), [], "{} bytes", broker.broker.held_bytes());
        }
        let step = broker.ack(2, 1, 5, false);
        assert_eq!(broker.broker.held_bytes(), 70);
        assert_eq!(step.replies(1, 0), [Reply::ConnectionUnblocked]);
        assert_eq!(step.pauses(), [(1, false)]);
        assert!(!broker.broker.memory_alarm_raised());
    }

    #[test]
    fn without_an_alarm_no_publisher_is_ever_blocked() {
        let mut broker = Harness::default();
        broker.connect(1);
        broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
        for _ in 0..1_000 {
            let step = broker.publish(1, 1, "", "q", BODY);
            assert_eq!(step.pauses(), []);
        }
        assert!(!broker.broker.memory_alarm_raised());
    }

    #[test]
    fn publishes_held_in_a_transaction_count_toward_the_alarm_until_rolled_back() {
        let mut broker = alarmed();
        broker.send(1, 1, Command::TxSelect).assert_ok();
        publish(&mut broker, 1, 11);
        assert_eq!(
            broker.ready_count(1, 1, "q"),
            0,
            "nothing routed before the commit"
        );
        assert_eq!(broker.broker.held_bytes(), 110);
        assert!(broker.broker.memory_alarm_raised());
        broker.send(1, 1, Command::TxRollback).assert_ok();
        assert_eq!(broker.broker.held_bytes(), 0);
        assert!(!broker.broker.memory_alarm_raised());
    }
}
