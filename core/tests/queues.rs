//! Rule tests for SEMANTICS.md section 2, queues, driven through the broker:
//! names and the `amq.` prefix, passive declares, server-named queues and the
//! channel's last declared queue, exclusive and auto-delete queues,
//! redeclare equivalence, declare/purge/delete counts, and every queue
//! argument (TTLs, x-expires, length limits and overflow, priorities, single
//! active consumer, delivery limit, validation).

mod support;

use brokerlab_core::{
    Command, DeadLetterReason, Event, FieldTable, FieldValue, Message, Properties, Reply, ReplyCode,
};
use bytes::Bytes;
use support::{
    bind, consume, declare, expiring, int, priority, string, table, x_death, Harness, Step,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A queue.declare with every flag spelled out.
fn declare_full(
    queue: &str,
    passive: bool,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    arguments: FieldTable,
) -> Command {
    Command::QueueDeclare {
        queue: queue.into(),
        passive,
        durable,
        exclusive,
        auto_delete,
        arguments,
    }
}

fn declare_exclusive(queue: &str) -> Command {
    declare_full(queue, false, false, true, false, FieldTable::new())
}

fn declare_auto_delete(queue: &str) -> Command {
    declare_full(queue, false, false, false, true, FieldTable::new())
}

fn purge(queue: &str) -> Command {
    Command::QueuePurge {
        queue: queue.into(),
    }
}

fn delete(queue: &str, if_unused: bool, if_empty: bool) -> Command {
    Command::QueueDelete {
        queue: queue.into(),
        if_unused,
        if_empty,
    }
}

fn unbind(queue: &str, exchange: &str, key: &str) -> Command {
    Command::QueueUnbind {
        queue: queue.into(),
        exchange: exchange.into(),
        routing_key: key.into(),
        arguments: FieldTable::new(),
    }
}

fn cancel(tag: &str) -> Command {
    Command::BasicCancel {
        consumer_tag: tag.into(),
    }
}

fn get(queue: &str, no_ack: bool) -> Command {
    Command::BasicGet {
        queue: queue.into(),
        no_ack,
    }
}

/// A mandatory publish to the default exchange: returned when the queue does not exist.
fn mandatory(queue: &str, body: &str) -> Command {
    Command::BasicPublish {
        exchange: "".into(),
        routing_key: queue.into(),
        mandatory: true,
        immediate: false,
        properties: Properties::default().into(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn was_returned(step: &Step) -> bool {
    step.all_replies()
        .iter()
        .any(|(_, _, reply)| matches!(reply, Reply::Return { .. }))
}

/// A broker with connection 1 (channel 1 open).
fn broker() -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    broker
}

/// A broker with connection 1 and queue `q` declared with `arguments`.
fn broker_with(arguments: FieldTable) -> Harness {
    let mut broker = broker();
    broker.declare(1, 1, "q", arguments).assert_ok();
    broker
}

/// Acknowledges the broker's channel.close and opens the channel again.
fn reopen(broker: &mut Harness, conn: u64, channel: u16) {
    broker.send(conn, channel, Command::ChannelCloseOk);
    let step = broker.open(conn, channel);
    assert_eq!(
        step.replies(conn, channel),
        vec![Reply::ChannelOpenOk],
        "{step:#?}"
    );
}

/// Whether the queue exists, by a passive declare on a throwaway connection
/// (an exclusive queue of another connection answers 405, so it exists).
fn queue_exists(broker: &mut Harness, queue: &str) -> bool {
    const PROBE: u64 = 777;
    broker.connect(PROBE);
    let step = broker.send(PROBE, 1, support::passive_declare(queue));
    broker.disconnect(PROBE);
    match step.close() {
        None => {
            assert!(step.declare_ok().is_some(), "{step:#?}");
            true
        }
        Some((_, ReplyCode::ResourceLocked, _)) => true,
        Some(_) => {
            step.assert_channel_error(ReplyCode::NotFound);
            false
        }
    }
}

/// Declares fanout exchange `dlx` with queue `dead` bound to it.
fn dead_letter_sink(broker: &mut Harness) {
    broker.declare_exchange(1, 1, "dlx", "fanout").assert_ok();
    broker.declare(1, 1, "dead", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "dead", "dlx", "").assert_ok();
}

fn dead_lettered_reasons(step: &Step) -> Vec<DeadLetterReason> {
    step.events()
        .iter()
        .filter_map(|event| match event {
            Event::DeadLettered { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn expired_count(step: &Step) -> usize {
    step.events()
        .iter()
        .filter(|event| matches!(event, Event::Expired { .. }))
        .count()
}

/// The reason of the newest x-death entry.
fn death_reason(message: &Message) -> String {
    let deaths = x_death(message);
    let newest = deaths
        .first()
        .unwrap_or_else(|| panic!("message has an x-death header: {message:#?}"));
    newest
        .get("reason")
        .and_then(FieldValue::as_str)
        .unwrap_or_else(|| panic!("x-death has a reason: {newest:?}"))
        .to_owned()
}

/// The single message a no-ack basic.get takes from `queue` on connection 1.
fn take_one(broker: &mut Harness, queue: &str) -> Message {
    let step = broker.get(1, 1, queue, true);
    let deliveries = step.deliveries();
    assert_eq!(deliveries.len(), 1, "{queue} has a message: {step:#?}");
    Message::clone(&deliveries[0].message)
}

fn header<'m>(message: &'m Message, name: &str) -> Option<&'m FieldValue> {
    message
        .properties()
        .headers
        .as_ref()
        .and_then(|headers| headers.get(name))
}

fn is_get_empty(step: &Step) -> bool {
    step.all_replies()
        .iter()
        .any(|(_, _, reply)| *reply == Reply::GetEmpty)
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

#[test]
fn queue_name_of_255_bytes_is_accepted() {
    let mut broker = broker();
    let name = "q".repeat(255);
    let step = broker.declare(1, 1, &name, FieldTable::new());
    step.assert_ok();
    assert_eq!(
        step.declare_ok().map(|(queue, _, _)| queue),
        Some(name.clone())
    );
    broker.publish(1, 1, "", &name, "m").assert_ok();
    assert_eq!(broker.drain(&name), vec!["m"]);
}

#[test]
fn queue_name_longer_than_255_bytes_is_refused() {
    let mut broker = broker();
    let step = broker.declare(1, 1, &"q".repeat(256), FieldTable::new());
    assert!(step.declare_ok().is_none());
    step.assert_connection_error(ReplyCode::SyntaxError);
}

#[test]
fn declaring_a_queue_with_the_amq_prefix_is_access_refused() {
    for name in ["amq.q", "amq.gen-mine", "amq."] {
        let mut broker = broker();
        broker
            .declare(1, 1, name, FieldTable::new())
            .assert_channel_error(ReplyCode::AccessRefused);
        assert!(!queue_exists(&mut broker, name), "{name} was not created");
    }
}

#[test]
fn prefix_check_is_case_sensitive_and_only_for_the_prefix() {
    for name in ["AMQ.q", "amqx", "my.amq.q"] {
        let mut broker = broker();
        broker.declare(1, 1, name, FieldTable::new()).assert_ok();
    }
}

#[test]
fn redeclaring_a_server_named_queue_by_its_name_is_access_refused() {
    // RabbitMQ 3.10 checks the reserved prefix on every non-passive declare
    // with a name, before it looks the queue up (rabbit_channel, check_name).
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker
        .declare(1, 1, &name, FieldTable::new())
        .assert_channel_error(ReplyCode::AccessRefused);
}

#[test]
fn passive_declare_of_a_server_named_queue_by_its_name_is_allowed() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.open(1, 2);
    let step = broker.send(1, 2, support::passive_declare(&name));
    assert_eq!(step.declare_ok(), Some((name, 0, 0)));
}

#[test]
fn passive_declare_of_a_missing_queue_is_not_found() {
    for name in ["missing", "amq.gen-missing"] {
        let mut broker = broker();
        broker
            .send(1, 1, support::passive_declare(name))
            .assert_channel_error(ReplyCode::NotFound);
        assert!(
            !queue_exists(&mut broker, name),
            "a passive declare does not create {name}"
        );
    }
}

#[test]
fn passive_declare_ignores_flags_and_arguments() {
    let mut broker = broker();
    let arguments = table(&[("x-message-ttl", int(60_000)), ("x-max-length", int(10))]);
    broker
        .send(
            1,
            1,
            declare_full("q", false, true, false, false, arguments),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let cases = [
        (false, false, FieldTable::new()),
        (true, true, table(&[("x-message-ttl", int(1))])),
        (
            false,
            true,
            table(&[("x-overflow", string("bogus")), ("x-expires", int(-1))]),
        ),
    ];
    for (durable, auto_delete, arguments) in cases {
        let step = broker.send(
            1,
            1,
            declare_full("q", true, durable, false, auto_delete, arguments.clone()),
        );
        assert_eq!(
            step.declare_ok(),
            Some(("q".to_owned(), 1, 0)),
            "durable={durable} auto_delete={auto_delete} {arguments:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Server-named queues and the channel's last declared queue
// ---------------------------------------------------------------------------

#[test]
fn the_broker_names_in_advance_the_next_server_named_queue() {
    let mut broker = broker_with(FieldTable::new());
    broker.consume(1, 1, "q", "", true).assert_ok();
    // A generated consumer tag takes a number too: ask again.
    let expected = broker.broker.next_server_named_queue();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    assert_eq!(name, expected);
    assert_ne!(broker.broker.next_server_named_queue(), name);
}

#[test]
fn server_named_queues_get_unique_amq_gen_names() {
    let mut broker = broker();
    broker.connect(2);
    let first = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    let second = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    let third = broker
        .declare(2, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    for name in [&first, &second, &third] {
        assert!(name.starts_with("amq.gen-"), "{name}");
        assert!(name.len() > "amq.gen-".len(), "{name}");
    }
    assert_ne!(first, second);
    assert_ne!(second, third);
    assert_ne!(first, third);
    broker.publish(1, 1, "", &first, "m").assert_ok();
    assert_eq!(broker.drain(&first), vec!["m"]);
}

#[test]
fn empty_queue_name_in_bind_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.bind(1, 1, "", "amq.direct", "k").assert_ok();
    // An empty routing key too means the queue's name.
    broker.bind(1, 1, "", "amq.direct", "").assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "by-key")
        .assert_ok();
    broker
        .publish(1, 1, "amq.direct", &name, "by-name")
        .assert_ok();
    broker
        .publish(1, 1, "amq.direct", "", "by-empty-key")
        .assert_ok();
    assert_eq!(broker.drain(&name), vec!["by-key", "by-name"]);
}

#[test]
fn empty_queue_name_in_unbind_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.bind(1, 1, "", "amq.direct", "k").assert_ok();
    broker.send(1, 1, unbind("", "amq.direct", "k")).assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "unbound")
        .assert_ok();
    assert!(broker.drain(&name).is_empty());
}

#[test]
fn empty_queue_name_in_consume_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.consume(1, 1, "", "c", true).assert_ok();
    let step = broker.publish(1, 1, "", &name, "m");
    assert_eq!(step.bodies(), vec!["m"]);
    assert_eq!(step.deliveries()[0].consumer_tag.as_deref(), Some("c"));
}

#[test]
fn empty_queue_name_in_get_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.publish(1, 1, "", &name, "m").assert_ok();
    assert_eq!(broker.get(1, 1, "", true).bodies(), vec!["m"]);
}

#[test]
fn empty_queue_name_in_purge_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.publish(1, 1, "", &name, "a").assert_ok();
    broker.publish(1, 1, "", &name, "b").assert_ok();
    let step = broker.send(1, 1, purge(""));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueuePurgeOk { message_count: 2 }]
    );
    assert!(broker.drain(&name).is_empty());
}

#[test]
fn empty_queue_name_in_delete_means_the_last_declared_queue() {
    let mut broker = broker();
    let name = broker
        .declare(1, 1, "", FieldTable::new())
        .declare_ok()
        .expect("declare-ok")
        .0;
    broker.publish(1, 1, "", &name, "a").assert_ok();
    let step = broker.send(1, 1, delete("", false, false));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 1 }]
    );
    assert!(!queue_exists(&mut broker, &name));
}

#[test]
fn empty_queue_name_without_a_declared_queue_is_not_found() {
    let commands = [
        ("bind", bind("", "amq.direct", "k", FieldTable::new())),
        ("unbind", unbind("", "amq.direct", "k")),
        ("consume", consume("", "c", false)),
        ("get", get("", false)),
        ("purge", purge("")),
        ("delete", delete("", false, false)),
    ];
    for (name, command) in commands {
        let mut broker = broker();
        let step = broker.send(1, 1, command);
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::NotFound),
            "{name}"
        );
        step.assert_channel_error(ReplyCode::NotFound);
    }
}

#[test]
fn last_declared_queue_is_remembered_per_channel() {
    let mut broker = broker();
    broker.declare(1, 1, "", FieldTable::new()).assert_ok();
    broker.open(1, 2);
    broker
        .get(1, 2, "", true)
        .assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn last_declared_queue_is_the_latest_declare_passive_included() {
    let mut broker = broker();
    broker.declare(1, 1, "first", FieldTable::new()).assert_ok();
    broker
        .declare(1, 1, "second", FieldTable::new())
        .assert_ok();
    broker.publish(1, 1, "", "first", "from-first").assert_ok();
    broker
        .publish(1, 1, "", "second", "from-second")
        .assert_ok();
    assert_eq!(broker.get(1, 1, "", true).bodies(), vec!["from-second"]);
    broker
        .send(1, 1, support::passive_declare("first"))
        .assert_ok();
    assert_eq!(broker.get(1, 1, "", true).bodies(), vec!["from-first"]);
}

// ---------------------------------------------------------------------------
// Exclusive queues
// ---------------------------------------------------------------------------

#[test]
fn exclusive_queue_is_locked_to_other_connections() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    broker.bind(1, 1, "ex", "amq.direct", "k").assert_ok();
    broker.publish(1, 1, "", "ex", "kept").assert_ok();
    broker.connect(2);
    let operations = [
        ("passive declare", support::passive_declare("ex")),
        ("exclusive declare", declare_exclusive("ex")),
        ("non-exclusive declare", declare("ex", FieldTable::new())),
        ("bind", bind("ex", "amq.direct", "other", FieldTable::new())),
        ("unbind", unbind("ex", "amq.direct", "k")),
        ("purge", purge("ex")),
        ("delete", delete("ex", false, false)),
        ("consume", consume("ex", "thief", false)),
        ("get", get("ex", false)),
    ];
    for (index, (name, command)) in operations.into_iter().enumerate() {
        let channel = u16::try_from(index + 2).expect("few channels");
        broker.open(2, channel);
        let step = broker.send(2, channel, command);
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::ResourceLocked),
            "{name}: {step:#?}"
        );
        step.assert_channel_error(ReplyCode::ResourceLocked);
    }
    // Nothing changed for the owner: the binding, the message, no new binding.
    broker
        .publish(1, 1, "amq.direct", "k", "routed")
        .assert_ok();
    broker
        .publish(1, 1, "amq.direct", "other", "not-routed")
        .assert_ok();
    let step = broker.get(1, 1, "ex", true);
    assert_eq!(step.bodies(), vec!["kept"]);
    assert_eq!(broker.get(1, 1, "ex", true).bodies(), vec!["routed"]);
    assert!(is_get_empty(&broker.get(1, 1, "ex", true)));
}

#[test]
fn exclusive_queue_is_usable_from_every_channel_of_its_connection() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    broker.open(1, 2);
    broker.send(1, 2, declare_exclusive("ex")).assert_ok();
    broker.bind(1, 2, "ex", "amq.direct", "k").assert_ok();
    broker.publish(1, 2, "amq.direct", "k", "m").assert_ok();
    assert_eq!(broker.get(1, 2, "ex", true).bodies(), vec!["m"]);
    broker.send(1, 2, purge("ex")).assert_ok();
    broker.consume(1, 2, "ex", "c", true).assert_ok();
}

#[test]
fn publishing_to_another_connections_exclusive_queue_is_allowed() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    broker.connect(2);
    let step = broker.publish(2, 1, "", "ex", "from-2");
    step.assert_ok();
    assert_eq!(broker.get(1, 1, "ex", true).bodies(), vec!["from-2"]);
}

#[test]
fn exclusive_queue_is_deleted_when_its_connection_closes() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    broker.bind(1, 1, "ex", "amq.direct", "k").assert_ok();
    broker.publish(1, 1, "", "ex", "m").assert_ok();
    broker.connect(2);
    broker.disconnect(1);
    assert!(!queue_exists(&mut broker, "ex"));
    let step = broker.publish(2, 1, "amq.direct", "k", "m");
    assert!(
        !step
            .events()
            .iter()
            .any(|event| matches!(event, Event::Enqueued { .. })),
        "its binding went too"
    );
    // The name is free for another connection.
    broker.send(2, 1, declare_exclusive("ex")).assert_ok();
}

#[test]
fn exclusive_queue_is_deleted_when_its_connection_is_closed_by_an_error() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    // An unknown exchange type is a hard error: the broker closes the connection.
    broker
        .declare_exchange(1, 1, "x", "no-such-type")
        .assert_connection_error(ReplyCode::CommandInvalid);
    assert!(!queue_exists(&mut broker, "ex"));
}

#[test]
fn exclusive_queue_survives_the_close_of_its_declaring_channel() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    let step = broker.send(1, 1, Command::ChannelClose);
    assert_eq!(step.replies(1, 1), vec![Reply::ChannelCloseOk]);
    broker.open(1, 2);
    assert_eq!(
        broker
            .send(1, 2, support::passive_declare("ex"))
            .declare_ok(),
        Some(("ex".to_owned(), 0, 0))
    );
}

#[test]
fn redeclare_with_a_different_exclusive_flag_is_resource_locked() {
    let mut broker = broker();
    broker.send(1, 1, declare_exclusive("ex")).assert_ok();
    broker
        .declare(1, 1, "ex", FieldTable::new())
        .assert_channel_error(ReplyCode::ResourceLocked);
    reopen(&mut broker, 1, 1);
    broker
        .declare(1, 1, "shared", FieldTable::new())
        .assert_ok();
    broker
        .send(1, 1, declare_exclusive("shared"))
        .assert_channel_error(ReplyCode::ResourceLocked);
}

// ---------------------------------------------------------------------------
// Auto-delete queues
// ---------------------------------------------------------------------------

#[test]
fn auto_delete_queue_that_never_had_a_consumer_is_kept() {
    let mut broker = broker();
    broker.send(1, 1, declare_auto_delete("ad")).assert_ok();
    broker.publish(1, 1, "", "ad", "a").assert_ok();
    broker.publish(1, 1, "", "ad", "b").assert_ok();
    assert_eq!(broker.get(1, 1, "ad", true).bodies(), vec!["a"]);
    broker.run_for(60_000);
    assert!(queue_exists(&mut broker, "ad"));
    assert_eq!(broker.drain("ad"), vec!["b"]);
}

#[test]
fn auto_delete_queue_is_deleted_when_its_last_consumer_is_cancelled() {
    let mut broker = broker();
    broker.send(1, 1, declare_auto_delete("ad")).assert_ok();
    broker.open(1, 2);
    broker.consume(1, 1, "ad", "c1", false).assert_ok();
    broker.consume(1, 2, "ad", "c2", false).assert_ok();
    broker.send(1, 1, cancel("c1")).assert_ok();
    assert!(queue_exists(&mut broker, "ad"), "one consumer is left");
    broker.send(1, 2, cancel("c2")).assert_ok();
    assert!(!queue_exists(&mut broker, "ad"), "the last consumer went");
}

#[test]
fn auto_delete_queue_is_deleted_when_its_last_consumers_channel_closes() {
    let mut broker = broker();
    broker.send(1, 1, declare_auto_delete("ad")).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "ad", "c", false).assert_ok();
    broker.send(2, 1, Command::ChannelClose);
    assert!(!queue_exists(&mut broker, "ad"));
}

#[test]
fn auto_delete_queue_is_deleted_when_its_last_consumers_connection_goes() {
    let mut broker = broker();
    broker.send(1, 1, declare_auto_delete("ad")).assert_ok();
    broker.connect(2);
    broker.consume(2, 1, "ad", "c", false).assert_ok();
    broker.disconnect(2);
    assert!(!queue_exists(&mut broker, "ad"));
}

// ---------------------------------------------------------------------------
// Redeclare equivalence
// ---------------------------------------------------------------------------

#[test]
fn redeclare_with_identical_flags_and_arguments_succeeds() {
    let mut broker = broker();
    let arguments = table(&[("x-message-ttl", int(60_000)), ("x-max-length", int(10))]);
    broker
        .send(
            1,
            1,
            declare_full("q", false, true, false, true, arguments.clone()),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let step = broker.send(1, 1, declare_full("q", false, true, false, true, arguments));
    assert_eq!(step.declare_ok(), Some(("q".to_owned(), 1, 0)));
}

#[test]
fn redeclare_with_different_flags_is_precondition_failed() {
    let cases = [(true, false, "durable"), (false, true, "auto_delete")];
    for (durable, auto_delete, case) in cases {
        let mut broker = broker_with(FieldTable::new());
        broker.publish(1, 1, "", "q", "kept").assert_ok();
        let step = broker.send(
            1,
            1,
            declare_full("q", false, durable, false, auto_delete, FieldTable::new()),
        );
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{case}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            broker.drain("q"),
            vec!["kept"],
            "{case}: the queue is unchanged"
        );
    }
}

#[test]
fn redeclare_with_different_arguments_is_precondition_failed() {
    let original = || table(&[("x-message-ttl", int(60_000)), ("x-max-length", int(10))]);
    let cases = [
        (
            "different value",
            table(&[("x-message-ttl", int(30_000)), ("x-max-length", int(10))]),
        ),
        ("argument left out", table(&[("x-max-length", int(10))])),
        ("every argument left out", FieldTable::new()),
        (
            "argument added",
            table(&[
                ("x-message-ttl", int(60_000)),
                ("x-max-length", int(10)),
                ("x-expires", int(5_000)),
            ]),
        ),
        (
            "default made explicit",
            table(&[
                ("x-message-ttl", int(60_000)),
                ("x-max-length", int(10)),
                ("x-overflow", string("drop-head")),
            ]),
        ),
        (
            "string instead of integer",
            table(&[
                ("x-message-ttl", string("60000")),
                ("x-max-length", int(10)),
            ]),
        ),
        (
            "invalid value",
            table(&[("x-message-ttl", int(-1)), ("x-max-length", int(10))]),
        ),
    ];
    for (case, arguments) in cases {
        let mut broker = broker_with(original());
        broker.publish(1, 1, "", "q", "kept").assert_ok();
        let step = broker.declare(1, 1, "q", arguments);
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{case}: {step:#?}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert_eq!(
            broker.drain("q"),
            vec!["kept"],
            "{case}: the queue is unchanged"
        );
    }
}

#[test]
fn redeclare_of_a_queue_declared_without_arguments_refuses_new_ones() {
    let mut broker = broker_with(FieldTable::new());
    broker
        .declare(1, 1, "q", table(&[("x-max-length", int(5))]))
        .assert_channel_error(ReplyCode::PreconditionFailed);
}

#[test]
fn redeclare_compares_integer_arguments_by_value_not_width() {
    let mut broker = broker_with(table(&[("x-max-length", int(10))]));
    for value in [
        FieldValue::I8(10),
        FieldValue::U16(10),
        FieldValue::I32(10),
        FieldValue::U32(10),
    ] {
        broker
            .declare(1, 1, "q", table(&[("x-max-length", value.clone())]))
            .assert_ok();
    }
}

#[test]
fn redeclare_ignores_unknown_arguments() {
    let mut broker = broker_with(table(&[
        ("x-brokerlab-unknown", string("a")),
        ("x-max-length", int(10)),
    ]));
    broker
        .declare(1, 1, "q", table(&[("x-max-length", int(10))]))
        .assert_ok();
    broker
        .declare(
            1,
            1,
            "q",
            table(&[("x-max-length", int(10)), ("x-other-unknown", int(1))]),
        )
        .assert_ok();
}

// ---------------------------------------------------------------------------
// Declare-ok, purge and delete counts
// ---------------------------------------------------------------------------

#[test]
fn declare_ok_of_a_new_queue_has_zero_counts() {
    let mut broker = broker();
    assert_eq!(
        broker.declare(1, 1, "q", FieldTable::new()).declare_ok(),
        Some(("q".to_owned(), 0, 0))
    );
}

#[test]
fn declare_ok_counts_ready_messages_only_and_consumers() {
    let mut broker = broker_with(FieldTable::new());
    for body in ["a", "b", "c"] {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
    assert_eq!(
        broker.get(1, 1, "q", false).bodies(),
        vec!["a"],
        "a is unacknowledged"
    );
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    assert_eq!(
        broker.consume(2, 1, "q", "c", false).bodies(),
        vec!["b"],
        "b is unacknowledged"
    );
    assert_eq!(
        broker
            .send(1, 1, support::passive_declare("q"))
            .declare_ok(),
        Some(("q".to_owned(), 1, 1))
    );
    assert_eq!(
        broker.declare(1, 1, "q", FieldTable::new()).declare_ok(),
        Some(("q".to_owned(), 1, 1))
    );
}

#[test]
fn purge_removes_ready_messages_only_and_returns_their_count() {
    let mut broker = broker_with(FieldTable::new());
    for body in ["a", "b", "c"] {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
    let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
    let step = broker.send(1, 1, purge("q"));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueuePurgeOk { message_count: 2 }]
    );
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
    // The unacknowledged message was not purged: it comes back on requeue.
    broker.nack(1, 1, tag, false, true).assert_ok();
    assert_eq!(broker.drain("q"), vec!["a"]);
    let empty = broker.send(1, 1, purge("q"));
    assert_eq!(
        empty.replies(1, 1),
        vec![Reply::QueuePurgeOk { message_count: 0 }]
    );
}

#[test]
fn purge_of_a_missing_queue_is_not_found() {
    let mut broker = broker();
    broker
        .send(1, 1, purge("missing"))
        .assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn delete_returns_the_count_of_ready_messages() {
    let mut broker = broker_with(FieldTable::new());
    for body in ["a", "b", "c"] {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
    broker.get(1, 1, "q", false).assert_ok();
    let step = broker.send(1, 1, delete("q", false, false));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 2 }]
    );
    assert!(!queue_exists(&mut broker, "q"));
}

#[test]
fn delete_with_if_unused_on_a_queue_with_consumers_is_precondition_failed() {
    let mut broker = broker_with(FieldTable::new());
    broker.connect(2);
    broker.consume(2, 1, "q", "c", false).assert_ok();
    broker
        .send(1, 1, delete("q", true, false))
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(queue_exists(&mut broker, "q"));
    // Without consumers the same delete succeeds.
    broker.send(2, 1, cancel("c")).assert_ok();
    reopen(&mut broker, 1, 1);
    let step = broker.send(1, 1, delete("q", true, false));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 0 }]
    );
}

#[test]
fn delete_with_if_empty_on_a_queue_with_ready_messages_is_precondition_failed() {
    let mut broker = broker_with(FieldTable::new());
    broker.publish(1, 1, "", "q", "m").assert_ok();
    broker
        .send(1, 1, delete("q", false, true))
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert_eq!(broker.drain("q"), vec!["m"]);
    reopen(&mut broker, 1, 1);
    let step = broker.send(1, 1, delete("q", false, true));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 0 }]
    );
}

#[test]
fn delete_with_if_empty_ignores_unacknowledged_messages() {
    let mut broker = broker_with(FieldTable::new());
    broker.publish(1, 1, "", "q", "m").assert_ok();
    broker.get(1, 1, "q", false).assert_ok();
    let step = broker.send(1, 1, delete("q", false, true));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 0 }]
    );
}

#[test]
fn deleting_a_missing_queue_succeeds_with_a_zero_count() {
    let mut broker = broker();
    let step = broker.send(1, 1, delete("missing", true, true));
    assert_eq!(
        step.replies(1, 1),
        vec![Reply::QueueDeleteOk { message_count: 0 }]
    );
}

// ---------------------------------------------------------------------------
// x-message-ttl and per-message expiration
// ---------------------------------------------------------------------------

#[test]
fn queue_message_ttl_expires_messages() {
    let mut broker = broker_with(table(&[("x-message-ttl", int(1_000))]));
    broker.publish(1, 1, "", "q", "m").assert_ok();
    assert_eq!(expired_count(&broker.run_for(999)), 0);
    assert_eq!(broker.ready_count(1, 1, "q"), 1);
    assert_eq!(expired_count(&broker.run_for(2)), 1);
    assert_eq!(broker.ready_count(1, 1, "q"), 0);
}

#[test]
fn per_message_expiration_expires_the_message() {
    let mut broker = broker_with(FieldTable::new());
    broker
        .publish_with(1, 1, "", "q", "short", expiring("500"))
        .assert_ok();
    broker
        .publish_with(1, 1, "", "q", "long", expiring("5000"))
        .assert_ok();
    broker.run_for(501);
    assert_eq!(broker.drain("q"), vec!["long"]);
}

#[test]
fn lower_of_queue_ttl_and_message_expiration_wins() {
    let cases = [
        (1_000, "100", 100),
        (100, "1000", 100),
        (500, "500", 500),
        (0, "1000", 0),
        (1_000, "0", 0),
    ];
    for (queue_ttl_ms, expiration, effective_ms) in cases {
        let mut broker = broker_with(table(&[("x-message-ttl", int(queue_ttl_ms))]));
        broker
            .publish_with(1, 1, "", "q", "m", expiring(expiration))
            .assert_ok();
        if effective_ms > 0 {
            broker.run_for(effective_ms - 1);
            assert_eq!(
                broker.ready_count(1, 1, "q"),
                1,
                "queue {queue_ttl_ms} message {expiration}: alive before"
            );
        }
        broker.run_for(2);
        assert_eq!(
            broker.ready_count(1, 1, "q"),
            0,
            "queue {queue_ttl_ms} message {expiration}: expired at {effective_ms}"
        );
    }
}

#[test]
fn zero_ttl_message_reaches_a_waiting_consumer() {
    let cases = [
        (table(&[("x-message-ttl", int(0))]), None, "queue ttl 0"),
        (FieldTable::new(), Some("0"), "expiration 0"),
    ];
    for (arguments, expiration, case) in cases {
        let mut broker = broker_with(arguments);
        broker.connect(2);
        broker.consume(2, 1, "q", "c", false).assert_ok();
        let properties = expiration.map(expiring).unwrap_or_default();
        let step = broker.publish_with(1, 1, "", "q", "now", properties);
        assert_eq!(step.bodies(), vec!["now"], "{case}");
        assert_eq!(expired_count(&step), 0, "{case}");
    }
}

#[test]
fn zero_ttl_message_without_a_waiting_consumer_expires() {
    let cases = [
        (table(&[("x-message-ttl", int(0))]), None, "queue ttl 0"),
        (FieldTable::new(), Some("0"), "expiration 0"),
    ];
    for (arguments, expiration, case) in cases {
        let mut broker = broker_with(arguments);
        let properties = expiration.map(expiring).unwrap_or_default();
        let step = broker.publish_with(1, 1, "", "q", "gone", properties);
        assert_eq!(expired_count(&step), 1, "{case}");
        assert!(is_get_empty(&broker.get(1, 1, "q", true)), "{case}");
        // A consumer arriving later does not get it either.
        broker.connect(2);
        assert!(
            broker
                .consume(2, 1, "q", "c", false)
                .deliveries()
                .is_empty(),
            "{case}"
        );
    }
}

#[test]
fn zero_ttl_message_expires_when_the_waiting_consumer_has_no_capacity() {
    let mut broker = broker_with(table(&[("x-message-ttl", int(0))]));
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(
        broker.publish(1, 1, "", "q", "first").bodies(),
        vec!["first"]
    );
    let step = broker.publish(1, 1, "", "q", "second");
    assert!(step.deliveries().is_empty());
    assert_eq!(expired_count(&step), 1);
    let acked = broker.ack(2, 1, 1, false);
    assert!(
        acked.deliveries().is_empty(),
        "the expired message is not delivered after the ack"
    );
}

#[test]
fn requeued_message_keeps_its_original_expiry() {
    let mut broker = broker_with(FieldTable::new());
    broker
        .publish_with(1, 1, "", "q", "m", expiring("1000"))
        .assert_ok();
    let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
    broker.run_for(600);
    broker.nack(1, 1, tag, false, true).assert_ok();
    broker.run_for(300);
    assert_eq!(
        broker.ready_count(1, 1, "q"),
        1,
        "900 ms after publish it is alive"
    );
    let step = broker.run_for(101);
    assert_eq!(
        expired_count(&step),
        1,
        "1001 ms after publish it expired, though requeued at 600"
    );
    assert!(is_get_empty(&broker.get(1, 1, "q", true)));
}

#[test]
fn requeued_message_already_past_its_expiry_is_not_redelivered() {
    let mut broker = broker_with(table(&[("x-message-ttl", int(100))]));
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
    broker.run_for(500);
    let step = broker.nack(1, 1, tag, false, true);
    step.assert_ok();
    assert!(is_get_empty(&broker.get(1, 1, "q", true)));
}

#[test]
fn expired_message_is_never_delivered_through_basic_get() {
    let mut broker = broker_with(table(&[("x-message-ttl", int(100))]));
    broker.publish(1, 1, "", "q", "m").assert_ok();
    // Move the clock without a timeout: the get itself must find it expired.
    broker.now_ms += 200;
    let step = broker.get(1, 1, "q", true);
    assert!(step.deliveries().is_empty(), "{step:#?}");
    assert!(is_get_empty(&step));
    assert_eq!(expired_count(&step), 1);
}

#[test]
fn expired_message_is_never_delivered_to_a_consumer() {
    let mut broker = broker_with(FieldTable::new());
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(broker.publish(1, 1, "", "q", "live").bodies(), vec!["live"]);
    broker
        .publish_with(1, 1, "", "q", "short", expiring("100"))
        .assert_ok();
    broker.now_ms += 200;
    let step = broker.ack(2, 1, 1, false);
    assert!(step.deliveries().is_empty(), "{step:#?}");
    assert_eq!(expired_count(&step), 1);
}

#[test]
fn expired_message_behind_live_one_waits_at_the_head() {
    let mut broker = broker_with(FieldTable::new());
    broker.publish(1, 1, "", "q", "live").assert_ok();
    broker
        .publish_with(1, 1, "", "q", "short", expiring("100"))
        .assert_ok();
    let waited = broker.run_for(1_000);
    assert_eq!(expired_count(&waited), 0, "not at the head yet");
    assert_eq!(broker.ready_count(1, 1, "q"), 2, "it still counts");
    // The get that uncovers it removes it at once, as RabbitMQ's queue drops
    // expired heads right after every fetch, and get-ok does not count it.
    let uncovered = broker.get(1, 1, "q", true);
    assert_eq!(uncovered.bodies(), vec!["live"]);
    assert_eq!(expired_count(&uncovered), 1);
    match &uncovered.all_replies()[0].2 {
        Reply::GetOk { message_count, .. } => assert_eq!(*message_count, 0),
        other => panic!("expected get-ok, got {other:?}"),
    }
    let step = broker.get(1, 1, "q", true);
    assert!(
        is_get_empty(&step),
        "at the head it is removed, never delivered"
    );
}

#[test]
fn expired_message_is_dead_lettered_with_reason_expired() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-message-ttl", int(100)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let step = broker.run_for(200);
    assert_eq!(
        dead_lettered_reasons(&step),
        vec![DeadLetterReason::Expired]
    );
    assert_eq!(death_reason(&take_one(&mut broker, "dead")), "expired");
}

#[test]
fn invalid_expiration_is_precondition_failed_on_publish() {
    for expiration in [
        "abc",
        "-1",
        "1.5",
        "",
        " 5",
        "5 ",
        "1e3",
        "99999999999999999999999",
    ] {
        let mut broker = broker_with(FieldTable::new());
        let step = broker.publish_with(1, 1, "", "q", "m", expiring(expiration));
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "expiration {expiration:?}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(
            broker.drain("q").is_empty(),
            "expiration {expiration:?} was not enqueued"
        );
    }
}

#[test]
fn valid_expiration_is_accepted_on_publish() {
    for expiration in ["0", "1", "60000", "+5", "007"] {
        let mut broker = broker_with(FieldTable::new());
        broker.connect(2);
        broker.consume(2, 1, "q", "c", true).assert_ok();
        let step = broker.publish_with(1, 1, "", "q", "m", expiring(expiration));
        step.assert_ok();
        assert_eq!(step.bodies(), vec!["m"], "expiration {expiration:?}");
    }
}

// ---------------------------------------------------------------------------
// x-expires
// ---------------------------------------------------------------------------

/// Whether the queue still exists, by a mandatory publish (which, unlike a
/// declare, get or consume, does not count as using the queue).
fn exists_by_publish(broker: &mut Harness, queue: &str) -> bool {
    let step = broker.send(1, 1, mandatory(queue, "probe"));
    step.assert_ok();
    !was_returned(&step)
}

#[test]
fn unused_queue_is_deleted_after_x_expires() {
    let mut broker = broker_with(table(&[("x-expires", int(1_000))]));
    broker.run_for(999);
    assert!(
        exists_by_publish(&mut broker, "q"),
        "alive before x-expires"
    );
    broker.run_for(2);
    assert!(!queue_exists(&mut broker, "q"), "deleted after x-expires");
}

#[test]
fn consumer_keeps_an_expiring_queue_alive() {
    let mut broker = broker_with(table(&[("x-expires", int(1_000))]));
    broker.connect(2);
    broker.consume(2, 1, "q", "c", true).assert_ok();
    broker.run_for(10_000);
    let step = broker.publish(1, 1, "", "q", "still-here");
    assert_eq!(step.bodies(), vec!["still-here"], "the consumer kept it");
    broker.send(2, 1, cancel("c")).assert_ok();
    broker.run_for(999);
    assert!(
        exists_by_publish(&mut broker, "q"),
        "unused only since the cancel"
    );
    broker.run_for(2);
    assert!(!queue_exists(&mut broker, "q"));
}

#[test]
fn basic_get_keeps_an_expiring_queue_alive() {
    let mut broker = broker_with(table(&[("x-expires", int(1_000))]));
    broker.run_for(600);
    assert!(is_get_empty(&broker.get(1, 1, "q", true)));
    broker.run_for(600);
    assert!(
        exists_by_publish(&mut broker, "q"),
        "1200 ms after declare, 600 after the get"
    );
    broker.run_for(401);
    assert!(!queue_exists(&mut broker, "q"));
}

#[test]
fn redeclare_keeps_an_expiring_queue_alive() {
    let arguments = table(&[("x-expires", int(1_000))]);
    let mut broker = broker_with(arguments.clone());
    broker.run_for(600);
    broker.declare(1, 1, "q", arguments).assert_ok();
    broker.run_for(600);
    assert!(
        exists_by_publish(&mut broker, "q"),
        "1200 ms after declare, 600 after the redeclare"
    );
    broker.run_for(401);
    assert!(!queue_exists(&mut broker, "q"));
}

#[test]
fn passive_declare_keeps_an_expiring_queue_alive() {
    // In RabbitMQ 3.10 every queue.declare of an existing queue, passive
    // included, asks the queue for its stats, which restarts the expiry timer.
    let mut broker = broker_with(table(&[("x-expires", int(1_000))]));
    broker.run_for(600);
    broker.send(1, 1, support::passive_declare("q")).assert_ok();
    broker.run_for(600);
    assert!(
        exists_by_publish(&mut broker, "q"),
        "1200 ms after declare, 600 after the passive declare"
    );
}

#[test]
fn expiring_queue_messages_are_not_dead_lettered() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-expires", int(1_000)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    let step = broker.run_for(1_001);
    assert!(dead_lettered_reasons(&step).is_empty(), "{step:#?}");
    assert!(!queue_exists(&mut broker, "q"));
    assert!(broker.drain("dead").is_empty());
}

// ---------------------------------------------------------------------------
// x-max-length, x-max-length-bytes and x-overflow
// ---------------------------------------------------------------------------

#[test]
fn max_length_drops_the_oldest_ready_message() {
    let mut broker = broker_with(table(&[("x-max-length", int(2))]));
    for body in ["a", "b", "c", "d"] {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
    assert_eq!(broker.drain("q"), vec!["c", "d"]);
}

#[test]
fn max_length_dead_letters_the_dropped_head_with_reason_maxlen() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-max-length", int(1)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "a").assert_ok();
    let step = broker.publish(1, 1, "", "q", "b");
    assert_eq!(dead_lettered_reasons(&step), vec![DeadLetterReason::MaxLen]);
    let dead = take_one(&mut broker, "dead");
    assert_eq!(&dead.body[..], b"a");
    assert_eq!(death_reason(&dead), "maxlen");
    assert_eq!(broker.drain("q"), vec!["b"]);
}

#[test]
fn max_length_counts_ready_messages_only() {
    let mut broker = broker_with(table(&[("x-max-length", int(2))]));
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    broker.get(1, 1, "q", false).assert_ok();
    broker.get(1, 1, "q", false).assert_ok();
    for body in ["c", "d"] {
        let step = broker.publish(1, 1, "", "q", body);
        assert!(
            !step
                .events()
                .iter()
                .any(|event| matches!(event, Event::Dropped { .. })),
            "{body} fits: {step:#?}"
        );
    }
    assert_eq!(broker.drain("q"), vec!["c", "d"]);
}

#[test]
fn max_length_bytes_counts_body_bytes_of_ready_messages() {
    let mut broker = broker_with(table(&[("x-max-length-bytes", int(10))]));
    for body in ["aaaa", "bbbb", "cccc"] {
        broker.publish(1, 1, "", "q", body).assert_ok();
    }
    assert_eq!(broker.drain("q"), vec!["bbbb", "cccc"]);
    // Unacknowledged bytes do not count.
    let mut broker = broker_with(table(&[("x-max-length-bytes", int(10))]));
    broker.publish(1, 1, "", "q", "aaaaaaaa").assert_ok();
    broker.get(1, 1, "q", false).assert_ok();
    broker.publish(1, 1, "", "q", "bbbbbbbb").assert_ok();
    assert_eq!(broker.drain("q"), vec!["bbbbbbbb"]);
}

#[test]
fn zero_max_length_keeps_nothing_ready() {
    let mut broker = broker_with(table(&[("x-max-length", int(0))]));
    broker.publish(1, 1, "", "q", "a").assert_ok();
    assert!(broker.drain("q").is_empty());
}

#[test]
fn requeue_over_max_length_drops_the_head_at_once() {
    let cases = [
        (table(&[("x-max-length", int(1))]), "x-max-length"),
        (
            table(&[("x-max-length-bytes", int(1))]),
            "x-max-length-bytes",
        ),
    ];
    for (arguments, case) in cases {
        let mut broker = broker();
        dead_letter_sink(&mut broker);
        let mut arguments = arguments;
        arguments.insert("x-dead-letter-exchange".into(), string("dlx"));
        broker.declare(1, 1, "q", arguments).assert_ok();
        broker.publish(1, 1, "", "q", "a").assert_ok();
        let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
        broker.publish(1, 1, "", "q", "b").assert_ok();
        let step = broker.nack(1, 1, tag, false, true);
        assert_eq!(
            dead_lettered_reasons(&step),
            vec![DeadLetterReason::MaxLen],
            "{case}"
        );
        assert_eq!(
            broker.drain("dead"),
            vec!["a"],
            "{case}: the requeued head went"
        );
        assert_eq!(broker.drain("q"), vec!["b"], "{case}");
    }
}

#[test]
fn drop_head_is_the_default_overflow() {
    let explicit = broker_with(table(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("drop-head")),
    ]));
    let implicit = broker_with(table(&[("x-max-length", int(1))]));
    for (mut broker, case) in [(explicit, "explicit"), (implicit, "default")] {
        broker.send(1, 1, Command::ConfirmSelect).assert_ok();
        let first = broker.publish(1, 1, "", "q", "a");
        let second = broker.publish(1, 1, "", "q", "b");
        assert_eq!(first.confirms(), vec![(1, true)], "{case}");
        assert_eq!(second.confirms(), vec![(2, true)], "{case}");
        assert_eq!(broker.drain("q"), vec!["b"], "{case}");
    }
}

#[test]
fn reject_publish_refuses_new_messages_and_nacks_them_with_confirms() {
    let mut broker = broker_with(table(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish")),
    ]));
    broker.send(1, 1, Command::ConfirmSelect).assert_ok();
    assert_eq!(
        broker.publish(1, 1, "", "q", "a").confirms(),
        vec![(1, true)]
    );
    let refused = broker.publish(1, 1, "", "q", "b");
    refused.assert_ok();
    assert_eq!(refused.confirms(), vec![(2, false)]);
    assert_eq!(broker.drain("q"), vec!["a"]);
    assert_eq!(
        broker.publish(1, 1, "", "q", "c").confirms(),
        vec![(3, true)],
        "room again after the drain"
    );
}

#[test]
fn reject_publish_without_confirms_drops_the_new_message_silently() {
    let mut broker = broker_with(table(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish")),
    ]));
    broker.publish(1, 1, "", "q", "a").assert_ok();
    let refused = broker.publish(1, 1, "", "q", "b");
    refused.assert_ok();
    assert!(refused.confirms().is_empty());
    assert_eq!(broker.drain("q"), vec!["a"]);
}

#[test]
fn reject_publish_refusal_does_not_stop_other_queues_taking_the_message() {
    let mut broker = broker();
    broker
        .declare(
            1,
            1,
            "full",
            table(&[
                ("x-max-length", int(1)),
                ("x-overflow", string("reject-publish")),
            ]),
        )
        .assert_ok();
    broker.declare(1, 1, "open", FieldTable::new()).assert_ok();
    broker.bind(1, 1, "full", "amq.fanout", "").assert_ok();
    broker.bind(1, 1, "open", "amq.fanout", "").assert_ok();
    broker.send(1, 1, Command::ConfirmSelect).assert_ok();
    assert_eq!(
        broker.publish(1, 1, "amq.fanout", "", "a").confirms(),
        vec![(1, true)]
    );
    assert_eq!(
        broker.publish(1, 1, "amq.fanout", "", "b").confirms(),
        vec![(2, false)]
    );
    assert_eq!(broker.drain("full"), vec!["a"]);
    assert_eq!(broker.drain("open"), vec!["a", "b"]);
}

#[test]
fn reject_publish_dlx_dead_letters_the_refused_message_with_reason_maxlen() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    let arguments = table(&[
        ("x-max-length", int(1)),
        ("x-overflow", string("reject-publish-dlx")),
        ("x-dead-letter-exchange", string("dlx")),
    ]);
    broker.declare(1, 1, "q", arguments).assert_ok();
    broker.send(1, 1, Command::ConfirmSelect).assert_ok();
    assert_eq!(
        broker.publish(1, 1, "", "q", "a").confirms(),
        vec![(1, true)]
    );
    let refused = broker.publish(1, 1, "", "q", "b");
    assert_eq!(refused.confirms(), vec![(2, false)]);
    assert_eq!(
        dead_lettered_reasons(&refused),
        vec![DeadLetterReason::MaxLen]
    );
    let dead = take_one(&mut broker, "dead");
    assert_eq!(
        &dead.body[..],
        b"b",
        "the new message is the one dead-lettered"
    );
    assert_eq!(death_reason(&dead), "maxlen");
    assert_eq!(broker.drain("q"), vec!["a"]);
}

// ---------------------------------------------------------------------------
// x-max-priority
// ---------------------------------------------------------------------------

fn publish_prioritised(broker: &mut Harness, messages: &[(&str, Option<u8>)]) {
    for (body, level) in messages {
        let properties = level.map(priority).unwrap_or_default();
        broker
            .publish_with(1, 1, "", "q", body, properties)
            .assert_ok();
    }
}

#[test]
fn priority_queue_delivers_higher_priority_first_and_fifo_within_one() {
    let mut broker = broker_with(table(&[("x-max-priority", int(5))]));
    publish_prioritised(
        &mut broker,
        &[
            ("a1", Some(1)),
            ("c3", Some(3)),
            ("b1", Some(1)),
            ("d5", Some(5)),
            ("e3", Some(3)),
            ("f5", Some(5)),
        ],
    );
    assert_eq!(broker.drain("q"), vec!["d5", "f5", "c3", "e3", "a1", "b1"]);
}

#[test]
fn priority_above_the_maximum_counts_as_the_maximum() {
    let mut broker = broker_with(table(&[("x-max-priority", int(2))]));
    publish_prioritised(
        &mut broker,
        &[
            ("low", Some(1)),
            ("at-max", Some(2)),
            ("above", Some(9)),
            ("max-again", Some(2)),
            ("top", Some(255)),
        ],
    );
    assert_eq!(
        broker.drain("q"),
        vec!["at-max", "above", "max-again", "top", "low"]
    );
}

#[test]
fn message_without_priority_counts_as_zero() {
    let mut broker = broker_with(table(&[("x-max-priority", int(3))]));
    publish_prioritised(
        &mut broker,
        &[
            ("none-1", None),
            ("zero", Some(0)),
            ("none-2", None),
            ("one", Some(1)),
        ],
    );
    assert_eq!(broker.drain("q"), vec!["one", "none-1", "zero", "none-2"]);
}

#[test]
fn queue_without_max_priority_ignores_message_priorities() {
    let mut broker = broker_with(FieldTable::new());
    publish_prioritised(
        &mut broker,
        &[("a", Some(1)), ("b", Some(9)), ("c", None), ("d", Some(5))],
    );
    assert_eq!(broker.drain("q"), vec!["a", "b", "c", "d"]);
}

#[test]
fn priority_order_applies_to_consumers() {
    let mut broker = broker_with(table(&[("x-max-priority", int(10))]));
    broker.connect(2);
    broker.qos(2, 1, 1, false).assert_ok();
    broker.consume(2, 1, "q", "c", false).assert_ok();
    let mut order = Vec::new();
    order.extend(
        broker
            .publish_with(1, 1, "", "q", "first", priority(1))
            .bodies(),
    );
    publish_prioritised(
        &mut broker,
        &[("low", Some(1)), ("high", Some(8)), ("mid", Some(4))],
    );
    for tag in 1..=4 {
        order.extend(broker.ack(2, 1, tag, false).bodies());
    }
    assert_eq!(order, vec!["first", "high", "mid", "low"]);
}

#[test]
fn requeued_message_goes_back_to_the_head_of_its_priority() {
    let mut broker = broker_with(table(&[("x-max-priority", int(5))]));
    publish_prioritised(
        &mut broker,
        &[("low", Some(1)), ("high-1", Some(5)), ("high-2", Some(5))],
    );
    let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
    broker.nack(1, 1, tag, false, true).assert_ok();
    assert_eq!(broker.drain("q"), vec!["high-1", "high-2", "low"]);
}

// ---------------------------------------------------------------------------
// x-single-active-consumer
// ---------------------------------------------------------------------------

/// A single-active-consumer queue `q` with consumer `c1` on connection 2 and
/// `c2` on connection 3, both with prefetch `prefetch` (0: unlimited).
fn single_active_setup(prefetch: u16) -> Harness {
    let mut broker = broker_with(table(&[(
        "x-single-active-consumer",
        FieldValue::Bool(true),
    )]));
    for (conn, tag) in [(2, "c1"), (3, "c2")] {
        broker.connect(conn);
        broker.qos(conn, 1, prefetch, false).assert_ok();
        broker.consume(conn, 1, "q", tag, false).assert_ok();
    }
    broker
}

#[test]
fn single_active_consumer_gives_every_message_to_one_consumer() {
    let mut broker = single_active_setup(0);
    let mut receivers = Vec::new();
    for body in ["a", "b", "c", "d", "e"] {
        receivers.extend(
            broker
                .publish(1, 1, "", "q", body)
                .deliveries()
                .iter()
                .map(|delivery| delivery.conn),
        );
    }
    assert_eq!(receivers, vec![2, 2, 2, 2, 2]);
}

#[test]
fn single_active_consumer_does_not_spill_to_other_consumers_when_full() {
    let mut broker = single_active_setup(1);
    let mut deliveries = Vec::new();
    for body in ["a", "b", "c"] {
        deliveries.extend(broker.publish(1, 1, "", "q", body).deliveries());
    }
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert_eq!(
        (deliveries[0].conn, deliveries[0].body_str()),
        (2, "a".to_owned())
    );
    assert_eq!(broker.ready_count(1, 1, "q"), 2);
    let acked = broker.ack(2, 1, 1, false);
    assert_eq!(
        acked
            .deliveries()
            .iter()
            .map(|delivery| (delivery.conn, delivery.body_str()))
            .collect::<Vec<_>>(),
        vec![(2, "b".to_owned())]
    );
}

#[test]
fn next_consumer_takes_over_when_the_active_one_is_cancelled() {
    let mut broker = single_active_setup(1);
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    let step = broker.send(2, 1, cancel("c1"));
    let taken: Vec<(u64, String)> = step
        .deliveries()
        .iter()
        .map(|delivery| (delivery.conn, delivery.body_str()))
        .collect();
    assert_eq!(taken, vec![(3, "b".to_owned())]);
    // The cancelled consumer's unacknowledged delivery stays with its channel.
    broker.ack(2, 1, 1, false).assert_ok();
    let later = broker.publish(1, 1, "", "q", "c");
    assert!(later.deliveries().is_empty(), "c2 is at its prefetch limit");
    assert_eq!(broker.ack(3, 1, 1, false).bodies(), vec!["c"]);
}

#[test]
fn next_consumer_takes_over_when_the_active_ones_channel_closes() {
    let mut broker = single_active_setup(1);
    broker.publish(1, 1, "", "q", "a").assert_ok();
    broker.publish(1, 1, "", "q", "b").assert_ok();
    let step = broker.send(2, 1, Command::ChannelClose);
    let taken: Vec<(u64, String, bool)> = step
        .deliveries()
        .iter()
        .map(|delivery| (delivery.conn, delivery.body_str(), delivery.redelivered))
        .collect();
    assert_eq!(
        taken,
        vec![(3, "a".to_owned(), true)],
        "the requeued message goes to the new active consumer"
    );
    assert_eq!(broker.ack(3, 1, 1, false).bodies(), vec!["b"]);
}

// ---------------------------------------------------------------------------
// x-delivery-limit
// ---------------------------------------------------------------------------

#[test]
fn message_returned_more_than_the_delivery_limit_is_dead_lettered_with_reason_delivery_limit() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-delivery-limit", int(1)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let first = broker.get(1, 1, "q", false).deliveries()[0].clone();
    let requeued = broker.nack(1, 1, first.tag, false, true);
    assert!(
        dead_lettered_reasons(&requeued).is_empty(),
        "one return is within the limit"
    );
    let second = broker.get(1, 1, "q", false).deliveries()[0].clone();
    assert!(second.redelivered);
    let step = broker.nack(1, 1, second.tag, false, true);
    assert_eq!(
        dead_lettered_reasons(&step),
        vec![DeadLetterReason::DeliveryLimit]
    );
    assert!(is_get_empty(&broker.get(1, 1, "q", true)), "not requeued");
    assert_eq!(
        death_reason(&take_one(&mut broker, "dead")),
        "delivery_limit"
    );
}

#[test]
fn redelivery_carries_the_x_delivery_count_header() {
    let mut broker = broker_with(table(&[("x-delivery-limit", int(5))]));
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let mut counts = Vec::new();
    for _ in 0..3 {
        let delivery = broker.get(1, 1, "q", false).deliveries()[0].clone();
        counts.push(header(&delivery.message, "x-delivery-count").and_then(FieldValue::as_integer));
        broker.nack(1, 1, delivery.tag, false, true).assert_ok();
    }
    assert_eq!(counts, vec![None, Some(1), Some(2)]);
}

#[test]
fn delivery_limit_counts_returns_by_channel_close() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-delivery-limit", int(0)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    broker.connect(2);
    assert_eq!(broker.consume(2, 1, "q", "c", false).bodies(), vec!["m"]);
    let step = broker.send(2, 1, Command::ChannelClose);
    assert_eq!(
        dead_lettered_reasons(&step),
        vec![DeadLetterReason::DeliveryLimit]
    );
    assert_eq!(broker.drain("dead"), vec!["m"]);
    assert!(broker.drain("q").is_empty());
}

#[test]
fn delivery_limit_does_not_count_rejects_without_requeue() {
    let mut broker = broker();
    dead_letter_sink(&mut broker);
    broker
        .declare(
            1,
            1,
            "q",
            table(&[
                ("x-delivery-limit", int(0)),
                ("x-dead-letter-exchange", string("dlx")),
            ]),
        )
        .assert_ok();
    broker.publish(1, 1, "", "q", "m").assert_ok();
    let tag = broker.get(1, 1, "q", false).deliveries()[0].tag;
    let step = broker.reject(1, 1, tag, false);
    assert_eq!(
        dead_lettered_reasons(&step),
        vec![DeadLetterReason::Rejected]
    );
}

// ---------------------------------------------------------------------------
// Argument validation
// ---------------------------------------------------------------------------

#[test]
fn unknown_x_argument_is_ignored() {
    let arguments = table(&[
        ("x-brokerlab-unknown", int(-1)),
        ("x-custom", string("anything")),
        ("plain", FieldValue::Bool(true)),
    ]);
    let mut broker = broker_with(arguments);
    broker.publish(1, 1, "", "q", "m").assert_ok();
    assert_eq!(broker.drain("q"), vec!["m"]);
}

#[test]
fn known_argument_with_a_bad_type_or_value_is_precondition_failed() {
    let cases: Vec<(&str, FieldValue)> = vec![
        ("x-message-ttl", int(-1)),
        ("x-message-ttl", string("1000")),
        ("x-message-ttl", FieldValue::F64(1000f64.to_bits())),
        ("x-expires", int(0)),
        ("x-expires", int(-5)),
        ("x-expires", string("1000")),
        ("x-max-length", int(-1)),
        ("x-max-length", string("10")),
        ("x-max-length-bytes", int(-1)),
        ("x-max-length-bytes", FieldValue::Bool(true)),
        ("x-overflow", string("drop-tail")),
        ("x-overflow", int(1)),
        ("x-max-priority", int(256)),
        ("x-max-priority", int(-1)),
        ("x-max-priority", string("5")),
        ("x-single-active-consumer", string("true")),
        ("x-single-active-consumer", int(1)),
        ("x-delivery-limit", int(-1)),
        ("x-delivery-limit", string("3")),
        ("x-dead-letter-exchange", int(1)),
        ("x-dead-letter-routing-key", string("no-exchange-set")),
        ("x-dead-letter-routing-key", int(1)),
    ];
    for (name, value) in cases {
        let mut broker = broker();
        let step = broker.declare(1, 1, "q", table(&[(name, value.clone())]));
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{name} = {value:?}: {step:#?}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
        assert!(
            !queue_exists(&mut broker, "q"),
            "{name} = {value:?}: no queue was created"
        );
    }
}

#[test]
fn known_arguments_at_their_bounds_are_accepted() {
    let cases: Vec<(&str, FieldValue)> = vec![
        ("x-message-ttl", int(0)),
        ("x-message-ttl", FieldValue::I32(1_000)),
        ("x-message-ttl", FieldValue::U16(1_000)),
        ("x-expires", int(1)),
        ("x-max-length", int(0)),
        ("x-max-length-bytes", int(0)),
        ("x-max-priority", int(1)),
        ("x-max-priority", int(255)),
        ("x-overflow", string("drop-head")),
        ("x-overflow", string("reject-publish")),
        ("x-overflow", string("reject-publish-dlx")),
        ("x-single-active-consumer", FieldValue::Bool(false)),
        ("x-delivery-limit", int(0)),
        ("x-dead-letter-exchange", string("")),
    ];
    for (name, value) in cases {
        let mut broker = broker();
        let step = broker.declare(1, 1, "q", table(&[(name, value.clone())]));
        assert_eq!(step.close(), None, "{name} = {value:?}");
        assert_eq!(
            step.declare_ok(),
            Some(("q".to_owned(), 0, 0)),
            "{name} = {value:?}"
        );
    }
}

#[test]
fn queue_errors_close_the_channel_but_not_the_connection() {
    let mut broker = broker_with(FieldTable::new());
    broker
        .declare(1, 1, "q", table(&[("x-max-length", int(1))]))
        .assert_channel_error(ReplyCode::PreconditionFailed);
    assert!(
        broker.publish(1, 1, "", "q", "ignored").outputs.is_empty(),
        "the closed channel ignores commands"
    );
    broker.open(1, 2);
    broker.publish(1, 2, "", "q", "m").assert_ok();
    assert_eq!(broker.drain("q"), vec!["m"]);
}

#[test]
fn passive_declare_ignores_the_exclusive_flag() {
    // RabbitMQ 3.10 checks only that another connection does not own the
    // queue (rabbit_amqqueue:check_exclusive_access/2), never the flag sent.
    let passive_exclusive = |queue: &str, exclusive: bool| {
        declare_full(queue, true, false, exclusive, false, FieldTable::new())
    };
    let mut broker = broker_with(FieldTable::new());
    broker.send(1, 1, declare_exclusive("mine")).assert_ok();
    broker.connect(2);
    let cases = [
        (
            1,
            "q",
            true,
            "shared queue, exclusive flag, declaring connection",
        ),
        (
            2,
            "q",
            true,
            "shared queue, exclusive flag, other connection",
        ),
        (
            1,
            "mine",
            false,
            "exclusive queue, no exclusive flag, owner",
        ),
        (1, "mine", true, "exclusive queue, exclusive flag, owner"),
    ];
    for (conn, queue, exclusive, case) in cases {
        let step = broker.send(conn, 1, passive_exclusive(queue, exclusive));
        step.assert_ok();
        assert_eq!(step.declare_ok(), Some((queue.to_owned(), 0, 0)), "{case}");
    }
    broker.consume(2, 1, "q", "c", false).assert_ok();
    assert_eq!(
        broker.consume(1, 1, "q", "other", false).replies(1, 1),
        vec![Reply::ConsumeOk {
            consumer_tag: "other".into()
        }],
        "the passive declares left the queue shared"
    );
}

#[test]
fn max_priority_zero_is_accepted_and_keeps_publish_order() {
    // SEMANTICS.md gives the range as 1..=255; RabbitMQ 3.10 accepts 0 too
    // (check_max_priority_arg: a non-negative integer up to 255), and a queue
    // with one priority level is a plain FIFO queue.
    let mut broker = broker();
    let step = broker.declare(1, 1, "q", table(&[("x-max-priority", int(0))]));
    step.assert_ok();
    assert_eq!(step.declare_ok(), Some(("q".to_owned(), 0, 0)));
    publish_prioritised(
        &mut broker,
        &[
            ("a", Some(5)),
            ("b", None),
            ("c", Some(255)),
            ("d", Some(0)),
        ],
    );
    assert_eq!(broker.drain("q"), vec!["a", "b", "c", "d"]);
}

#[test]
fn single_active_consumer_passes_to_the_next_registered_consumer() {
    let mut broker = broker_with(table(&[(
        "x-single-active-consumer",
        FieldValue::Bool(true),
    )]));
    for (conn, tag) in [(2, "c1"), (3, "c2"), (4, "c3")] {
        broker.connect(conn);
        broker.consume(conn, 1, "q", tag, true).assert_ok();
    }
    let receivers = |step: &Step| -> Vec<u64> {
        step.deliveries()
            .iter()
            .map(|delivery| delivery.conn)
            .collect()
    };
    assert_eq!(receivers(&broker.publish(1, 1, "", "q", "a")), vec![2]);
    broker.send(2, 1, cancel("c1")).assert_ok();
    for body in ["b", "c"] {
        assert_eq!(
            receivers(&broker.publish(1, 1, "", "q", body)),
            vec![3],
            "c2 registered next after c1: {body}"
        );
    }
    broker.disconnect(3);
    assert_eq!(receivers(&broker.publish(1, 1, "", "q", "d")), vec![4]);
    broker.connect(5);
    broker.consume(5, 1, "q", "c4", true).assert_ok();
    assert_eq!(
        receivers(&broker.publish(1, 1, "", "q", "e")),
        vec![4],
        "a newcomer waits its turn"
    );
}

#[test]
fn held_bytes_count_ready_and_unacknowledged_bodies_once_per_queue_and_drop_as_they_are_acked() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker.declare(1, 1, "a", FieldTable::new()).assert_ok();
    broker.declare(1, 1, "b", FieldTable::new()).assert_ok();
    broker
        .send(
            1,
            1,
            support::bind("a", "amq.fanout", "", FieldTable::new()),
        )
        .assert_ok();
    broker
        .send(
            1,
            1,
            support::bind("b", "amq.fanout", "", FieldTable::new()),
        )
        .assert_ok();
    assert_eq!(broker.broker.held_bytes(), 0);
    broker.publish(1, 1, "amq.fanout", "", "12345").assert_ok();
    broker.publish(1, 1, "", "a", "123").assert_ok();
    assert_eq!(broker.broker.held_bytes(), 5 + 5 + 3);
    broker.connect(2);
    broker.consume(2, 1, "a", "c", false).assert_ok();
    assert_eq!(
        broker.broker.held_bytes(),
        5 + 5 + 3,
        "delivered and unacknowledged messages are still held"
    );
    broker.ack(2, 1, 2, true).assert_ok();
    assert_eq!(broker.broker.held_bytes(), 5, "acknowledged ones are not");
}

#[test]
fn a_close_caused_by_a_command_names_its_method() {
    let mut broker = Harness::default();
    broker.connect(1);
    let step = broker.send(1, 1, support::passive_declare("missing"));
    let closes: Vec<_> = step
        .outputs
        .iter()
        .filter_map(|output| match output {
            brokerlab_core::Output::Reply {
                reply: brokerlab_core::Reply::Close { method, .. },
                ..
            } => Some(*method),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![Some(brokerlab_core::Method::QueueDeclare)]);
}

#[test]
fn declaring_a_new_queue_past_the_vhosts_limit_closes_the_channel_with_406() {
    // RabbitMQ 3.10 with `set_vhost_limits -p / '{"max-queues": 2}'`.
    let mut broker = Harness::new(brokerlab_core::Config {
        queues_per_vhost_max: Some(2),
        ..brokerlab_core::Config::default()
    });
    broker.connect(1);
    broker.declare(1, 1, "a", FieldTable::new()).assert_ok();
    broker.declare(1, 1, "b", FieldTable::new()).assert_ok();
    broker.declare(1, 1, "a", FieldTable::new()).assert_ok();
    let step = broker.declare(1, 1, "c", FieldTable::new());
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    let (_, _, text) = step.close().expect("a close");
    assert_eq!(
        text,
        "PRECONDITION_FAILED - cannot declare queue 'c': queue limit in vhost '/' (2) is reached"
    );
}

/// Found by the `core_inputs` fuzz target: a client's double NaN or
/// infinity in a redeclare's arguments panicked the core while it worded
/// the "inequivalent arg" close. Client errors never panic; they close the
/// channel with the code RabbitMQ gives (its parser cannot even hold such a
/// float, so the value's text is ours).
#[test]
fn a_redeclare_with_a_nan_or_infinite_argument_is_precondition_failed_not_a_panic() {
    let original = || table(&[("x-max-length", int(10))]);
    for value in [
        FieldValue::F64(f64::NAN.to_bits()),
        FieldValue::F64(0xFFFF_0000_0000_0001),
        FieldValue::F64(f64::INFINITY.to_bits()),
        FieldValue::F64(f64::NEG_INFINITY.to_bits()),
        FieldValue::F32(f32::NAN.to_bits()),
        FieldValue::F32(f32::INFINITY.to_bits()),
    ] {
        let mut declared = broker_with(original());
        let step = declared.declare(1, 1, "q", table(&[("x-max-length", value.clone())]));
        let (_, code, text) = step.close().expect("the redeclare is refused");
        assert_eq!(code, ReplyCode::PreconditionFailed, "{value:?}");
        assert!(text.contains("inequivalent arg 'x-max-length'"), "{text}");
        // A first declare with the same value is refused as invalid, also without a panic.
        let mut fresh = broker();
        let step = fresh.declare(1, 1, "q", table(&[("x-max-length", value.clone())]));
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{value:?}"
        );
    }
}
