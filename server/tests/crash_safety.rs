//! Crash safety: a server process killed with SIGKILL in the middle of a
//! confirmed, persistent publish load loses nothing it confirmed. After a
//! restart on the same data dir every confirmed message is consumed (before
//! the crash or after it), every confirmed message not acknowledged before
//! the crash comes back after it, and a message that comes twice comes the
//! second time flagged redelivered. The consumer acks the even ids and holds
//! the odd ones, so the restart always has unacknowledged messages to return.
//!
//! The server runs as a process of its own (the `serve-until-killed` binary),
//! so the kill is a real one: no destructor, no flush, no graceful close.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
    PublisherConfirm,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The server is killed once this many publishes are confirmed.
const CONFIRMED_BEFORE_KILL: usize = 2_000;

/// Publishes in flight, awaiting their confirms.
const UNCONFIRMED_MAX: usize = 256;

/// Publishes in all; the kill ends the load long before.
const PUBLISHES_MAX: u64 = 1_000_000;

/// How long publishes still in flight at the kill may take to settle.
const AFTER_KILL_WAIT: Duration = Duration::from_secs(2);

const QUEUE: &str = "crash";

/// The server process and the address it printed.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(data_dir: &Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve-until-killed"))
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a socket address");
        ServerProcess { child, addr }
    }

    /// SIGKILL, and reap the process.
    fn kill(self) {
        drop(self);
    }
}

impl Drop for ServerProcess {
    /// A failing test leaves no server behind either.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_channel(addr: SocketAddr) -> (Connection, Channel) {
    let uri = format!("amqp://guest:guest@{addr}/%2f?heartbeat=0");
    let connection = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .expect("lapin connects");
    let channel = connection.create_channel().await.expect("channel.open-ok");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(QUEUE.into(), durable, FieldTable::default())
        .await
        .expect("queue.declare-ok");
    (connection, channel)
}

/// What the consumer saw: per message id, each delivery's redelivered flag.
type Seen = Arc<Mutex<BTreeMap<u64, Vec<bool>>>>;

/// Ids whose ack the consumer sent (or was about to) before the crash.
type Acked = Arc<Mutex<BTreeSet<u64>>>;

/// Records a delivery; returns its message id.
fn record(seen: &Seen, data: &[u8], redelivered: bool) -> u64 {
    let id = u64::from_be_bytes(data.try_into().expect("an 8-byte id"));
    let mut seen = seen.lock().expect("no panic while held");
    seen.entry(id).or_default().push(redelivered);
    id
}

/// A consumer subscribed to the queue, before any publish.
async fn subscribe(addr: SocketAddr) -> (Connection, Consumer) {
    let (connection, channel) = open_channel(addr).await;
    let consumer = channel
        .basic_consume(
            QUEUE.into(),
            "before-crash".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume-ok");
    (connection, consumer)
}

/// Consumes until the connection dies (or the test stops it), acking the
/// messages with even ids and holding the odd ones unacknowledged, so the
/// restart must bring those back.
async fn consume_until_the_crash(mut consumer: Consumer, seen: Seen, acked: Acked) {
    while let Some(Ok(delivery)) = consumer.next().await {
        let id = record(&seen, &delivery.data, delivery.redelivered);
        if id % 2 == 1 {
            continue;
        }
        // Counted before it is sent: an ack that may have reached the broker
        // excuses the message from having to come back.
        acked.lock().expect("no panic while held").insert(id);
        if delivery.ack(BasicAckOptions::default()).await.is_err() {
            return;
        }
    }
}

/// Publishes persistent messages with ids 0, 1, ... under confirms, kills the
/// server once enough are confirmed, and returns the ids that were confirmed.
async fn publish_until_killed(server: ServerProcess) -> BTreeSet<u64> {
    let (_connection, channel) = open_channel(server.addr).await;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select-ok");
    let mut confirmed = BTreeSet::new();
    let mut in_flight: VecDeque<(u64, PublisherConfirm)> = VecDeque::new();
    for id in 0..PUBLISHES_MAX {
        if confirmed.len() >= CONFIRMED_BEFORE_KILL {
            break;
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                &id.to_be_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("the server is up: basic.publish is sent");
        in_flight.push_back((id, confirm));
        if in_flight.len() >= UNCONFIRMED_MAX {
            let (id, confirm) = in_flight.pop_front().expect("not empty");
            match confirm
                .await
                .expect("the server is up: the publish is settled")
            {
                Confirmation::Ack(_) => confirmed.insert(id),
                other => panic!("publish {id} was not acked: {other:?}"),
            };
        }
    }
    // The kill lands with publishes in flight and unconfirmed.
    server.kill();
    // A confirm that arrived before the kill is settled already; the others
    // never will be. The client may take a while to notice the dead socket,
    // so what is not settled soon counts as unconfirmed, as it would for an
    // application.
    let settled_by = tokio::time::Instant::now() + AFTER_KILL_WAIT;
    for (id, confirm) in in_flight {
        match tokio::time::timeout_at(settled_by, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => confirmed.insert(id),
            _ => break,
        };
    }
    confirmed
}

/// Takes every message left in the queue, acking each.
async fn drain_after_restart(addr: SocketAddr, seen: &Seen) {
    let (connection, channel) = open_channel(addr).await;
    for _ in 0..PUBLISHES_MAX {
        let got = channel
            .basic_get(QUEUE.into(), BasicGetOptions { no_ack: false })
            .await
            .expect("basic.get answers");
        let Some(message) = got else { break };
        let delivery = message.delivery;
        record(seen, &delivery.data, delivery.redelivered);
        delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("basic.ack is sent");
    }
    connection
        .close(200, "done".into())
        .await
        .expect("close-ok");
}

#[test]
fn every_confirmed_message_survives_a_sigkill_and_duplicates_come_flagged_redelivered() {
    let data = tempfile::tempdir().expect("a temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let before: Seen = Seen::default();
    let acked: Acked = Acked::default();
    let confirmed = runtime.block_on(async {
        let server = ServerProcess::start(data.path());
        let (_connection, consumer) = subscribe(server.addr).await;
        let consumer = tokio::spawn(consume_until_the_crash(
            consumer,
            before.clone(),
            acked.clone(),
        ));
        let confirmed = publish_until_killed(server).await;
        // What the consumer saw is recorded; it need not notice the crash itself.
        consumer.abort();
        if let Err(error) = consumer.await {
            if error.is_panic() {
                std::panic::resume_unwind(error.into_panic());
            }
        }
        confirmed
    });
    assert!(confirmed.len() >= CONFIRMED_BEFORE_KILL, "the load ran");

    let after: Seen = Seen::default();
    let server = ServerProcess::start(data.path());
    runtime.block_on(drain_after_restart(server.addr, &after));
    server.kill();

    let before = before.lock().expect("no panic while held").clone();
    let after = after.lock().expect("no panic while held").clone();
    let lost: Vec<u64> = confirmed
        .iter()
        .filter(|id| !before.contains_key(id) && !after.contains_key(id))
        .copied()
        .collect();
    assert!(lost.is_empty(), "confirmed but never consumed: {lost:?}");
    let acked = acked.lock().expect("no panic while held").clone();
    let unacked_lost: Vec<u64> = confirmed
        .iter()
        .filter(|id| !acked.contains(id) && !after.contains_key(id))
        .copied()
        .collect();
    assert!(
        unacked_lost.is_empty(),
        "confirmed, not acked, and gone after the restart: {unacked_lost:?}"
    );
    for (id, flags) in before.iter().chain(after.iter()) {
        assert!(
            flags.len() == 1 || flags[1..].iter().all(|&r| r),
            "{id}: {flags:?}"
        );
    }
    for (id, flags) in &after {
        assert_eq!(flags.len(), 1, "{id} came twice after the restart");
        if before.contains_key(id) {
            assert!(flags[0], "{id} came again after the restart unflagged");
        }
    }
    println!(
        "confirmed {}, consumed {} before the kill and {} after ({} of those again)",
        confirmed.len(),
        before.len(),
        after.len(),
        after.keys().filter(|id| before.contains_key(id)).count()
    );
}
