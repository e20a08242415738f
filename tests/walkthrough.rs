//! The facade's walkthroughs run end to end and tell the story they promise.

use brokerlab::walkthrough::{self, PATTERNS};

/// The narration of the walkthrough named `pattern`.
fn narrate(pattern: &str) -> String {
    let mut out = Vec::new();
    let result = walkthrough::run(pattern, &mut out).expect("the pattern is known");
    let text = String::from_utf8(out).expect("the walkthrough writes UTF-8");
    result.unwrap_or_else(|error| panic!("the {pattern} walkthrough failed: {error}\n{text}"));
    text
}

/// The narrated deliveries, in order.
fn deliveries(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("deliver to "))
        .collect()
}

/// The narrated deliveries whose line contains every one of `parts`.
fn deliveries_with<'a>(text: &'a str, parts: &[&str]) -> Vec<&'a str> {
    let matches = |line: &&str| parts.iter().all(|part| line.contains(part));
    deliveries(text).into_iter().filter(matches).collect()
}

#[test]
fn every_pattern_has_a_walkthrough_that_runs() {
    for pattern in PATTERNS {
        assert!(
            narrate(pattern).starts_with("brokerlab walkthrough: "),
            "{pattern}"
        );
    }
    assert!(walkthrough::run("consumer-groups", &mut Vec::new()).is_none());
}

#[test]
fn work_queue_walkthrough_redelivers_the_dead_workers_task() {
    let mut out = Vec::new();
    walkthrough::work_queue(&mut out).expect("writing to a Vec cannot fail");
    let text = String::from_utf8(out).expect("the walkthrough writes UTF-8");
    assert!(
        text.contains("message 2 requeued to 'task_queue'"),
        "{text}"
    );
    assert!(
        text.contains("tag 3, redelivered=true, body \"resize image 2\""),
        "{text}"
    );
    for message in 1..=3 {
        assert!(
            text.contains(&format!("message {message} acknowledged")),
            "{text}"
        );
    }
}

#[test]
fn pubsub_walkthrough_copies_each_message_to_every_current_subscriber() {
    let text = narrate("pubsub");
    for event in ["user-registered 123", "order-created 12345"] {
        let body = format!("body {event:?}");
        assert_eq!(deliveries_with(&text, &[&body]).len(), 3, "{text}");
    }
    let after_the_leave = deliveries_with(&text, &["body \"user-deleted 123\""]);
    assert_eq!(after_the_leave.len(), 2, "{text}");
    assert!(
        after_the_leave
            .iter()
            .all(|line| !line.starts_with("conn 4 ")),
        "{text}"
    );
}

#[test]
fn routing_walkthrough_matches_star_as_one_word_and_hash_as_many() {
    let text = narrate("routing");
    let deep = deliveries_with(&text, &["key \"error.disk.full\""]);
    assert_eq!(deep.len(), 1, "{text}");
    assert!(deep[0].contains("(#)"), "{text}");
    let critical = deliveries_with(&text, &["key \"app.critical\""]);
    assert!(
        critical.iter().any(|line| line.contains("(*.critical)")),
        "{text}"
    );
    assert!(
        critical.iter().all(|line| !line.contains("(error.*)")),
        "{text}"
    );
    assert_eq!(
        deliveries_with(&text, &["via 'direct_logs' with key \"error\""]).len(),
        2
    );
    assert_eq!(
        deliveries_with(&text, &["via 'direct_logs' with key \"info\""]).len(),
        1
    );
}

#[test]
fn request_reply_walkthrough_answers_with_the_request_correlation_id() {
    let text = narrate("request-reply");
    for (answer, id) in [("HELLO", "req-1"), ("WORLD", "req-2")] {
        let body = format!("body {answer:?} [correlation_id {id:?}]");
        let replies = deliveries_with(&text, &["conn 2 ", &body]);
        assert_eq!(replies.len(), 1, "{text}");
    }
}

#[test]
fn dlq_retry_walkthrough_parks_the_task_after_the_attempts_counted_in_x_death() {
    let text = narrate("dlq-retry");
    let last = "x-death [expired in 'tasks.retry' x2, rejected in 'tasks' x2]";
    assert_eq!(
        deliveries_with(&text, &["body \"charge card 4242\""]).len(),
        3,
        "{text}"
    );
    assert_eq!(deliveries_with(&text, &[last]).len(), 1, "{text}");
    assert!(text.contains("gives up"), "{text}");
    assert!(text.contains("enqueued in 'tasks.dlq'"), "{text}");
}

#[test]
fn ttl_walkthrough_delivers_only_the_message_still_alive() {
    let text = narrate("ttl");
    assert!(text.contains("message 1 expired in 'quotes'"), "{text}");
    assert!(text.contains("message 2 expired in 'quotes'"), "{text}");
    let delivered = deliveries(&text);
    assert_eq!(delivered.len(), 1, "{text}");
    assert!(delivered[0].contains("body \"price list v2\""), "{text}");
}

#[test]
fn priority_walkthrough_sends_the_highest_priority_first() {
    let text = narrate("priority");
    let order: Vec<&str> = deliveries(&text)
        .into_iter()
        .filter_map(|line| line.split("body \"").nth(1)?.split('"').next())
        .collect();
    let expected = [
        "password reset",
        "order confirmation",
        "weekly report A",
        "weekly report B",
        "newsletter",
    ];
    assert_eq!(order, expected, "{text}");
}

#[test]
fn ordering_by_key_walkthrough_keeps_a_customer_on_one_worker_in_order() {
    let text = narrate("ordering-by-key");
    let customer_1 = deliveries_with(&text, &["body \"customer-1 "]);
    assert_eq!(customer_1.len(), 3, "{text}");
    let events: Vec<bool> = ["created", "paid", "shipped"]
        .iter()
        .zip(&customer_1)
        .map(|(event, line)| line.contains(event))
        .collect();
    assert_eq!(events, [true, true, true], "{text}");
    let worker = customer_1.first().and_then(|line| line.split(' ').nth(1));
    assert!(
        customer_1
            .iter()
            .all(|line| line.split(' ').nth(1) == worker),
        "{text}"
    );
    assert!(text.contains("ACCESS_REFUSED"), "{text}");
}

#[test]
fn idempotency_walkthrough_skips_the_republished_duplicate() {
    let text = narrate("idempotency");
    let duplicates = deliveries_with(&text, &["message_id \"payment-1001\""]);
    assert_eq!(duplicates.len(), 2, "{text}");
    assert!(
        duplicates
            .iter()
            .all(|line| line.contains("redelivered=false")),
        "{text}"
    );
    assert!(text.contains("already processed payment-1001"), "{text}");
}

#[test]
fn prefetch_walkthrough_holds_back_what_exceeds_the_prefetch() {
    let text = narrate("prefetch");
    assert!(
        text.contains("message_count: 3, consumer_count: 1"),
        "{text}"
    );
    assert_eq!(deliveries(&text).len(), 5, "{text}");
}

#[test]
fn saga_walkthrough_completes_one_order_and_compensates_the_declined_one_in_reverse() {
    let text = narrate("saga");
    let commands = |id: &str| deliveries_with(&text, &["correlation_id \"do:", id]).len();
    assert_eq!(commands("order-1001"), 3, "{text}");
    assert_eq!(
        commands("order-1002"),
        2,
        "the declined order is not shipped\n{text}"
    );
    let undone = deliveries_with(&text, &["correlation_id \"undo:"]);
    assert_eq!(undone.len(), 1, "{text}");
    assert!(
        undone[0].contains("undo:0:order-1002"),
        "only the reservation is released\n{text}"
    );
    assert!(text.contains("reads saga.completed (completed)"), "{text}");
    assert!(text.contains("reads saga.failed (compensated)"), "{text}");
}
