//! Tests of queue argument parsing, redeclare equivalence and the
//! `expiration` property.

use super::*;
use bytes::Bytes;

fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn parse_one(name: &str, value: FieldValue) -> Result<QueueArgs, String> {
    QueueArgs::parse(&table(&[(name, value)]), "q", "/")
}

/// The error term RabbitMQ prints after "invalid arg '<name>' for queue 'q' in vhost '/': ".
fn invalid(name: &str, value: FieldValue) -> String {
    let prefix = format!("PRECONDITION_FAILED - invalid arg '{name}' for queue 'q' in vhost '/': ");
    let text = parse_one(name, value).expect_err("the value is invalid");
    text.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("unexpected text {text}"))
        .to_owned()
}

fn declared(entries: &[(&str, FieldValue)]) -> QueueArgs {
    QueueArgs::parse(&table(entries), "q", "/").expect("valid arguments")
}

fn inequivalence(current: &[(&str, FieldValue)], requested: &[(&str, FieldValue)]) -> String {
    declared(current)
        .check_equivalent(&table(requested), "q", "/")
        .expect_err("the arguments differ")
}

fn long(n: i64) -> FieldValue {
    FieldValue::I64(n)
}

fn text(value: &str) -> FieldValue {
    FieldValue::string(value)
}

const INTEGER_ARGUMENTS: [&str; 6] = [
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-delivery-limit",
];

#[test]
fn no_arguments_parse_to_defaults() {
    assert_eq!(
        QueueArgs::parse(&FieldTable::new(), "q", "/"),
        Ok(QueueArgs::default())
    );
    assert_eq!(QueueArgs::default().overflow, Overflow::DropHead);
}

#[test]
fn message_ttl_must_be_non_negative() {
    for (ms, expected) in [(0, Some(0)), (1, Some(1)), (60_000, Some(60_000))] {
        assert_eq!(
            parse_one("x-message-ttl", long(ms)).map(|args| args.message_ttl_ms),
            Ok(expected)
        );
    }
    assert_eq!(invalid("x-message-ttl", long(-1)), "{value_negative,-1}");
    assert_eq!(
        invalid("x-message-ttl", FieldValue::I8(-128)),
        "{value_negative,-128}"
    );
}

#[test]
fn message_ttl_and_expires_are_at_most_ten_years() {
    for name in ["x-message-ttl", "x-expires"] {
        let max = long(315_360_000_000);
        assert!(parse_one(name, max).is_ok(), "{name}");
        assert_eq!(
            invalid(name, long(315_360_000_001)),
            "{value_too_large,315360000001}"
        );
        assert_eq!(
            invalid(name, long(i64::MAX)),
            format!("{{value_too_large,{}}}", i64::MAX)
        );
    }
}

#[test]
fn expires_must_be_positive() {
    assert_eq!(
        parse_one("x-expires", long(1)).map(|args| args.expires_ms),
        Ok(Some(1))
    );
    assert_eq!(invalid("x-expires", long(0)), "{value_zero,0}");
    assert_eq!(invalid("x-expires", FieldValue::U8(0)), "{value_zero,0}");
    assert_eq!(invalid("x-expires", long(-5)), "{value_negative,-5}");
}

#[test]
fn integer_arguments_accept_every_integer_type() {
    let fives = [
        FieldValue::I8(5),
        FieldValue::U8(5),
        FieldValue::I16(5),
        FieldValue::U16(5),
        FieldValue::I32(5),
        FieldValue::U32(5),
        FieldValue::I64(5),
    ];
    for value in fives {
        let args = declared(&[
            ("x-message-ttl", value.clone()),
            ("x-expires", value.clone()),
            ("x-max-length", value.clone()),
            ("x-max-length-bytes", value.clone()),
            ("x-max-priority", value.clone()),
            ("x-delivery-limit", value.clone()),
        ]);
        assert_eq!(args.message_ttl_ms, Some(5), "{value:?}");
        assert_eq!(args.expires_ms, Some(5));
        assert_eq!(args.max_length, Some(5));
        assert_eq!(args.max_length_bytes, Some(5));
        assert_eq!(args.max_priority, Some(5));
        assert_eq!(args.delivery_limit, Some(5));
    }
}

#[test]
fn integer_argument_of_another_type_is_refused() {
    let cases = [
        (text("100"), "longstr"),
        (FieldValue::Bool(true), "bool"),
        (FieldValue::F32(1.0f32.to_bits()), "float"),
        (FieldValue::F64(100.0f64.to_bits()), "double"),
        (
            FieldValue::Decimal {
                scale: 0,
                value: 100,
            },
            "decimal",
        ),
        (FieldValue::Timestamp(100), "timestamp"),
        (FieldValue::Array(vec![long(1)]), "array"),
        (FieldValue::Table(FieldTable::new()), "table"),
        (FieldValue::ByteArray(Bytes::from_static(b"1")), "binary"),
        (FieldValue::Void, "void"),
    ];
    for name in INTEGER_ARGUMENTS {
        for (value, type_name) in &cases {
            // check_int_arg's error is a string, which `~p` prints in quotes.
            let expected = format!("\"expected integer, got {type_name}\"");
            assert_eq!(invalid(name, value.clone()), expected, "{name}");
        }
    }
}

#[test]
fn max_length_and_max_length_bytes_must_be_non_negative() {
    for name in ["x-max-length", "x-max-length-bytes"] {
        for n in [0, 1, 1_000_000, i64::MAX] {
            let args = parse_one(name, long(n)).expect("valid");
            let expected = u64::try_from(n).ok();
            assert_eq!(
                args.max_length.or(args.max_length_bytes),
                expected,
                "{name} {n}"
            );
        }
        assert_eq!(invalid(name, long(-1)), "{value_negative,-1}");
        assert_eq!(
            invalid(name, FieldValue::I32(i32::MIN)),
            format!("{{value_negative,{}}}", i32::MIN)
        );
    }
}

#[test]
fn max_priority_accepts_0_to_255() {
    for n in [0u8, 1, 10, 255] {
        let args = parse_one("x-max-priority", long(i64::from(n))).expect("valid");
        assert_eq!(args.max_priority, Some(n));
    }
    assert_eq!(
        invalid("x-max-priority", long(256)),
        "{max_value_exceeded,256}"
    );
    assert_eq!(invalid("x-max-priority", long(-1)), "{value_negative,-1}");
}

#[test]
fn delivery_limit_must_be_non_negative() {
    assert_eq!(
        parse_one("x-delivery-limit", long(0)).map(|args| args.delivery_limit),
        Ok(Some(0))
    );
    assert_eq!(
        parse_one("x-delivery-limit", long(3)).map(|args| args.delivery_limit),
        Ok(Some(3))
    );
    assert_eq!(invalid("x-delivery-limit", long(-1)), "{value_negative,-1}");
}

#[test]
fn overflow_accepts_three_modes() {
    for (name, mode) in [
        ("drop-head", Overflow::DropHead),
        ("reject-publish", Overflow::RejectPublish),
        ("reject-publish-dlx", Overflow::RejectPublishDlx),
    ] {
        assert_eq!(
            parse_one("x-overflow", text(name)).map(|args| args.overflow),
            Ok(mode)
        );
    }
}

#[test]
fn overflow_refuses_other_modes_and_types() {
    for mode in ["drop-tail", "Drop-Head", "", "reject-publish "] {
        assert_eq!(
            invalid("x-overflow", text(mode)),
            "invalid_overflow",
            "{mode:?}"
        );
    }
    assert_eq!(invalid("x-overflow", long(1)), "{unacceptable_type,long}");
    assert_eq!(
        invalid(
            "x-overflow",
            FieldValue::ByteArray(Bytes::from_static(b"drop-head"))
        ),
        "{unacceptable_type,binary}"
    );
}

#[test]
fn single_active_consumer_must_be_bool() {
    for on in [true, false] {
        let args = parse_one("x-single-active-consumer", FieldValue::Bool(on)).expect("valid");
        assert_eq!(args.single_active_consumer, on);
    }
    assert_eq!(
        invalid("x-single-active-consumer", text("true")),
        "{unacceptable_type,longstr}"
    );
    assert_eq!(
        invalid("x-single-active-consumer", FieldValue::I8(1)),
        "{unacceptable_type,byte}"
    );
}

#[test]
fn dead_letter_exchange_must_be_a_string() {
    let args = parse_one("x-dead-letter-exchange", text("dlx")).expect("valid");
    assert_eq!(args.dead_letter_exchange.as_deref(), Some("dlx"));
    // The empty name is the default exchange, a valid dead-letter exchange.
    let args = parse_one("x-dead-letter-exchange", text("")).expect("valid");
    assert_eq!(args.dead_letter_exchange.as_deref(), Some(""));
    for (value, type_name) in [
        (long(1), "long"),
        (FieldValue::Bool(true), "bool"),
        (FieldValue::Void, "void"),
    ] {
        assert_eq!(
            parse_one("x-dead-letter-exchange", value),
            Err(format!(
                "PRECONDITION_FAILED - invalid type '{type_name}' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"
            ))
        );
    }
}

#[test]
fn dead_letter_exchange_type_is_checked_before_other_arguments() {
    let arguments = table(&[("x-expires", long(0)), ("x-dead-letter-exchange", long(1))]);
    let text = QueueArgs::parse(&arguments, "q", "/").expect_err("invalid");
    assert!(
        text.contains("invalid type 'long' for arg 'x-dead-letter-exchange'"),
        "{text}"
    );
}

#[test]
fn dead_letter_routing_key_requires_dead_letter_exchange() {
    assert_eq!(
        invalid("x-dead-letter-routing-key", text("rk")),
        "routing_key_but_no_dlx_defined"
    );
    let args = declared(&[
        ("x-dead-letter-exchange", text("dlx")),
        ("x-dead-letter-routing-key", text("rk")),
    ]);
    assert_eq!(args.dead_letter_routing_key.as_deref(), Some("rk"));
}

#[test]
fn dead_letter_routing_key_must_be_a_string() {
    // The type is checked before the dead-letter exchange is looked for.
    assert_eq!(
        invalid("x-dead-letter-routing-key", long(1)),
        "{unacceptable_type,long}"
    );
    let arguments = table(&[
        ("x-dead-letter-exchange", text("dlx")),
        ("x-dead-letter-routing-key", long(1)),
    ]);
    assert_eq!(
        QueueArgs::parse(&arguments, "q", "/"),
        Err("PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': {unacceptable_type,long}".to_owned())
    );
}

#[test]
fn unknown_x_argument_is_ignored() {
    let arguments = table(&[
        ("x-queue-mode", text("lazy")),
        ("x-queue-type", text("classic")),
        ("x-made-up", long(-1)),
        ("alternate-exchange", long(1)),
    ]);
    let args = QueueArgs::parse(&arguments, "q", "/").expect("unknown arguments are ignored");
    assert_eq!(args, QueueArgs::default());
    assert_eq!(args.check_equivalent(&FieldTable::new(), "q", "/"), Ok(()));
}

#[test]
fn first_invalid_argument_in_rabbitmq_order_is_reported() {
    // RabbitMQ checks x-message-ttl before x-dead-letter-routing-key, although
    // the table's (alphabetical) order has them the other way round.
    let arguments = table(&[
        ("x-dead-letter-routing-key", text("rk")),
        ("x-message-ttl", long(-1)),
    ]);
    let text = QueueArgs::parse(&arguments, "q", "/").expect_err("invalid");
    assert!(text.contains("'x-message-ttl'"), "{text}");
}

#[test]
fn invalid_arg_text_names_queue_and_vhost() {
    let arguments = table(&[("x-message-ttl", long(-1))]);
    assert_eq!(
        QueueArgs::parse(&arguments, "orders", "/shop"),
        Err("PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'orders' in vhost '/shop': {value_negative,-1}".to_owned())
    );
}

#[test]
fn parse_reads_every_known_argument() {
    let args = declared(&[
        ("x-message-ttl", long(1000)),
        ("x-expires", long(2000)),
        ("x-max-length", long(10)),
        ("x-max-length-bytes", long(4096)),
        ("x-overflow", text("reject-publish-dlx")),
        ("x-max-priority", long(9)),
        ("x-single-active-consumer", FieldValue::Bool(true)),
        ("x-delivery-limit", long(4)),
        ("x-dead-letter-exchange", text("dlx")),
        ("x-dead-letter-routing-key", text("dead")),
    ]);
    assert_eq!(args.message_ttl_ms, Some(1000));
    assert_eq!(args.expires_ms, Some(2000));
    assert_eq!(args.max_length, Some(10));
    assert_eq!(args.max_length_bytes, Some(4096));
    assert_eq!(args.overflow, Overflow::RejectPublishDlx);
    assert_eq!(args.max_priority, Some(9));
    assert!(args.single_active_consumer);
    assert_eq!(args.delivery_limit, Some(4));
    assert_eq!(args.dead_letter_exchange.as_deref(), Some("dlx"));
    assert_eq!(args.dead_letter_routing_key.as_deref(), Some("dead"));
}

#[test]
fn identical_arguments_are_equivalent() {
    let arguments = table(&[
        ("x-message-ttl", long(1000)),
        ("x-overflow", text("reject-publish")),
        ("x-dead-letter-exchange", text("dlx")),
        ("x-single-active-consumer", FieldValue::Bool(false)),
    ]);
    let args = QueueArgs::parse(&arguments, "q", "/").expect("valid");
    assert_eq!(args.check_equivalent(&arguments, "q", "/"), Ok(()));
}

#[test]
fn argument_left_out_on_redeclare_is_inequivalent() {
    assert_eq!(
        inequivalence(&[("x-message-ttl", long(100))], &[]),
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received none but current is the value '100' of type 'long'"
    );
    // A default value written out is still an argument the queue does not have.
    assert_eq!(
        inequivalence(&[], &[("x-overflow", text("drop-head"))]),
        "PRECONDITION_FAILED - inequivalent arg 'x-overflow' for queue 'q' in vhost '/': received the value 'drop-head' of type 'longstr' but current is none"
    );
}

#[test]
fn argument_added_on_redeclare_is_inequivalent() {
    assert_eq!(
        inequivalence(&[], &[("x-message-ttl", long(100))]),
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received the value '100' of type 'long' but current is none"
    );
}

#[test]
fn different_value_on_redeclare_is_inequivalent() {
    let cases = [
        ("x-message-ttl", long(100), long(200), "'200'", "'100'"),
        (
            "x-overflow",
            text("drop-head"),
            text("reject-publish"),
            "'reject-publish'",
            "'drop-head'",
        ),
        (
            "x-single-active-consumer",
            FieldValue::Bool(true),
            FieldValue::Bool(false),
            "'false'",
            "'true'",
        ),
        ("x-dead-letter-exchange", text("a"), text("b"), "'b'", "'a'"),
    ];
    for (name, current, received, received_text, current_text) in cases {
        assert_eq!(
            inequivalence(&[(name, current)], &[(name, received)]),
            format!(
                "PRECONDITION_FAILED - inequivalent arg '{name}' for queue 'q' in vhost '/': received {received_text} but current is {current_text}"
            )
        );
    }
}

#[test]
fn integers_of_different_widths_with_equal_values_are_equivalent() {
    let args = declared(&[("x-max-length", long(100))]);
    for value in [
        FieldValue::I8(100),
        FieldValue::U8(100),
        FieldValue::I16(100),
        FieldValue::U16(100),
        FieldValue::I32(100),
        FieldValue::U32(100),
        // RabbitMQ drops the type when the classes differ and compares the
        // bare values, and a timestamp's is an integer.
        FieldValue::Timestamp(100),
    ] {
        let requested = table(&[("x-max-length", value.clone())]);
        assert_eq!(
            args.check_equivalent(&requested, "q", "/"),
            Ok(()),
            "{value:?}"
        );
    }
}

#[test]
fn integer_and_float_with_equal_values_are_inequivalent() {
    assert_eq!(
        inequivalence(&[("x-max-length", long(1))], &[("x-max-length", FieldValue::F64(1.0f64.to_bits()))]),
        "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '1.0' but current is '1'"
    );
}

#[test]
fn redeclare_compares_without_validating() {
    // RabbitMQ compares a redeclare's arguments with the queue's and never
    // validates them, so a bad value is reported as inequivalent.
    for (received, received_text) in [(text("abc"), "'abc'"), (long(-1), "'-1'")] {
        assert_eq!(
            inequivalence(&[("x-message-ttl", long(100))], &[("x-message-ttl", received)]),
            format!(
                "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received {received_text} but current is '100'"
            )
        );
    }
}

#[test]
fn unknown_arguments_are_not_compared() {
    let args = declared(&[("x-queue-mode", text("lazy")), ("x-message-ttl", long(5))]);
    let requested = table(&[
        ("x-message-ttl", FieldValue::U8(5)),
        ("x-queue-mode", text("default")),
    ]);
    assert_eq!(args.check_equivalent(&requested, "q", "/"), Ok(()));
}

#[test]
fn first_inequivalent_argument_in_rabbitmq_order_is_reported() {
    let text = inequivalence(
        &[
            ("x-dead-letter-exchange", text("dlx")),
            ("x-message-ttl", long(1)),
        ],
        &[
            ("x-dead-letter-exchange", text("other")),
            ("x-message-ttl", long(2)),
        ],
    );
    assert!(text.contains("'x-message-ttl'"), "{text}");
}

#[test]
fn inequivalent_values_print_as_erlang_prints_them() {
    let mut nested = FieldTable::new();
    nested.insert("k".to_owned(), text("v"));
    let cases = [
        (FieldValue::F64(1000.0f64.to_bits()), "'1.0e3'"),
        (FieldValue::F32(0.1f32.to_bits()), "'0.10000000149011612'"),
        (
            FieldValue::Decimal {
                scale: 2,
                value: 150,
            },
            "'{2,150}'",
        ),
        (FieldValue::Bool(true), "'true'"),
        (
            FieldValue::Array(vec![text("a"), long(1)]),
            "'[{longstr,<<\"a\">>},{long,1}]'",
        ),
        (
            FieldValue::Table(nested),
            "'[{<<\"k\">>,longstr,<<\"v\">>}]'",
        ),
        (
            FieldValue::Array(vec![FieldValue::ByteArray(Bytes::from_static(&[1, 200]))]),
            "'[{binary,<<1,200>>}]'",
        ),
        (FieldValue::Array(Vec::new()), "'[]'"),
        (FieldValue::ByteArray(Bytes::from_static(b"raw")), "'raw'"),
    ];
    for (value, printed) in cases {
        let text = inequivalence(&[("x-max-length", long(7))], &[("x-max-length", value)]);
        assert!(
            text.ends_with(&format!("received {printed} but current is '7'")),
            "{text}"
        );
    }
    assert!(inequivalence(&[], &[("x-max-length", FieldValue::Void)])
        .ends_with("received the value 'undefined' of type 'void' but current is none"));
}

#[test]
fn expiration_must_be_a_non_negative_integer_string() {
    let valid = [
        ("0", 0),
        ("1000", 1000),
        ("007", 7),
        ("+5", 5),
        ("-0", 0),
        ("315360000000", 315_360_000_000),
    ];
    for (expiration, ms) in valid {
        assert_eq!(parse_expiration(expiration), Ok(ms), "{expiration:?}");
    }
    let invalid = [
        ("", "no_integer"),
        ("abc", "no_integer"),
        (" 5", "no_integer"),
        ("-", "no_integer"),
        ("+", "no_integer"),
        ("5 ", "{leftover_string,\" \"}"),
        ("1e3", "{leftover_string,\"e3\"}"),
        ("1.5", "{leftover_string,\".5\"}"),
        ("0x10", "{leftover_string,\"x10\"}"),
        ("5\t\"", "{leftover_string,\"\\t\\\"\"}"),
        ("5\u{7}", "{leftover_string,[7]}"),
        ("-5", "{value_negative,-5}"),
        ("-007", "{value_negative,-7}"),
        ("315360000001", "{value_too_large,315360000001}"),
        (
            "99999999999999999999999",
            "{value_too_large,99999999999999999999999}",
        ),
    ];
    for (expiration, error) in invalid {
        assert_eq!(
            parse_expiration(expiration),
            Err(format!(
                "PRECONDITION_FAILED - invalid expiration '{expiration}': {error}"
            )),
            "{expiration:?}"
        );
    }
}
