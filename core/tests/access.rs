//! Access control (`Config::access`): each command needs configure, write
//! or read on the exchanges and queues it names, by RabbitMQ's
//! access-control table, and a refusal closes the channel with 403
//! ACCESS_REFUSED in RabbitMQ's words. Off by default.

mod support;

use brokerlab_core::{Access, CloseScope, Command, Config, FieldTable, Permissions, ReplyCode};
use support::{declare, Harness};

/// A broker where `guest` has these patterns on "/", with queue `q`
/// declared (by the driver, before access control applies to anyone) and
/// bound to amq.direct; connection 1 is open as guest.
fn restricted(configure: &str, write: &str, read: &str) -> Harness {
    let mut access = Access::default();
    let permissions = Permissions::new(configure, write, read).expect("valid patterns");
    access.grant("guest", "/", permissions);
    access.grant("admin", "/", Permissions::all());
    let mut broker = Harness::new(Config {
        access: Some(access),
        ..Config::default()
    });
    broker.input(brokerlab_core::Input::Connect {
        conn: brokerlab_core::ConnectionId(9),
        user: "admin".into(),
        vhost: "/".into(),
        channel_max: u16::MAX,
    });
    broker.open(9, 1).assert_ok();
    broker.declare(9, 1, "q", FieldTable::new()).assert_ok();
    broker.bind(9, 1, "q", "amq.direct", "k").assert_ok();
    broker.connect(1);
    broker
}

/// Asserts the step closed the channel with 403 and RabbitMQ's text.
fn assert_refused(step: &support::Step, kind: &str, name: &str) {
    let expected =
        format!("ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user 'guest'");
    assert_eq!(
        step.close(),
        Some((CloseScope::Channel, ReplyCode::AccessRefused, expected))
    );
}

#[test]
fn without_access_control_every_user_may_do_everything() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker
        .declare(1, 1, "anything", FieldTable::new())
        .assert_ok();
}

#[test]
fn declaring_a_queue_needs_configure_on_its_name() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    broker
        .declare(1, 1, "app.jobs", FieldTable::new())
        .assert_ok();
    let step = broker.declare(1, 1, "billing", FieldTable::new());
    assert_refused(&step, "queue", "billing");
}

#[test]
fn a_passive_declare_needs_no_permission() {
    let mut broker = restricted("", "", "");
    broker.send(1, 1, support::passive_declare("q")).assert_ok();
}

#[test]
fn a_server_named_queue_is_checked_under_the_name_it_would_get() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    let step = broker.send(1, 1, declare("", FieldTable::new()));
    let name = match step.close() {
        Some((_, ReplyCode::AccessRefused, text)) => text,
        other => panic!("a generated name is not app.*: {other:?}"),
    };
    assert!(name.contains("queue 'amq.gen-"), "{name}");
}

#[test]
fn publishing_needs_write_on_the_exchange() {
    let mut broker = restricted(".*", "^amq\\.direct$", ".*");
    broker
        .publish(1, 1, "amq.direct", "k", "allowed")
        .assert_ok();
    let step = broker.publish(1, 1, "amq.fanout", "", "refused");
    assert_refused(&step, "exchange", "amq.fanout");
}

#[test]
fn binding_needs_write_on_the_queue_and_read_on_the_exchange() {
    let mut broker = restricted(".*", "^q$", "^amq\\.direct$");
    broker.bind(1, 1, "q", "amq.direct", "other").assert_ok();
    let step = broker.bind(1, 1, "q", "amq.topic", "k");
    assert_refused(&step, "exchange", "amq.topic");
    broker.open(1, 2).assert_ok();
    broker.declare(9, 1, "r", FieldTable::new()).assert_ok();
    let step = broker.bind(1, 2, "r", "amq.direct", "k");
    assert_refused(&step, "queue", "r");
}

#[test]
fn consuming_getting_and_purging_need_read_on_the_queue() {
    let mut broker = restricted(".*", ".*", "^nothing$");
    let step = broker.consume(1, 1, "q", "c", false);
    assert_refused(&step, "queue", "q");
    broker.open(1, 2).assert_ok();
    let step = broker.get(1, 2, "q", false);
    assert_refused(&step, "queue", "q");
    broker.open(1, 3).assert_ok();
    let purge = Command::QueuePurge { queue: "q".into() };
    assert_refused(&broker.send(1, 3, purge), "queue", "q");
}

#[test]
fn an_empty_pattern_allows_nothing() {
    // RabbitMQ 3.10: set_permissions with "" for configure refuses every declare.
    let mut broker = restricted("", ".*", ".*");
    let step = broker.declare(1, 1, "x", FieldTable::new());
    assert_refused(&step, "queue", "x");
}

#[test]
fn a_user_without_an_entry_for_the_vhost_may_do_nothing() {
    let mut access = Access::default();
    access.grant("someone-else", "/", Permissions::all());
    let mut broker = Harness::new(Config {
        access: Some(access),
        ..Config::default()
    });
    broker.connect(1);
    let step = broker.declare(1, 1, "x", FieldTable::new());
    assert_refused(&step, "queue", "x");
}

#[test]
fn a_refusal_closes_only_its_channel() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    broker.declare(1, 1, "billing", FieldTable::new());
    broker.open(1, 2).assert_ok();
    broker
        .declare(1, 2, "app.ok", FieldTable::new())
        .assert_ok();
}
