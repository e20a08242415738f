//! Tests of the headers rule: the `x-match` modes, value comparison and the
//! reply texts for an invalid `x-match`.

use super::*;
use crate::protocol::ExchangeKind;
use crate::routing::tests::{queues, routed, table};
use crate::routing::Bindings;

/// Whether a headers binding with `arguments` matches a message with `headers`.
fn headers_match(arguments: &FieldTable, headers: &FieldTable) -> bool {
    let queue = queues(1)[0];
    let mut bindings = Bindings::new(ExchangeKind::Headers);
    assert!(bindings.add(queue, "", arguments));
    routed(&bindings, "", Some(headers)) == [queue]
}

#[test]
fn headers_all_requires_every_criterion() {
    let arguments = table(&[
        ("x-match", FieldValue::string("all")),
        ("format", FieldValue::string("pdf")),
        ("type", FieldValue::string("report")),
    ]);
    let both = table(&[
        ("format", FieldValue::string("pdf")),
        ("type", FieldValue::string("report")),
    ]);
    let extra = table(&[
        ("format", FieldValue::string("pdf")),
        ("type", FieldValue::string("report")),
        ("other", FieldValue::I32(7)),
    ]);
    let one = table(&[("format", FieldValue::string("pdf"))]);
    let wrong = table(&[
        ("format", FieldValue::string("pdf")),
        ("type", FieldValue::string("log")),
    ]);
    assert!(headers_match(&arguments, &both));
    assert!(headers_match(&arguments, &extra));
    assert!(!headers_match(&arguments, &one));
    assert!(!headers_match(&arguments, &wrong));
    let mut implicit = arguments.clone();
    implicit.remove("x-match");
    assert!(headers_match(&implicit, &both), "all is the default");
    assert!(!headers_match(&implicit, &one), "all is the default");
}

#[test]
fn headers_any_requires_one_criterion() {
    let arguments = table(&[
        ("x-match", FieldValue::string("any")),
        ("format", FieldValue::string("pdf")),
        ("type", FieldValue::string("report")),
    ]);
    let one = table(&[("format", FieldValue::string("pdf"))]);
    let wrong = table(&[
        ("format", FieldValue::string("zip")),
        ("type", FieldValue::string("log")),
    ]);
    let unrelated = table(&[("other", FieldValue::string("pdf"))]);
    assert!(headers_match(&arguments, &one));
    assert!(!headers_match(&arguments, &wrong));
    assert!(!headers_match(&arguments, &unrelated));
}

#[test]
fn headers_x_arguments_are_ignored_unless_with_x() {
    let headers = table(&[("format", FieldValue::string("pdf"))]);
    let all = table(&[
        ("format", FieldValue::string("pdf")),
        ("x-tenant", FieldValue::string("acme")),
    ]);
    assert!(
        headers_match(&all, &headers),
        "x-tenant is not a criterion under all"
    );
    let any = table(&[
        ("x-match", FieldValue::string("any")),
        ("x-tenant", FieldValue::string("acme")),
    ]);
    let with_tenant = table(&[("x-tenant", FieldValue::string("acme"))]);
    assert!(
        !headers_match(&any, &with_tenant),
        "any has no criteria left"
    );
}

#[test]
fn headers_with_x_modes_compare_x_arguments() {
    let tenant = table(&[("x-tenant", FieldValue::string("acme"))]);
    let format = table(&[("format", FieldValue::string("pdf"))]);
    let both = table(&[
        ("x-tenant", FieldValue::string("acme")),
        ("format", FieldValue::string("pdf")),
    ]);
    let all = table(&[
        ("x-match", FieldValue::string("all-with-x")),
        ("x-tenant", FieldValue::string("acme")),
        ("format", FieldValue::string("pdf")),
    ]);
    assert!(headers_match(&all, &both));
    assert!(!headers_match(&all, &format));
    assert!(!headers_match(&all, &tenant));
    let mut any = all.clone();
    any.insert("x-match".to_owned(), FieldValue::string("any-with-x"));
    assert!(headers_match(&any, &tenant));
    assert!(headers_match(&any, &format));
    assert!(!headers_match(
        &any,
        &table(&[("x-tenant", FieldValue::string("other"))])
    ));
}

#[test]
fn headers_x_match_is_never_a_criterion() {
    let no_x_match = FieldTable::new();
    let with_x_match = table(&[("x-match", FieldValue::string("all-with-x"))]);
    let only_all = table(&[("x-match", FieldValue::string("all-with-x"))]);
    let only_any = table(&[("x-match", FieldValue::string("any-with-x"))]);
    for headers in [&no_x_match, &with_x_match] {
        assert!(headers_match(&only_all, headers));
        assert!(!headers_match(&only_any, headers));
    }
    let any_mirror = table(&[("x-match", FieldValue::string("any-with-x"))]);
    assert!(
        !headers_match(&any_mirror, &any_mirror),
        "a header named x-match matches nothing"
    );
}

#[test]
fn headers_void_criterion_means_header_present() {
    for mode in ["all", "any"] {
        let arguments = table(&[
            ("x-match", FieldValue::string(mode)),
            ("trace", FieldValue::Void),
        ]);
        for value in [
            FieldValue::string("on"),
            FieldValue::I64(0),
            FieldValue::Void,
        ] {
            assert!(
                headers_match(&arguments, &table(&[("trace", value)])),
                "{mode}"
            );
        }
        assert!(
            !headers_match(&arguments, &table(&[("other", FieldValue::Void)])),
            "{mode}"
        );
    }
    let valued = table(&[("trace", FieldValue::string("on"))]);
    assert!(
        !headers_match(&valued, &table(&[("trace", FieldValue::Void)])),
        "void is not any value"
    );
}

#[test]
fn headers_values_compare_as_rabbitmq_compares_them() {
    let cases = [
        (FieldValue::string("1"), FieldValue::string("1"), true),
        (FieldValue::string("1"), FieldValue::I32(1), false),
        (FieldValue::I32(1), FieldValue::I32(1), true),
        (FieldValue::I32(1), FieldValue::I32(2), false),
        (FieldValue::I32(1), FieldValue::I64(1), true),
        (FieldValue::U8(1), FieldValue::I8(1), true),
        (FieldValue::I64(1), FieldValue::F64(1.0f64.to_bits()), true),
        (FieldValue::I64(1), FieldValue::F64(1.5f64.to_bits()), false),
        (FieldValue::Bool(true), FieldValue::Bool(true), true),
        (FieldValue::Bool(true), FieldValue::U8(1), false),
        (
            FieldValue::string("a"),
            FieldValue::ByteArray("a".into()),
            true,
        ),
        (FieldValue::Timestamp(5), FieldValue::I64(5), true),
        (
            FieldValue::F64(1.5f64.to_bits()),
            FieldValue::F64(1.5f64.to_bits()),
            true,
        ),
    ];
    for (bound, sent, expected) in cases {
        let arguments = table(&[("h", bound.clone())]);
        let headers = table(&[("h", sent.clone())]);
        assert_eq!(
            headers_match(&arguments, &headers),
            expected,
            "bound {bound:?} sent {sent:?}"
        );
    }
}

#[test]
fn headers_all_without_criteria_matches_everything_and_any_nothing() {
    let some = table(&[("format", FieldValue::string("pdf"))]);
    let empty = FieldTable::new();
    let cases = [
        (FieldTable::new(), true),
        (table(&[("x-match", FieldValue::string("all"))]), true),
        (
            table(&[
                ("x-match", FieldValue::string("all")),
                ("x-other", FieldValue::I32(1)),
            ]),
            true,
        ),
        (table(&[("x-match", FieldValue::string("any"))]), false),
        (
            table(&[
                ("x-match", FieldValue::string("any")),
                ("x-other", FieldValue::I32(1)),
            ]),
            false,
        ),
    ];
    for (arguments, expected) in cases {
        for headers in [&some, &empty] {
            assert_eq!(
                headers_match(&arguments, headers),
                expected,
                "{arguments:?} {headers:?}"
            );
        }
    }
}

#[test]
fn headers_absent_property_is_an_empty_table() {
    let q = queues(2);
    let mut bindings = Bindings::new(ExchangeKind::Headers);
    bindings.add(q[0], "", &FieldTable::new());
    bindings.add(q[1], "", &table(&[("format", FieldValue::Void)]));
    assert_eq!(routed(&bindings, "", None), [q[0]]);
}

#[test]
fn headers_ignore_the_routing_key() {
    let q = queues(1)[0];
    let mut bindings = Bindings::new(ExchangeKind::Headers);
    bindings.add(q, "bound.key", &FieldTable::new());
    assert_eq!(routed(&bindings, "other.key", None), [q]);
}

#[test]
fn invalid_x_match_is_rejected_with_rabbitmq_text() {
    let cases = [
        (
            FieldValue::string("foo"),
            "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; \
             expected all, any, all-with-x, or any-with-x",
        ),
        (
            FieldValue::string("ALL"),
            "PRECONDITION_FAILED - Invalid x-match field value <<\"ALL\">>; \
             expected all, any, all-with-x, or any-with-x",
        ),
        (
            FieldValue::LongString(vec![0, 200].into()),
            "PRECONDITION_FAILED - Invalid x-match field value <<0,200>>; \
             expected all, any, all-with-x, or any-with-x",
        ),
        (
            FieldValue::I8(1),
            "PRECONDITION_FAILED - Invalid x-match field type byte (value 1); expected longstr",
        ),
        (
            FieldValue::I32(23),
            "PRECONDITION_FAILED - Invalid x-match field type signedint (value 23); \
             expected longstr",
        ),
        (
            FieldValue::ByteArray("all".into()),
            "PRECONDITION_FAILED - Invalid x-match field type binary (value <<\"all\">>); \
             expected longstr",
        ),
        (
            FieldValue::Void,
            "PRECONDITION_FAILED - Invalid x-match field type void (value undefined); \
             expected longstr",
        ),
        (
            FieldValue::Array(vec![FieldValue::string("all")]),
            "PRECONDITION_FAILED - Invalid x-match field type array \
             (value [{longstr,<<\"all\">>}]); expected longstr",
        ),
    ];
    for (value, text) in cases {
        let arguments = table(&[("x-match", value.clone())]);
        let result = Bindings::validate_arguments(ExchangeKind::Headers, &arguments);
        assert_eq!(result, Err(text.to_owned()), "{value:?}");
    }
}

#[test]
fn valid_x_match_and_other_exchange_types_are_accepted() {
    for mode in ["all", "any", "all-with-x", "any-with-x"] {
        let arguments = table(&[("x-match", FieldValue::string(mode))]);
        assert_eq!(
            Bindings::validate_arguments(ExchangeKind::Headers, &arguments),
            Ok(())
        );
    }
    assert_eq!(
        Bindings::validate_arguments(ExchangeKind::Headers, &FieldTable::new()),
        Ok(())
    );
    let bogus = table(&[("x-match", FieldValue::string("foo"))]);
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
    ] {
        assert_eq!(
            Bindings::validate_arguments(kind, &bogus),
            Ok(()),
            "{kind:?}"
        );
    }
}

#[test]
fn erlang_float_text_follows_otp() {
    let cases = [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (100.0, "100.0"),
        (123.0, "123.0"),
        (1000.0, "1.0e3"),
        (0.5, "0.5"),
        (0.001, "0.001"),
        (0.0001, "1.0e-4"),
        (1.0e-5, "1.0e-5"),
        (1.25e-7, "1.25e-7"),
        (9.007_199_254_740_992e15, "9.007199254740992e15"),
    ];
    for (value, text) in cases {
        assert_eq!(erlang_float(value), text, "{value:?}");
    }
}
