//! Walkthroughs of where messages go: fanout, direct and topic exchanges,
//! replies addressed to the queue a request names in `reply_to`, and keys
//! pinned to partition queues so that each key keeps its order.

use super::narrator::{basic_consume, delivered_to, queue_declare, Narrator};
use brokerlab_core::{ConnectionId, FieldTable, Input, Properties};
use std::io::{self, Write};

/// Publish/subscribe: a fanout exchange copies every message to each
/// subscriber's own exclusive, server-named queue; a subscriber that leaves
/// takes its queue with it and misses what follows.
pub fn pubsub(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: publish/subscribe (a fanout exchange, an exclusive server-named queue per subscriber)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the publisher", 1)?;
    let what = "the publisher declares the fanout exchange 'notifications'";
    narrator.exchange(what, 1, "notifications", "fanout")?;
    for (conn, name) in [
        (2, "the email service"),
        (3, "the stock service"),
        (4, "the analytics service"),
    ] {
        narrator.connect(name, conn)?;
        let what = format!("{name} declares an exclusive queue and lets the broker name it");
        let queue = narrator.declare_exclusive(&what, conn)?;
        narrator.bind(conn, &queue, "notifications", "")?;
        let what = format!("{name} consumes from '{queue}' (no acks: a lost notification is fine)");
        narrator.consume(&what, conn, &queue, true)?;
    }
    for event in ["user-registered 123", "order-created 12345"] {
        let what = format!("the publisher publishes {event:?}: every subscriber gets a copy");
        narrator.publish(&what, 1, "notifications", "", Properties::default(), event)?;
    }
    let leaves = Input::Disconnect {
        conn: ConnectionId(4),
    };
    narrator.input(
        "the analytics service disconnects: its exclusive queue is deleted with it",
        leaves,
    )?;
    let what = "the publisher publishes \"user-deleted 123\": two subscribers are left";
    narrator.publish(
        what,
        1,
        "notifications",
        "",
        Properties::default(),
        "user-deleted 123",
    )?;
    writeln!(
        narrator.out,
        "\nEach subscriber got its own copy of every message published while it was subscribed."
    )?;
    Ok(())
}

/// Routing: a direct exchange delivers by exact routing key, a topic exchange
/// by pattern, where `*` is exactly one word and `#` is any number of words.
pub fn routing(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: routing (a direct exchange by exact key, a topic exchange by pattern)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the logger", 1)?;
    narrator.connect("the log reader", 2)?;
    let what = "the logger declares the direct exchange 'direct_logs'";
    narrator.exchange(what, 1, "direct_logs", "direct")?;
    for (queue, keys) in [
        ("errors", &["error"][..]),
        ("all_levels", &["info", "warning", "error"]),
    ] {
        narrator.declare(
            &format!("the log reader declares '{queue}'"),
            2,
            queue,
            FieldTable::new(),
        )?;
        for key in keys {
            narrator.bind(2, queue, "direct_logs", key)?;
        }
        narrator.consume(
            &format!("the log reader consumes from '{queue}'"),
            2,
            queue,
            true,
        )?;
    }
    for (key, body) in [("error", "disk full"), ("info", "user 123 logged in")] {
        let what = format!("the logger publishes {body:?} with key '{key}'");
        narrator.publish(&what, 1, "direct_logs", key, Properties::default(), body)?;
    }
    narrator.exchange(
        "the logger declares the topic exchange 'logs'",
        1,
        "logs",
        "topic",
    )?;
    for pattern in ["error.*", "*.critical", "#"] {
        let what = format!("the log reader declares an exclusive queue for '{pattern}'");
        let queue = narrator.declare_exclusive(&what, 2)?;
        narrator.bind(2, &queue, "logs", pattern)?;
        let what = format!("the log reader consumes from '{queue}' as '{pattern}'");
        narrator.command(&what, 2, basic_consume(&queue, pattern, true, false))?;
    }
    for (key, body) in [
        ("error.critical", "database connection failed"),
        ("error.disk", "disk 80% full"),
        ("app.critical", "out of memory"),
        ("info.startup", "service started"),
        ("error.disk.full", "disk 100% full"),
    ] {
        let what = format!("the logger publishes {body:?} with key '{key}'");
        narrator.publish(&what, 1, "logs", key, Properties::default(), body)?;
    }
    writeln!(narrator.out, "\n'*' matched exactly one word and '#' any number: 'error.disk.full' reached only the '#' queue.")?;
    Ok(())
}

/// Request-reply: the client sends requests carrying `reply_to` (its
/// exclusive, server-named reply queue) and a `correlation_id`; the server
/// answers to `reply_to` with the same `correlation_id`, which the client uses
/// to match each reply to its request.
pub fn request_reply(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "brokerlab walkthrough: request-reply (reply_to, correlation_id, an exclusive reply queue)"
    )?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the server", 1)?;
    let what = "the server declares the request queue 'rpc_queue'";
    narrator.declare(what, 1, "rpc_queue", FieldTable::new())?;
    narrator.consume(
        "the server consumes requests from 'rpc_queue'",
        1,
        "rpc_queue",
        false,
    )?;
    narrator.connect("the client", 2)?;
    let what = "the client declares its reply queue: exclusive to it, named by the broker";
    let reply_queue = narrator.declare_exclusive(what, 2)?;
    let what = format!("the client consumes its replies from '{reply_queue}'");
    narrator.consume(&what, 2, &reply_queue, true)?;
    let mut requests = Vec::new();
    for (correlation_id, text) in [("req-1", "hello"), ("req-2", "world")] {
        let properties = Properties {
            reply_to: Some(reply_queue.to_string()),
            correlation_id: Some(correlation_id.to_owned()),
            ..Properties::default()
        };
        let what = format!("the client sends {text:?} (correlation_id {correlation_id})");
        let outputs = narrator.publish(&what, 2, "", "rpc_queue", properties, text)?;
        requests.extend(delivered_to(&outputs, 1));
    }
    for (tag, request) in requests {
        let (Some(reply_to), Some(id)) = (
            &request.properties().reply_to,
            &request.properties().correlation_id,
        ) else {
            return Err(io::Error::other(
                "a request arrived without reply_to or correlation_id",
            ));
        };
        let answer = String::from_utf8_lossy(&request.body).to_uppercase();
        let properties = Properties {
            correlation_id: Some(id.clone()),
            ..Properties::default()
        };
        let what =
            format!("the server answers {answer:?} to '{reply_to}', copying correlation_id {id}");
        narrator.publish(&what, 1, "", reply_to, properties, &answer)?;
        narrator.ack(
            &format!("the server acknowledges the request (tag {tag})"),
            1,
            tag,
            false,
        )?;
    }
    writeln!(narrator.out, "\nThe client matched each reply to its request by correlation_id; its reply queue goes away with its connection.")?;
    Ok(())
}

/// Partitions of the ordering-by-key walkthrough: one queue and one consumer each.
const PARTITIONS: usize = 2;

/// The partition of a key. Any hash works as long as it never changes while
/// messages are in flight: the same key must always pick the same queue.
fn partition_of(key: &str) -> usize {
    key.bytes().map(usize::from).sum::<usize>() % PARTITIONS
}

/// Ordering by key: the producer routes each key to one of a few partition
/// queues (the core has no consistent-hash exchange, so the producer hashes
/// the key and uses the partition as a direct routing key); each partition
/// has one exclusive consumer, so each key's messages are handled in order.
pub fn ordering_by_key(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: ordering by key (a key always goes to one partition queue with one consumer)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the producer", 1)?;
    narrator.exchange(
        "the producer declares the direct exchange 'orders'",
        1,
        "orders",
        "direct",
    )?;
    for partition in 0..PARTITIONS {
        let queue = format!("orders.{partition}");
        let what = format!("the producer declares the partition queue '{queue}'");
        narrator.declare(&what, 1, &queue, FieldTable::new())?;
        narrator.bind(1, &queue, "orders", &partition.to_string())?;
    }
    for (conn, name, queue) in [(2, "worker-0", "orders.0"), (3, "worker-1", "orders.1")] {
        narrator.connect(name, conn)?;
        let what = format!("{name} consumes from '{queue}' exclusively: no one else may");
        narrator.command(&what, conn, basic_consume(queue, name, true, true))?;
    }
    narrator.connect("worker-2", 4)?;
    let what = "worker-2 tries to consume from 'orders.0' as well";
    let code = narrator.refused(what, 4, basic_consume("orders.0", "worker-2", true, false))?;
    writeln!(
        narrator.out,
        "    (refused with {code}: the partition keeps its one consumer)"
    )?;
    for (key, event) in [
        ("customer-1", "created"),
        ("customer-2", "created"),
        ("customer-1", "paid"),
        ("customer-3", "created"),
        ("customer-2", "paid"),
        ("customer-1", "shipped"),
    ] {
        let partition = partition_of(key).to_string();
        let what = format!("the producer publishes '{key} {event}' to partition {partition}");
        let body = format!("{key} {event}");
        narrator.publish(&what, 1, "orders", &partition, Properties::default(), &body)?;
    }
    writeln!(
        narrator.out,
        "\nEach customer's events reached one worker, in the order they were published."
    )?;
    Ok(())
}

/// The event bus: services publish events to one topic exchange, and each
/// subscribing service has a durable queue of its own, bound by the event
/// types it wants. An event reaches every interested service once, even
/// when several of its bindings match, and a service that is down finds
/// its events waiting in its queue when it comes back.
pub fn event_bus(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "brokerlab walkthrough: the event bus (a topic exchange, a durable queue per subscribing service)")?;
    let mut narrator = Narrator::new(out);
    narrator.connect("the order service", 1)?;
    let what = "the order service declares the topic exchange 'events'";
    narrator.exchange(what, 1, "events", "topic")?;
    let services: [(u64, &str, &str, &[&str]); 3] = [
        (2, "the inventory service", "inventory", &["order.created"]),
        (
            3,
            "the email service",
            "email",
            &["order.*", "*.created", "user.registered"],
        ),
        (4, "the analytics service", "analytics", &["#"]),
    ];
    for (conn, name, queue, patterns) in services {
        narrator.connect(name, conn)?;
        let what = format!("{name} declares its durable queue '{queue}'");
        narrator.declare(&what, conn, queue, FieldTable::new())?;
        for pattern in patterns {
            narrator.bind(conn, queue, "events", pattern)?;
        }
        let what = format!("{name} consumes from '{queue}'");
        narrator.command(&what, conn, basic_consume(queue, queue, false, false))?;
    }
    let persistent = || Properties {
        delivery_mode: Some(2),
        ..Properties::default()
    };
    for (key, body) in [
        ("order.created", "order 1001 created"),
        ("user.registered", "user 7 registered"),
        ("payment.failed", "payment for order 1001 failed"),
    ] {
        let what = format!("the order service publishes the event {body:?} with key '{key}'");
        narrator.publish(&what, 1, "events", key, persistent(), body)?;
    }
    for (conn, name, _, _) in services {
        let what =
            format!("{name} handled every event it got and acknowledges them all (multiple)");
        narrator.ack(&what, conn, 0, true)?;
    }
    let down = Input::Disconnect {
        conn: ConnectionId(3),
    };
    let what = "the email service goes down: its durable queue 'email' stays, bound";
    narrator.input(what, down)?;
    let what = "the order service publishes \"order 1002 created\": the email service is down";
    let body = "order 1002 created";
    narrator.publish(what, 1, "events", "order.created", persistent(), body)?;
    narrator.command(
        "the order service looks at 'email' (passive declare): the event waits there",
        1,
        queue_declare("email", true, false, FieldTable::new()),
    )?;
    narrator.connect("the restarted email service", 5)?;
    let what = "the email service consumes from 'email' again: the event it missed arrives";
    let outputs = narrator.command(what, 5, basic_consume("email", "email", false, false))?;
    for (tag, _) in delivered_to(&outputs, 5) {
        let what = format!("the email service sends the confirmation and acknowledges tag {tag}");
        narrator.ack(&what, 5, tag, false)?;
    }
    writeln!(narrator.out, "\nEach service got each event it subscribed to once (\"order 1001 created\" matched two of the email service's patterns); the one published while the email service was down waited in its queue.")?;
    Ok(())
}
