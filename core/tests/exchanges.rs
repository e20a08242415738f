//! Rule tests for SEMANTICS.md section 1, exchanges and routing, driven
//! through the broker: declare, delete, bind, unbind and publish; the default
//! exchange and the predeclared `amq.*` ones; direct, fanout, topic and headers
//! routing; exchange-to-exchange bindings; auto-delete and internal exchanges.

mod support;

use brokerlab_core::{Command, Event, FieldTable, FieldValue, Properties, Reply, ReplyCode};
use support::{bind, int, string, table, Harness};

/// An exchange.declare with every field spelled out.
fn exchange_declare_with(
    exchange: &str,
    kind: &str,
    passive: bool,
    durable: bool,
    auto_delete: bool,
    internal: bool,
) -> Command {
    Command::ExchangeDeclare {
        exchange: exchange.into(),
        kind: kind.into(),
        passive,
        durable,
        auto_delete,
        internal,
        arguments: FieldTable::new(),
    }
}

fn exchange_delete(exchange: &str, if_unused: bool) -> Command {
    Command::ExchangeDelete {
        exchange: exchange.into(),
        if_unused,
    }
}

fn exchange_bind(destination: &str, source: &str, key: &str) -> Command {
    Command::ExchangeBind {
        destination: destination.into(),
        source: source.into(),
        routing_key: key.into(),
        arguments: FieldTable::new(),
    }
}

fn exchange_unbind(destination: &str, source: &str, key: &str) -> Command {
    Command::ExchangeUnbind {
        destination: destination.into(),
        source: source.into(),
        routing_key: key.into(),
        arguments: FieldTable::new(),
    }
}

fn queue_unbind(queue: &str, exchange: &str, key: &str, arguments: FieldTable) -> Command {
    Command::QueueUnbind {
        queue: queue.into(),
        exchange: exchange.into(),
        routing_key: key.into(),
        arguments,
    }
}

/// Properties carrying these headers.
fn with_headers(headers: FieldTable) -> Properties {
    Properties {
        headers: Some(std::sync::Arc::new(headers)),
        ..Properties::default()
    }
}

/// A broker with connection 1 (channel 1 open) and the named queues declared.
fn broker_with_queues(queues: &[&str]) -> Harness {
    let mut broker = Harness::default();
    broker.connect(1);
    for queue in queues {
        broker.declare(1, 1, queue, FieldTable::new()).assert_ok();
    }
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

/// Whether the exchange exists, by a passive declare on a throwaway connection.
fn exchange_exists(broker: &mut Harness, exchange: &str) -> bool {
    const PROBE: u64 = 777;
    broker.connect(PROBE);
    let step = broker.send(
        PROBE,
        1,
        exchange_declare_with(exchange, "direct", true, false, false, false),
    );
    broker.disconnect(PROBE);
    match step.close() {
        None => {
            assert_eq!(
                step.replies(PROBE, 1),
                vec![Reply::ExchangeDeclareOk],
                "{step:#?}"
            );
            true
        }
        Some(_) => {
            step.assert_channel_error(ReplyCode::NotFound);
            false
        }
    }
}

/// How many queues took the message, by the `Enqueued` events of a step.
fn enqueued_count(step: &support::Step) -> usize {
    step.events()
        .iter()
        .filter(|event| matches!(event, Event::Enqueued { .. }))
        .count()
}

// ---------------------------------------------------------------------------
// The default exchange
// ---------------------------------------------------------------------------

#[test]
fn default_exchange_routes_by_queue_name() {
    let mut broker = broker_with_queues(&["alpha", "beta"]);
    broker.publish(1, 1, "", "alpha", "to-alpha").assert_ok();
    broker.publish(1, 1, "", "beta", "to-beta").assert_ok();
    assert_eq!(broker.drain("alpha"), vec!["to-alpha"]);
    assert_eq!(broker.drain("beta"), vec!["to-beta"]);
}

#[test]
fn default_exchange_drops_a_message_for_a_missing_queue_without_error() {
    let mut broker = broker_with_queues(&["alpha"]);
    let step = broker.publish(1, 1, "", "nobody", "lost");
    step.assert_ok();
    assert_eq!(enqueued_count(&step), 0);
    assert!(step.events().iter().any(|event| matches!(
        event,
        Event::Dropped {
            reason: brokerlab_core::DropReason::Unroutable,
            ..
        }
    )));
    broker.publish(1, 1, "", "alpha", "still-open").assert_ok();
    assert_eq!(broker.drain("alpha"), vec!["still-open"]);
}

#[test]
fn binding_to_default_exchange_is_access_refused() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .bind(1, 1, "q", "", "other-key")
        .assert_channel_error(ReplyCode::AccessRefused);
    reopen(&mut broker, 1, 1);
    // Nothing was bound: only the implicit binding by name routes.
    broker.publish(1, 1, "", "other-key", "x").assert_ok();
    assert!(broker.drain("q").is_empty());
}

#[test]
fn unbinding_from_default_exchange_is_access_refused() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(1, 1, queue_unbind("q", "", "q", FieldTable::new()))
        .assert_channel_error(ReplyCode::AccessRefused);
    reopen(&mut broker, 1, 1);
    broker.publish(1, 1, "", "q", "still-bound").assert_ok();
    assert_eq!(broker.drain("q"), vec!["still-bound"]);
}

#[test]
fn declaring_default_exchange_is_access_refused() {
    let cases = [
        ("direct", false, "plain declare"),
        ("fanout", false, "declare with another type"),
        ("direct", true, "passive declare"),
    ];
    for (kind, passive, case) in cases {
        let mut broker = broker_with_queues(&[]);
        let step = broker.send(
            1,
            1,
            exchange_declare_with("", kind, passive, true, false, false),
        );
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::AccessRefused),
            "{case}"
        );
        step.assert_channel_error(ReplyCode::AccessRefused);
    }
}

#[test]
fn deleting_default_exchange_is_access_refused() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(1, 1, exchange_delete("", false))
        .assert_channel_error(ReplyCode::AccessRefused);
    reopen(&mut broker, 1, 1);
    broker
        .publish(1, 1, "", "q", "default-still-routes")
        .assert_ok();
    assert_eq!(broker.drain("q"), vec!["default-still-routes"]);
}

#[test]
fn exchange_binding_with_default_exchange_is_access_refused() {
    let mut broker = broker_with_queues(&[]);
    broker.declare_exchange(1, 1, "x", "direct").assert_ok();
    broker
        .send(1, 1, exchange_bind("x", "", "k"))
        .assert_channel_error(ReplyCode::AccessRefused);
    reopen(&mut broker, 1, 1);
    broker
        .send(1, 1, exchange_bind("", "x", "k"))
        .assert_channel_error(ReplyCode::AccessRefused);
    reopen(&mut broker, 1, 1);
    broker
        .send(1, 1, exchange_unbind("x", "", "k"))
        .assert_channel_error(ReplyCode::AccessRefused);
}

// ---------------------------------------------------------------------------
// Predeclared amq.* exchanges and reserved names
// ---------------------------------------------------------------------------

const PREDECLARED: [(&str, &str); 5] = [
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
];

#[test]
fn predeclared_amq_exchanges_exist_from_the_start() {
    let mut broker = broker_with_queues(&[]);
    for (exchange, _) in PREDECLARED {
        assert!(exchange_exists(&mut broker, exchange), "{exchange} exists");
    }
}

#[test]
fn redeclaring_a_predeclared_exchange_with_its_own_type_and_flags_is_allowed() {
    let mut broker = broker_with_queues(&[]);
    for (exchange, kind) in PREDECLARED {
        let step = broker.send(
            1,
            1,
            exchange_declare_with(exchange, kind, false, true, false, false),
        );
        step.assert_ok();
        assert_eq!(
            step.replies(1, 1),
            vec![Reply::ExchangeDeclareOk],
            "{exchange}"
        );
    }
}

#[test]
fn redeclaring_a_predeclared_exchange_differently_is_precondition_failed() {
    let cases = [
        ("amq.direct", "fanout", true, "another type"),
        ("amq.topic", "direct", true, "another type"),
        (
            "amq.fanout",
            "fanout",
            false,
            "transient instead of durable",
        ),
        ("amq.headers", "topic", true, "another type"),
    ];
    for (exchange, kind, durable, case) in cases {
        let mut broker = broker_with_queues(&[]);
        let step = broker.send(
            1,
            1,
            exchange_declare_with(exchange, kind, false, durable, false, false),
        );
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{exchange}: {case}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn declaring_a_new_amq_exchange_is_access_refused() {
    for name in ["amq.custom", "amq.", "amq.direct.2"] {
        let mut broker = broker_with_queues(&[]);
        broker
            .send(
                1,
                1,
                exchange_declare_with(name, "direct", false, true, false, false),
            )
            .assert_channel_error(ReplyCode::AccessRefused);
        assert!(
            !exchange_exists(&mut broker, name),
            "{name} was not created"
        );
    }
}

#[test]
fn deleting_a_predeclared_exchange_is_access_refused() {
    for (exchange, _) in PREDECLARED {
        let mut broker = broker_with_queues(&[]);
        broker
            .send(1, 1, exchange_delete(exchange, false))
            .assert_channel_error(ReplyCode::AccessRefused);
        assert!(
            exchange_exists(&mut broker, exchange),
            "{exchange} survives"
        );
    }
}

// ---------------------------------------------------------------------------
// Direct and fanout
// ---------------------------------------------------------------------------

#[test]
fn direct_exchange_routes_on_the_exact_key_only() {
    let mut broker = broker_with_queues(&["orders", "refunds"]);
    broker
        .bind(1, 1, "orders", "amq.direct", "order")
        .assert_ok();
    broker
        .bind(1, 1, "refunds", "amq.direct", "refund")
        .assert_ok();
    for (key, body) in [
        ("order", "o1"),
        ("refund", "r1"),
        ("Order", "case"),
        ("order.x", "longer"),
        ("orde", "shorter"),
        ("", "empty"),
    ] {
        broker.publish(1, 1, "amq.direct", key, body).assert_ok();
    }
    assert_eq!(broker.drain("orders"), vec!["o1"]);
    assert_eq!(broker.drain("refunds"), vec!["r1"]);
}

#[test]
fn direct_exchange_routes_a_key_to_every_queue_bound_with_it() {
    let mut broker = broker_with_queues(&["a", "b", "c"]);
    broker.bind(1, 1, "a", "amq.direct", "k").assert_ok();
    broker.bind(1, 1, "b", "amq.direct", "k").assert_ok();
    broker.bind(1, 1, "c", "amq.direct", "other").assert_ok();
    let step = broker.publish(1, 1, "amq.direct", "k", "m");
    assert_eq!(enqueued_count(&step), 2);
    assert_eq!(broker.drain("a"), vec!["m"]);
    assert_eq!(broker.drain("b"), vec!["m"]);
    assert!(broker.drain("c").is_empty());
}

#[test]
fn fanout_exchange_routes_to_every_bound_queue_ignoring_the_key() {
    let mut broker = broker_with_queues(&["a", "b", "unbound"]);
    broker.bind(1, 1, "a", "amq.fanout", "ignored").assert_ok();
    broker.bind(1, 1, "b", "amq.fanout", "").assert_ok();
    broker
        .publish(1, 1, "amq.fanout", "anything", "m1")
        .assert_ok();
    broker.publish(1, 1, "amq.fanout", "", "m2").assert_ok();
    assert_eq!(broker.drain("a"), vec!["m1", "m2"]);
    assert_eq!(broker.drain("b"), vec!["m1", "m2"]);
    assert!(broker.drain("unbound").is_empty());
}

// ---------------------------------------------------------------------------
// Topic, every listed case end to end
// ---------------------------------------------------------------------------

/// Whether a message published to `amq.topic` with `key` reaches a queue bound with `pattern`.
fn topic_routes(pattern: &str, key: &str) -> bool {
    let mut broker = broker_with_queues(&["q"]);
    broker.bind(1, 1, "q", "amq.topic", pattern).assert_ok();
    broker.publish(1, 1, "amq.topic", key, "m").assert_ok();
    match broker.drain("q").len() {
        0 => false,
        1 => true,
        n => panic!("pattern {pattern:?} key {key:?}: enqueued {n} times"),
    }
}

#[track_caller]
fn check_topic_cases(cases: &[(&str, &str, bool)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(pattern, key, expected)| topic_routes(pattern, key) != *expected)
        .map(|(pattern, key, expected)| {
            format!("pattern {pattern:?} key {key:?}: expected match={expected}")
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn topic_hash_matches_every_key_including_the_empty_one() {
    check_topic_cases(&[
        ("#", "", true),
        ("#", "a", true),
        ("#", "a.b.c", true),
        ("#", "..", true),
        ("#.#", "", true),
        ("#.#", "a.b", true),
        ("#.#.#", "", true),
        ("#.#.#", "a", true),
    ]);
}

#[test]
fn topic_star_matches_exactly_one_word() {
    check_topic_cases(&[
        ("*", "", false),
        ("*", "a", true),
        ("*", "a.b", false),
        ("a.*", "a.b", true),
        ("a.*", "a", false),
        ("a.*", "a.b.c", false),
        ("*.b", "a.b", true),
        ("*.*", "a.b", true),
        ("*.*", "a", false),
    ]);
}

#[test]
fn topic_star_hash_needs_at_least_one_word() {
    check_topic_cases(&[
        ("*.#", "", false),
        ("*.#", "oneword", true),
        ("*.#", "two.words", true),
    ]);
}

#[test]
fn topic_hash_star_hash_matches_a_single_word() {
    check_topic_cases(&[
        ("#.*.#", "oneword", true),
        ("#.*.#", "a.b.c", true),
        ("#.*.#", "", false),
    ]);
}

#[test]
fn topic_hash_between_words_takes_zero_or_more_words() {
    check_topic_cases(&[
        ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.b", true),
        ("a.#.b", "a.x.y.b", true),
        ("a.#.b", "a.x.y", false),
        ("a.#.b", "b.a.b.c", false),
        ("a.#", "a", true),
        ("#.b", "b", true),
    ]);
}

#[test]
fn topic_hash_on_both_sides_finds_the_word_anywhere() {
    check_topic_cases(&[
        ("#.b.#", "a.b", true),
        ("#.b.#", "a.b.c", true),
        ("#.b.#", "b.b.c", true),
        ("#.b.#", "b", true),
        ("#.b.#", "a.c", false),
        ("#.b.#", "ab.c", false),
    ]);
}

#[test]
fn topic_empty_binding_matches_only_the_empty_key() {
    check_topic_cases(&[("", "", true), ("", "a", false), ("", ".", false)]);
}

#[test]
fn topic_key_with_adjacent_dots_has_empty_words() {
    check_topic_cases(&[
        ("a.*.b", "a..b", true),
        ("*.*.*", "a..b", true),
        ("a..b", "a..b", true),
        ("a.b", "a..b", false),
        ("*.*", "a..b", false),
        ("*", ".", false),
        ("*.*", ".", true),
    ]);
}

#[test]
fn topic_wildcard_characters_inside_a_word_are_literal() {
    check_topic_cases(&[
        ("a*", "ab", false),
        ("a*", "a*", true),
        ("a#", "a.b", false),
        ("a#", "a#", true),
    ]);
}

#[test]
fn topic_exchange_with_many_bindings_routes_only_to_the_matching_queues() {
    let mut broker = Harness::default();
    broker.connect(1);
    for index in 0..200 {
        let first = format!("first-{index}");
        let second = format!("second-{index}");
        broker.declare(1, 1, &first, FieldTable::new()).assert_ok();
        broker.declare(1, 1, &second, FieldTable::new()).assert_ok();
        broker
            .bind(1, 1, &first, "amq.topic", &format!("k{index}.#"))
            .assert_ok();
        broker
            .bind(1, 1, &second, "amq.topic", &format!("*.k{index}"))
            .assert_ok();
    }
    let step = broker.publish(1, 1, "amq.topic", "k7.k93", "m");
    let mut reached: Vec<String> = step
        .events()
        .iter()
        .filter_map(|event| match event {
            Event::Enqueued { queue, .. } => Some(queue.to_string()),
            _ => None,
        })
        .collect();
    reached.sort();
    assert_eq!(reached, vec!["first-7", "second-93"]);
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

/// Whether a message with `headers` (None: no headers property) reaches a
/// queue bound to `amq.headers` with `arguments`.
fn headers_route(arguments: &FieldTable, headers: Option<FieldTable>) -> bool {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(1, 1, bind("q", "amq.headers", "", arguments.clone()))
        .assert_ok();
    let properties = Properties {
        headers: headers.map(std::sync::Arc::new),
        ..Properties::default()
    };
    broker
        .publish_with(1, 1, "amq.headers", "", "m", properties)
        .assert_ok();
    !broker.drain("q").is_empty()
}

#[track_caller]
fn check_headers_cases(cases: &[(FieldTable, Option<FieldTable>, bool, &str)]) {
    let failures: Vec<&str> = cases
        .iter()
        .filter(|(arguments, headers, expected, _)| {
            headers_route(arguments, headers.clone()) != *expected
        })
        .map(|(_, _, _, case)| *case)
        .collect();
    assert!(failures.is_empty(), "failing cases: {failures:#?}");
}

#[test]
fn headers_all_needs_every_argument_to_match() {
    let explicit = table(&[
        ("x-match", string("all")),
        ("a", int(1)),
        ("b", string("x")),
    ]);
    let implicit = table(&[("a", int(1)), ("b", string("x"))]);
    check_headers_cases(&[
        (
            explicit.clone(),
            Some(table(&[("a", int(1)), ("b", string("x"))])),
            true,
            "all present and equal",
        ),
        (
            explicit.clone(),
            Some(table(&[("a", int(1)), ("b", string("x")), ("c", int(3))])),
            true,
            "extra header",
        ),
        (
            explicit.clone(),
            Some(table(&[("a", int(1))])),
            false,
            "one missing",
        ),
        (
            explicit.clone(),
            Some(table(&[("a", int(1)), ("b", string("y"))])),
            false,
            "one different",
        ),
        (explicit, None, false, "no headers at all"),
        (
            implicit.clone(),
            Some(table(&[("a", int(1)), ("b", string("x"))])),
            true,
            "all is the default",
        ),
        (
            implicit,
            Some(table(&[("a", int(1))])),
            false,
            "default all needs both",
        ),
    ]);
}

#[test]
fn headers_any_needs_one_argument_to_match() {
    let any = table(&[
        ("x-match", string("any")),
        ("a", int(1)),
        ("b", string("x")),
    ]);
    check_headers_cases(&[
        (
            any.clone(),
            Some(table(&[("a", int(1))])),
            true,
            "first matches",
        ),
        (
            any.clone(),
            Some(table(&[("b", string("x")), ("z", int(0))])),
            true,
            "second matches",
        ),
        (
            any.clone(),
            Some(table(&[("a", int(2)), ("b", string("y"))])),
            false,
            "both differ",
        ),
        (
            any.clone(),
            Some(table(&[("c", int(1))])),
            false,
            "neither present",
        ),
        (any, None, false, "no headers at all"),
    ]);
}

#[test]
fn headers_x_arguments_are_ignored_unless_a_with_x_mode_is_used() {
    check_headers_cases(&[
        (
            table(&[
                ("x-match", string("all")),
                ("x-tenant", string("t1")),
                ("a", int(1)),
            ]),
            Some(table(&[("a", int(1))])),
            true,
            "all ignores x-tenant",
        ),
        (
            table(&[("x-match", string("any")), ("x-tenant", string("t1"))]),
            Some(table(&[("x-tenant", string("t1"))])),
            false,
            "any with only x- arguments has nothing to match",
        ),
        (
            table(&[
                ("x-match", string("all-with-x")),
                ("x-tenant", string("t1")),
                ("a", int(1)),
            ]),
            Some(table(&[("a", int(1))])),
            false,
            "all-with-x needs x-tenant",
        ),
        (
            table(&[
                ("x-match", string("all-with-x")),
                ("x-tenant", string("t1")),
                ("a", int(1)),
            ]),
            Some(table(&[("a", int(1)), ("x-tenant", string("t1"))])),
            true,
            "all-with-x with every argument",
        ),
        (
            table(&[
                ("x-match", string("any-with-x")),
                ("x-tenant", string("t1")),
                ("a", int(1)),
            ]),
            Some(table(&[("x-tenant", string("t1"))])),
            true,
            "any-with-x on the x- argument alone",
        ),
        (
            table(&[
                ("x-match", string("any-with-x")),
                ("x-tenant", string("t1")),
            ]),
            Some(table(&[("x-tenant", string("t2"))])),
            false,
            "any-with-x with a different x- value",
        ),
    ]);
}

#[test]
fn headers_void_binding_value_means_the_header_is_present() {
    check_headers_cases(&[
        (
            table(&[("a", FieldValue::Void)]),
            Some(table(&[("a", string("anything"))])),
            true,
            "string present",
        ),
        (
            table(&[("a", FieldValue::Void)]),
            Some(table(&[("a", int(7))])),
            true,
            "integer present",
        ),
        (
            table(&[("a", FieldValue::Void)]),
            Some(table(&[("b", int(7))])),
            false,
            "absent",
        ),
        (
            table(&[
                ("x-match", string("any")),
                ("a", FieldValue::Void),
                ("b", int(1)),
            ]),
            Some(table(&[("a", FieldValue::Bool(false))])),
            true,
            "any with a present void criterion",
        ),
    ]);
}

#[test]
fn headers_all_without_arguments_matches_everything_and_any_matches_nothing() {
    check_headers_cases(&[
        (FieldTable::new(), None, true, "no arguments, no headers"),
        (
            FieldTable::new(),
            Some(table(&[("a", int(1))])),
            true,
            "no arguments, some headers",
        ),
        (
            table(&[("x-match", string("all"))]),
            Some(FieldTable::new()),
            true,
            "explicit all, empty headers",
        ),
        (
            table(&[("x-match", string("all")), ("x-only", int(1))]),
            None,
            true,
            "all with only x- arguments",
        ),
        (
            table(&[("x-match", string("any"))]),
            Some(table(&[("a", int(1))])),
            false,
            "any with no arguments",
        ),
        (
            table(&[("x-match", string("any"))]),
            None,
            false,
            "any with no arguments, no headers",
        ),
    ]);
}

#[test]
fn headers_values_match_by_value_and_a_string_never_matches_a_number() {
    check_headers_cases(&[
        (
            table(&[("a", string("1"))]),
            Some(table(&[("a", int(1))])),
            false,
            "string 1 against integer 1",
        ),
        (
            table(&[("a", int(1))]),
            Some(table(&[("a", string("1"))])),
            false,
            "integer 1 against string 1",
        ),
        (
            table(&[("a", FieldValue::Bool(true))]),
            Some(table(&[("a", string("true"))])),
            false,
            "bool against string",
        ),
        (
            table(&[("a", int(1))]),
            Some(table(&[("a", int(2))])),
            false,
            "different integers",
        ),
        (
            table(&[("a", string("1"))]),
            Some(table(&[("a", string("1"))])),
            true,
            "equal strings",
        ),
        (
            table(&[("a", FieldValue::Bool(true))]),
            Some(table(&[("a", FieldValue::Bool(true))])),
            true,
            "equal bools",
        ),
        (
            table(&[("a", FieldValue::I32(1))]),
            Some(table(&[("a", int(1))])),
            true,
            "integers of different widths compare by value, as in RabbitMQ",
        ),
    ]);
}

#[test]
fn headers_binding_with_an_invalid_x_match_is_precondition_failed() {
    let invalid = [
        string("none"),
        string("ALL"),
        string(""),
        int(1),
        FieldValue::Bool(true),
    ];
    for value in invalid {
        let mut broker = broker_with_queues(&["q"]);
        let arguments = table(&[("x-match", value.clone()), ("a", int(1))]);
        broker
            .send(1, 1, bind("q", "amq.headers", "", arguments))
            .assert_channel_error(ReplyCode::PreconditionFailed);
        // The binding was not made.
        broker.open(1, 2);
        broker
            .publish_with(
                1,
                2,
                "amq.headers",
                "",
                "m",
                with_headers(table(&[("a", int(1))])),
            )
            .assert_ok();
        assert!(broker.drain("q").is_empty(), "x-match {value:?}");
    }
}

#[test]
fn headers_binding_with_a_valid_x_match_is_accepted() {
    for mode in ["all", "any", "all-with-x", "any-with-x"] {
        let mut broker = broker_with_queues(&["q"]);
        let step = broker.send(
            1,
            1,
            bind("q", "amq.headers", "", table(&[("x-match", string(mode))])),
        );
        step.assert_ok();
        assert_eq!(step.replies(1, 1), vec![Reply::QueueBindOk], "{mode}");
    }
}

#[test]
fn x_match_on_a_non_headers_exchange_is_not_validated() {
    let mut broker = broker_with_queues(&["q"]);
    let step = broker.send(
        1,
        1,
        bind(
            "q",
            "amq.direct",
            "k",
            table(&[("x-match", string("bogus"))]),
        ),
    );
    step.assert_ok();
    broker.publish(1, 1, "amq.direct", "k", "m").assert_ok();
    assert_eq!(broker.drain("q"), vec!["m"]);
}

// ---------------------------------------------------------------------------
// One enqueue per queue
// ---------------------------------------------------------------------------

#[test]
fn message_routed_to_a_queue_by_several_bindings_is_enqueued_once() {
    let mut broker = broker_with_queues(&["q"]);
    broker.bind(1, 1, "q", "amq.topic", "a.*").assert_ok();
    broker.bind(1, 1, "q", "amq.topic", "#").assert_ok();
    broker.bind(1, 1, "q", "amq.topic", "a.b").assert_ok();
    let step = broker.publish(1, 1, "amq.topic", "a.b", "once");
    assert_eq!(enqueued_count(&step), 1);
    assert_eq!(broker.drain("q"), vec!["once"]);
}

#[test]
fn message_routed_by_several_bindings_of_every_exchange_type_is_enqueued_once() {
    // direct: the same key with different arguments is two bindings.
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            bind("q", "amq.direct", "k", table(&[("tag", int(1))])),
        )
        .assert_ok();
    broker
        .send(
            1,
            1,
            bind("q", "amq.direct", "k", table(&[("tag", int(2))])),
        )
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        1,
        "direct"
    );
    // fanout: two keys.
    broker.bind(1, 1, "q", "amq.fanout", "one").assert_ok();
    broker.bind(1, 1, "q", "amq.fanout", "two").assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.fanout", "", "m")),
        1,
        "fanout"
    );
    // headers: two matching rules.
    broker
        .send(1, 1, bind("q", "amq.headers", "", table(&[("a", int(1))])))
        .assert_ok();
    broker
        .send(1, 1, bind("q", "amq.headers", "", table(&[("b", int(2))])))
        .assert_ok();
    let headers = with_headers(table(&[("a", int(1)), ("b", int(2))]));
    assert_eq!(
        enqueued_count(&broker.publish_with(1, 1, "amq.headers", "", "m", headers)),
        1,
        "headers"
    );
    assert_eq!(broker.drain("q").len(), 3);
}

#[test]
fn message_reaching_a_queue_directly_and_through_an_exchange_binding_is_enqueued_once() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "inner", "fanout").assert_ok();
    broker
        .send(1, 1, exchange_bind("inner", "amq.direct", "k"))
        .assert_ok();
    broker.bind(1, 1, "q", "inner", "").assert_ok();
    broker.bind(1, 1, "q", "amq.direct", "k").assert_ok();
    let step = broker.publish(1, 1, "amq.direct", "k", "m");
    assert_eq!(enqueued_count(&step), 1);
    assert_eq!(broker.drain("q"), vec!["m"]);
}

// ---------------------------------------------------------------------------
// Exchange-to-exchange bindings
// ---------------------------------------------------------------------------

#[test]
fn exchange_to_exchange_binding_routes_through_the_destination_exchange() {
    let mut broker = broker_with_queues(&["eu", "us"]);
    broker
        .declare_exchange(1, 1, "regions", "direct")
        .assert_ok();
    broker
        .send(1, 1, exchange_bind("regions", "amq.topic", "orders.#"))
        .assert_ok();
    broker.bind(1, 1, "eu", "regions", "orders.eu").assert_ok();
    broker.bind(1, 1, "us", "regions", "orders.us").assert_ok();
    broker
        .publish(1, 1, "amq.topic", "orders.eu", "e")
        .assert_ok();
    broker
        .publish(1, 1, "amq.topic", "orders.us", "u")
        .assert_ok();
    broker
        .publish(1, 1, "amq.topic", "payments.eu", "p")
        .assert_ok();
    assert_eq!(broker.drain("eu"), vec!["e"]);
    assert_eq!(broker.drain("us"), vec!["u"]);
}

#[test]
fn exchange_to_exchange_chain_is_followed_to_the_end() {
    let mut broker = broker_with_queues(&["q"]);
    for name in ["one", "two", "three"] {
        broker.declare_exchange(1, 1, name, "fanout").assert_ok();
    }
    broker
        .send(1, 1, exchange_bind("two", "one", ""))
        .assert_ok();
    broker
        .send(1, 1, exchange_bind("three", "two", ""))
        .assert_ok();
    broker.bind(1, 1, "q", "three", "").assert_ok();
    broker.publish(1, 1, "one", "k", "deep").assert_ok();
    assert_eq!(broker.drain("q"), vec!["deep"]);
}

#[test]
fn exchange_binding_cycle_does_not_loop() {
    let mut broker = broker_with_queues(&["q"]);
    for name in ["a", "b", "c"] {
        broker.declare_exchange(1, 1, name, "fanout").assert_ok();
    }
    broker.send(1, 1, exchange_bind("b", "a", "")).assert_ok();
    broker.send(1, 1, exchange_bind("c", "b", "")).assert_ok();
    broker.send(1, 1, exchange_bind("a", "c", "")).assert_ok();
    broker.send(1, 1, exchange_bind("a", "a", "")).assert_ok();
    broker.bind(1, 1, "q", "b", "").assert_ok();
    for start in ["a", "b", "c"] {
        let step = broker.publish(1, 1, start, "", start);
        step.assert_ok();
        assert_eq!(enqueued_count(&step), 1, "published to {start}");
    }
    assert_eq!(broker.drain("q"), vec!["a", "b", "c"]);
}

#[test]
fn exchange_unbind_stops_routing_through_the_destination() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "inner", "fanout").assert_ok();
    broker
        .send(1, 1, exchange_bind("inner", "amq.direct", "k"))
        .assert_ok();
    broker.bind(1, 1, "q", "inner", "").assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "before")
        .assert_ok();
    let step = broker.send(1, 1, exchange_unbind("inner", "amq.direct", "k"));
    assert_eq!(step.replies(1, 1), vec![Reply::ExchangeUnbindOk]);
    broker.publish(1, 1, "amq.direct", "k", "after").assert_ok();
    assert_eq!(broker.drain("q"), vec!["before"]);
}

#[test]
fn exchange_binding_to_a_missing_exchange_is_not_found() {
    let mut broker = broker_with_queues(&[]);
    broker
        .send(1, 1, exchange_bind("missing", "amq.direct", "k"))
        .assert_channel_error(ReplyCode::NotFound);
    reopen(&mut broker, 1, 1);
    broker
        .send(1, 1, exchange_bind("amq.direct", "missing", "k"))
        .assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn deleting_a_destination_exchange_removes_the_bindings_to_it() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "inner", "fanout").assert_ok();
    broker
        .send(1, 1, exchange_bind("inner", "amq.fanout", ""))
        .assert_ok();
    broker.bind(1, 1, "q", "inner", "").assert_ok();
    broker
        .send(1, 1, exchange_delete("inner", false))
        .assert_ok();
    // A new exchange of the same name is not bound from amq.fanout.
    broker.declare_exchange(1, 1, "inner", "fanout").assert_ok();
    broker.bind(1, 1, "q", "inner", "").assert_ok();
    let step = broker.publish(1, 1, "amq.fanout", "", "m");
    assert_eq!(enqueued_count(&step), 0);
}

// ---------------------------------------------------------------------------
// Declare, redeclare, passive, delete
// ---------------------------------------------------------------------------

#[test]
fn redeclaring_an_exchange_with_the_same_type_and_flags_is_allowed() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("x", "topic", false, true, false, false),
        )
        .assert_ok();
    broker.bind(1, 1, "q", "x", "#").assert_ok();
    let step = broker.send(
        1,
        1,
        exchange_declare_with("x", "topic", false, true, false, false),
    );
    assert_eq!(step.replies(1, 1), vec![Reply::ExchangeDeclareOk]);
    // The redeclare kept the bindings.
    broker.publish(1, 1, "x", "k", "m").assert_ok();
    assert_eq!(broker.drain("q"), vec!["m"]);
}

#[test]
fn redeclaring_an_exchange_with_a_different_type_is_precondition_failed() {
    for kind in ["fanout", "topic", "headers"] {
        let mut broker = broker_with_queues(&[]);
        broker.declare_exchange(1, 1, "x", "direct").assert_ok();
        broker
            .declare_exchange(1, 1, "x", kind)
            .assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn redeclaring_an_exchange_with_a_different_durability_is_precondition_failed() {
    for durable in [true, false] {
        let mut broker = broker_with_queues(&[]);
        broker
            .send(
                1,
                1,
                exchange_declare_with("x", "direct", false, durable, false, false),
            )
            .assert_ok();
        broker
            .send(
                1,
                1,
                exchange_declare_with("x", "direct", false, !durable, false, false),
            )
            .assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn redeclaring_an_exchange_with_different_auto_delete_or_internal_is_precondition_failed() {
    let cases = [(true, false, "auto_delete"), (false, true, "internal")];
    for (auto_delete, internal, case) in cases {
        let mut broker = broker_with_queues(&[]);
        broker.declare_exchange(1, 1, "x", "direct").assert_ok();
        let step = broker.send(
            1,
            1,
            exchange_declare_with("x", "direct", false, false, auto_delete, internal),
        );
        assert_eq!(
            step.close().map(|(_, code, _)| code),
            Some(ReplyCode::PreconditionFailed),
            "{case}"
        );
        step.assert_channel_error(ReplyCode::PreconditionFailed);
    }
}

#[test]
fn passive_declare_of_a_missing_exchange_is_not_found() {
    let mut broker = broker_with_queues(&[]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("missing", "direct", true, false, false, false),
        )
        .assert_channel_error(ReplyCode::NotFound);
    // The passive declare did not create it.
    assert!(!exchange_exists(&mut broker, "missing"));
}

#[test]
fn passive_exchange_declare_ignores_type_and_flags() {
    let mut broker = broker_with_queues(&[]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("x", "topic", false, true, false, false),
        )
        .assert_ok();
    let step = broker.send(
        1,
        1,
        exchange_declare_with("x", "fanout", true, false, true, true),
    );
    assert_eq!(step.replies(1, 1), vec![Reply::ExchangeDeclareOk]);
}

#[test]
fn unknown_exchange_type_closes_the_connection_with_command_invalid() {
    let mut broker = broker_with_queues(&[]);
    broker
        .declare_exchange(1, 1, "x", "x-unknown-type")
        .assert_connection_error(ReplyCode::CommandInvalid);
    assert!(!exchange_exists(&mut broker, "x"));
}

#[test]
fn publishing_to_a_missing_exchange_closes_the_channel_with_not_found() {
    let mut broker = broker_with_queues(&["q"]);
    let step = broker.publish(1, 1, "missing", "q", "m");
    step.assert_channel_error(ReplyCode::NotFound);
    assert_eq!(enqueued_count(&step), 0);
    // The connection stays usable on another channel.
    broker.open(1, 2);
    broker.publish(1, 2, "", "q", "ok").assert_ok();
    assert_eq!(broker.drain("q"), vec!["ok"]);
}

#[test]
fn deleting_an_exchange_removes_it_and_its_bindings() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "x", "fanout").assert_ok();
    broker.bind(1, 1, "q", "x", "").assert_ok();
    let step = broker.send(1, 1, exchange_delete("x", false));
    assert_eq!(step.replies(1, 1), vec![Reply::ExchangeDeleteOk]);
    broker
        .publish(1, 1, "x", "", "m")
        .assert_channel_error(ReplyCode::NotFound);
    reopen(&mut broker, 1, 1);
    broker.declare_exchange(1, 1, "x", "fanout").assert_ok();
    let step = broker.publish(1, 1, "x", "", "m");
    assert_eq!(
        enqueued_count(&step),
        0,
        "the old binding did not come back"
    );
}

#[test]
fn deleting_an_exchange_in_use_with_if_unused_is_precondition_failed() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "x", "fanout").assert_ok();
    broker.bind(1, 1, "q", "x", "").assert_ok();
    broker
        .send(1, 1, exchange_delete("x", true))
        .assert_channel_error(ReplyCode::PreconditionFailed);
    reopen(&mut broker, 1, 1);
    broker.publish(1, 1, "x", "", "kept").assert_ok();
    assert_eq!(broker.drain("q"), vec!["kept"]);
    // Unused, it may go.
    broker
        .declare_exchange(1, 1, "unused", "fanout")
        .assert_ok();
    broker
        .send(1, 1, exchange_delete("unused", true))
        .assert_ok();
    assert!(!exchange_exists(&mut broker, "unused"));
}

#[test]
fn deleting_a_missing_exchange_succeeds() {
    let mut broker = broker_with_queues(&[]);
    let step = broker.send(1, 1, exchange_delete("missing", false));
    assert_eq!(step.replies(1, 1), vec![Reply::ExchangeDeleteOk]);
}

#[test]
fn binding_to_a_missing_exchange_or_queue_is_not_found() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .bind(1, 1, "q", "missing", "k")
        .assert_channel_error(ReplyCode::NotFound);
    reopen(&mut broker, 1, 1);
    broker
        .bind(1, 1, "missing", "amq.direct", "k")
        .assert_channel_error(ReplyCode::NotFound);
}

#[test]
fn unbinding_stops_routing_and_a_missing_binding_is_not_an_error() {
    let mut broker = broker_with_queues(&["q"]);
    broker.bind(1, 1, "q", "amq.direct", "k").assert_ok();
    let step = broker.send(
        1,
        1,
        queue_unbind("q", "amq.direct", "k", FieldTable::new()),
    );
    assert_eq!(step.replies(1, 1), vec![Reply::QueueUnbindOk]);
    broker.publish(1, 1, "amq.direct", "k", "m").assert_ok();
    assert!(broker.drain("q").is_empty());
    let again = broker.send(
        1,
        1,
        queue_unbind("q", "amq.direct", "never-bound", FieldTable::new()),
    );
    again.assert_ok();
    assert_eq!(again.replies(1, 1), vec![Reply::QueueUnbindOk]);
}

#[test]
fn unbinding_needs_the_same_arguments_as_the_binding() {
    let mut broker = broker_with_queues(&["q"]);
    let arguments = table(&[("tag", int(1))]);
    broker
        .send(1, 1, bind("q", "amq.direct", "k", arguments.clone()))
        .assert_ok();
    broker
        .send(
            1,
            1,
            queue_unbind("q", "amq.direct", "k", FieldTable::new()),
        )
        .assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "still-bound")
        .assert_ok();
    broker
        .send(1, 1, queue_unbind("q", "amq.direct", "k", arguments))
        .assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "unbound")
        .assert_ok();
    assert_eq!(broker.drain("q"), vec!["still-bound"]);
}

#[test]
fn routing_key_of_255_bytes_routes_and_a_longer_one_is_refused() {
    let mut broker = broker_with_queues(&["q"]);
    let longest = "k".repeat(255);
    broker.bind(1, 1, "q", "amq.direct", &longest).assert_ok();
    broker
        .publish(1, 1, "amq.direct", &longest, "m")
        .assert_ok();
    assert_eq!(broker.drain("q"), vec!["m"]);
    let too_long = "k".repeat(256);
    let step = broker.publish(1, 1, "amq.direct", &too_long, "m");
    step.assert_connection_error(ReplyCode::SyntaxError);
    assert_eq!(enqueued_count(&step), 0);
}

// ---------------------------------------------------------------------------
// Auto-delete and internal exchanges
// ---------------------------------------------------------------------------

#[test]
fn auto_delete_exchange_is_deleted_when_its_last_binding_is_removed() {
    let mut broker = broker_with_queues(&["a", "b"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("auto", "fanout", false, false, true, false),
        )
        .assert_ok();
    broker.bind(1, 1, "a", "auto", "").assert_ok();
    broker.bind(1, 1, "b", "auto", "").assert_ok();
    broker
        .send(1, 1, queue_unbind("a", "auto", "", FieldTable::new()))
        .assert_ok();
    assert!(exchange_exists(&mut broker, "auto"), "one binding is left");
    broker
        .send(1, 1, queue_unbind("b", "auto", "", FieldTable::new()))
        .assert_ok();
    assert!(
        !exchange_exists(&mut broker, "auto"),
        "the last binding went"
    );
}

#[test]
fn auto_delete_exchange_is_deleted_when_its_last_bound_queue_is_deleted() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("auto", "fanout", false, false, true, false),
        )
        .assert_ok();
    broker.bind(1, 1, "q", "auto", "").assert_ok();
    broker
        .send(
            1,
            1,
            Command::QueueDelete {
                queue: "q".into(),
                if_unused: false,
                if_empty: false,
            },
        )
        .assert_ok();
    assert!(!exchange_exists(&mut broker, "auto"));
}

#[test]
fn auto_delete_exchange_is_deleted_when_its_last_exchange_binding_is_removed() {
    let mut broker = broker_with_queues(&[]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("auto", "fanout", false, false, true, false),
        )
        .assert_ok();
    broker.declare_exchange(1, 1, "sink", "fanout").assert_ok();
    broker
        .send(1, 1, exchange_bind("sink", "auto", ""))
        .assert_ok();
    broker
        .send(1, 1, exchange_unbind("sink", "auto", ""))
        .assert_ok();
    assert!(!exchange_exists(&mut broker, "auto"));
    assert!(exchange_exists(&mut broker, "sink"));
}

#[test]
fn auto_delete_exchange_that_never_had_a_binding_is_kept() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("auto", "fanout", false, false, true, false),
        )
        .assert_ok();
    broker.declare_exchange(1, 1, "plain", "fanout").assert_ok();
    broker.bind(1, 1, "q", "plain", "").assert_ok();
    broker
        .send(1, 1, queue_unbind("q", "plain", "", FieldTable::new()))
        .assert_ok();
    assert!(
        exchange_exists(&mut broker, "auto"),
        "never bound, so never auto-deleted"
    );
    assert!(exchange_exists(&mut broker, "plain"), "not auto-delete");
}

#[test]
fn publishing_to_an_internal_exchange_is_access_refused() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("internal", "fanout", false, false, false, true),
        )
        .assert_ok();
    broker.bind(1, 1, "q", "internal", "").assert_ok();
    let step = broker.publish(1, 1, "internal", "", "m");
    step.assert_channel_error(ReplyCode::AccessRefused);
    assert_eq!(enqueued_count(&step), 0);
}

#[test]
fn internal_exchange_routes_messages_from_exchange_bindings() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("internal", "fanout", false, false, false, true),
        )
        .assert_ok();
    broker
        .send(1, 1, exchange_bind("internal", "amq.direct", "k"))
        .assert_ok();
    broker.bind(1, 1, "q", "internal", "").assert_ok();
    broker
        .publish(1, 1, "amq.direct", "k", "via-internal")
        .assert_ok();
    assert_eq!(broker.drain("q"), vec!["via-internal"]);
}

#[test]
fn exchange_errors_close_the_channel_but_not_the_connection() {
    let mut broker = broker_with_queues(&["q"]);
    broker.declare_exchange(1, 1, "x", "direct").assert_ok();
    let step = broker.declare_exchange(1, 1, "x", "fanout");
    step.assert_channel_error(ReplyCode::PreconditionFailed);
    // Commands on the closed channel are ignored until close-ok.
    assert!(broker.publish(1, 1, "", "q", "ignored").outputs.is_empty());
    broker.open(1, 2);
    broker.publish(1, 2, "", "q", "other-channel").assert_ok();
    assert_eq!(broker.drain("q"), vec!["other-channel"]);
}

// ---------------------------------------------------------------------------
// Topic matching is a trie, not a scan of the bindings
// ---------------------------------------------------------------------------

#[test]
fn a_channel_publishing_again_after_its_exchange_was_replaced_reaches_the_new_one() {
    // The channel remembers the exchange it last published to; a deleted
    // exchange must never answer for its name, nor its replacement be missed.
    let mut broker = broker_with_queues(&["old", "new"]);
    broker.declare_exchange(1, 1, "x", "fanout").assert_ok();
    broker.bind(1, 1, "old", "x", "").assert_ok();
    assert_eq!(enqueued_count(&broker.publish(1, 1, "x", "", "first")), 1);
    broker
        .send(
            1,
            1,
            Command::ExchangeDelete {
                exchange: "x".into(),
                if_unused: false,
            },
        )
        .assert_ok();
    broker
        .publish(1, 1, "x", "", "gone")
        .assert_channel_error(ReplyCode::NotFound);
    broker.open(1, 2);
    broker
        .publish(1, 2, "x", "", "warm the channel's memory")
        .assert_channel_error(ReplyCode::NotFound);
    broker.open(1, 3);
    broker.declare_exchange(1, 3, "x", "fanout").assert_ok();
    broker.bind(1, 3, "new", "x", "").assert_ok();
    broker.publish(1, 3, "x", "", "second").assert_ok();
    assert_eq!(broker.drain("new"), vec!["second"]);
    assert_eq!(broker.drain("old"), vec!["first"]);
}

#[test]
fn the_topic_router_alone_matches_as_a_topic_exchange_does() {
    use brokerlab_core::routing::TopicRouter;
    let mut router = TopicRouter::new();
    assert!(router.bind("error.*", 1));
    assert!(router.bind("*.critical", 2));
    assert!(router.bind("#", 3));
    assert!(router.bind("a.#.z", 4));
    assert!(router.bind("a.#", 4));
    assert!(!router.bind("#", 3), "an identical binding exists");
    let mut out = Vec::new();
    for (key, expected) in [
        ("error.critical", vec![1, 2, 3]),
        ("error", vec![3]),
        ("a.b.c.z", vec![3, 4]),
        ("", vec![3]),
    ] {
        router.route(key, &mut out);
        assert_eq!(out, expected, "{key}");
    }
}

// ---------------------------------------------------------------------------
// A publisher's repeated route. The broker remembers the queues the last
// publish reached (`RouteMemo`); each test publishes the same exchange and
// routing key on the same channel before and after a change of topology,
// and the second route must see the change.
// ---------------------------------------------------------------------------

#[test]
fn repeated_route_reaches_a_queue_bound_since() {
    let mut broker = broker_with_queues(&["q1", "q2"]);
    broker
        .send(1, 1, bind("q1", "amq.direct", "k", FieldTable::new()))
        .assert_ok();
    for _ in 0..2 {
        assert_eq!(
            enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
            1
        );
    }
    broker
        .send(1, 1, bind("q2", "amq.direct", "k", FieldTable::new()))
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        2
    );
}

#[test]
fn repeated_route_leaves_out_a_queue_unbound_since() {
    let mut broker = broker_with_queues(&["q1", "q2"]);
    for queue in ["q1", "q2"] {
        broker
            .send(1, 1, bind(queue, "amq.direct", "k", FieldTable::new()))
            .assert_ok();
    }
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        2
    );
    broker
        .send(
            1,
            1,
            queue_unbind("q2", "amq.direct", "k", FieldTable::new()),
        )
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        1
    );
    assert_eq!(broker.drain("q1").len(), 2);
    assert_eq!(broker.drain("q2").len(), 1);
}

#[test]
fn repeated_route_to_a_deleted_queue_is_unroutable_and_reaches_its_successor() {
    let mut broker = broker_with_queues(&["q"]);
    assert_eq!(enqueued_count(&broker.publish(1, 1, "", "q", "first")), 1);
    let delete = Command::QueueDelete {
        queue: "q".into(),
        if_unused: false,
        if_empty: false,
    };
    broker.send(1, 1, delete).assert_ok();
    let step = broker.publish(1, 1, "", "q", "lost");
    step.assert_ok();
    assert_eq!(enqueued_count(&step), 0, "{step:#?}");
    assert!(step.events().iter().any(|event| matches!(
        event,
        Event::Dropped {
            reason: brokerlab_core::DropReason::Unroutable,
            ..
        }
    )));
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    assert_eq!(enqueued_count(&broker.publish(1, 1, "", "q", "second")), 1);
    assert_eq!(broker.drain("q"), vec!["second"]);
}

#[test]
fn repeated_route_follows_exchange_to_exchange_bindings_as_they_change() {
    let mut broker = broker_with_queues(&["q"]);
    broker
        .send(
            1,
            1,
            exchange_declare_with("inner", "fanout", false, false, false, false),
        )
        .assert_ok();
    broker
        .send(1, 1, bind("q", "inner", "", FieldTable::new()))
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        0
    );
    broker
        .send(1, 1, exchange_bind("inner", "amq.direct", "k"))
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        1
    );
    broker
        .send(1, 1, exchange_delete("inner", false))
        .assert_ok();
    assert_eq!(
        enqueued_count(&broker.publish(1, 1, "amq.direct", "k", "m")),
        0
    );
}

#[test]
fn repeated_route_through_a_headers_exchange_is_decided_by_each_message() {
    let mut broker = broker_with_queues(&["q"]);
    let arguments = table(&[("x-match", string("all")), ("a", int(1))]);
    broker
        .send(1, 1, bind("q", "amq.headers", "", arguments))
        .assert_ok();
    let matching = with_headers(table(&[("a", int(1))]));
    let other = with_headers(table(&[("a", int(2))]));
    let routed = broker.publish_with(1, 1, "amq.headers", "", "yes", matching);
    assert_eq!(enqueued_count(&routed), 1);
    let routed = broker.publish_with(1, 1, "amq.headers", "", "no", other);
    assert_eq!(
        enqueued_count(&routed),
        0,
        "same exchange and key, other headers"
    );
}

#[test]
fn repeated_routing_key_on_another_exchange_or_channel_routes_afresh() {
    let mut broker = broker_with_queues(&["q1", "q2"]);
    broker
        .send(1, 1, bind("q1", "amq.direct", "k", FieldTable::new()))
        .assert_ok();
    broker
        .send(1, 1, bind("q2", "amq.topic", "k", FieldTable::new()))
        .assert_ok();
    broker.open(1, 2);
    for _ in 0..2 {
        broker
            .publish(1, 1, "amq.direct", "k", "direct")
            .assert_ok();
        broker.publish(1, 1, "amq.topic", "k", "topic").assert_ok();
        broker.publish(1, 2, "", "k", "default").assert_ok();
    }
    assert_eq!(broker.drain("q1"), vec!["direct", "direct"]);
    assert_eq!(broker.drain("q2"), vec!["topic", "topic"]);
}
