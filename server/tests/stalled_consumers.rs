//! Consumers that stop reading their socket: each is dropped (by missed
//! heartbeats, by the send timeout, or for falling behind its replies),
//! what it held is requeued, and a healthy consumer on the same queue
//! receives it. RabbitMQ 3.10 drops a silent one after its heartbeats are
//! missed and one that still sends heartbeats after its 30 s send timeout.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use common::raw::RawClient;
use common::TestServer;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Large enough that the messages overflow the kernel's socket buffers
/// and the server's outgoing buffer many times over; one frame each.
const BODY_BYTES: usize = 100 * 1024;

/// Publishes `count` messages of `BODY_BYTES` to `queue` (declared here)
/// and waits until the queue holds them all.
fn publish(addr: SocketAddr, queue: &str, count: u32) {
    let mut publisher = RawClient::open(addr, 0);
    publisher.open_channel(1);
    publisher.declare(queue, false);
    publisher.declare_ok();
    let body = vec![b'x'; BODY_BYTES];
    for _ in 0..count {
        publisher.publish(queue, &body);
    }
    publisher.declare(queue, true);
    assert_eq!(publisher.declare_ok(), count, "every message is queued");
}

/// Publishes `count` messages of `BODY_BYTES` to `queue`, each in a broker
/// step of its own: a passive declare's answer comes after each.
fn publish_one_step_each(addr: SocketAddr, queue: &str, count: u32) {
    let mut publisher = RawClient::open(addr, 0);
    publisher.open_channel(1);
    let body = vec![b'x'; BODY_BYTES];
    for _ in 0..count {
        publisher.publish(queue, &body);
        publisher.declare(queue, true);
        publisher.declare_ok();
    }
}

/// A consumer of `queue` with a prefetch of 50 that acks each delivery,
/// until it has received `count`; returns how many came redelivered.
fn consume_all(addr: SocketAddr, queue: &str, count: u32) -> u32 {
    let mut healthy = RawClient::open(addr, 0);
    healthy.set_read_timeout(Duration::from_secs(60));
    healthy.open_channel(1);
    healthy.qos(50);
    healthy.consume(queue);
    let mut redelivered = 0;
    for _ in 0..count {
        let (tag, again, size) = healthy.next_delivery();
        assert_eq!(size, BODY_BYTES);
        redelivered += u32::from(again);
        healthy.ack(tag);
    }
    redelivered
}

/// A consumer of `queue` without a prefetch limit that will never read again.
fn stalled_consumer(addr: SocketAddr, queue: &str, heartbeat_s: u16) -> RawClient {
    let mut stalled = RawClient::open(addr, heartbeat_s);
    stalled.open_channel(1);
    stalled.consume(queue);
    stalled
}

#[test]
fn a_consumer_that_stops_reading_is_dropped_when_its_heartbeats_are_missed_and_its_messages_go_to_another(
) {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start(data.path());
    let count = 400;
    publish(server.addr, "stalled", count);
    // It is handed all 40 MB at once and reads none of it, nor sends
    // anything: its heartbeats (1 s) are missed.
    let mut stalled = stalled_consumer(server.addr, "stalled", 1);
    let redelivered = consume_all(server.addr, "stalled", count);
    assert!(
        redelivered > 0,
        "what the stalled consumer held came back redelivered"
    );
    stalled
        .read_until_closed()
        .expect("the server closed the stalled consumer's socket");
    server.stop();
}

#[test]
fn a_consumer_that_sends_heartbeats_but_stops_reading_is_dropped_after_the_send_timeout() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_options(brokerlab_server::Options {
        data_dir: data.path().to_path_buf(),
        send_timeout_ms: 2_000,
        ..brokerlab_server::Options::new()
    });
    let count = 400;
    publish(server.addr, "heartbeating", count);
    let mut stalled = stalled_consumer(server.addr, "heartbeating", 1);
    // Its heartbeats keep coming, so only the send timeout can tell.
    let mut beats = stalled.try_clone_stream();
    let beating = Arc::new(AtomicBool::new(true));
    let beater = {
        let beating = Arc::clone(&beating);
        std::thread::spawn(move || {
            while beating.load(Ordering::SeqCst)
                && beats.write_all(&[8, 0, 0, 0, 0, 0, 0, 0xCE]).is_ok()
            {
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let redelivered = consume_all(server.addr, "heartbeating", count);
    assert!(redelivered > 0, "what it held came back redelivered");
    stalled
        .read_until_closed()
        .expect("the server closed the socket that took nothing");
    beating.store(false, Ordering::SeqCst);
    beater.join().expect("the heartbeat thread ends");
    server.stop();
}

#[test]
fn a_consumer_that_falls_behind_its_replies_is_released_before_any_timeout() {
    let data = tempfile::tempdir().expect("a temp dir");
    // Heartbeats off and a send timeout past the test's patience: only the
    // broker task's release for falling behind can free its messages.
    let server = TestServer::start_options(brokerlab_server::Options {
        data_dir: data.path().to_path_buf(),
        send_timeout_ms: 600_000,
        ..brokerlab_server::Options::new()
    });
    let mut stalled = RawClient::open(server.addr, 0);
    stalled.open_channel(1);
    stalled.declare("behind", false);
    stalled.declare_ok();
    stalled.consume("behind");
    // Each publish is its own broker step, so each delivery its own reply
    // batch: past the outbox's 1,024 batches the consumer is released.
    let count = 1_600;
    publish_one_step_each(server.addr, "behind", count);
    let redelivered = consume_all(server.addr, "behind", count);
    assert!(redelivered > 0, "what it held came back redelivered");
    stalled.set_read_timeout(Duration::from_secs(30));
    stalled
        .read_until_closed()
        .expect("the server closed the released connection");
    server.stop();
}
