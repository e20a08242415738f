//! SQS queues in the core, rule by rule (AWS's documentation is the
//! reference): visibility, receipt handles, redrive, delay, long polls,
//! batches, FIFO groups and deduplication, and recovery from the log.

use brokerlab_core::record::Record;
use brokerlab_core::sqs::{AttributeValue, MessageAttribute, Received, SendEntry, Sent};
use brokerlab_core::{
    Broker, Config, ConnectionId, Input, Instant, Output, SqsCommand, SqsErrorKind, SqsReply,
};
use bytes::Bytes;

/// One broker on a virtual clock (milliseconds), its log synced at once
/// unless `hold_sync` is set.
struct Sqs {
    broker: Broker,
    now_ms: u64,
    log: Vec<Record>,
    next_request: u64,
    hold_sync: bool,
    /// Answers that came later than their action (long polls, held sends).
    later: Vec<(u64, u64, SqsReply)>,
}

impl Sqs {
    fn new() -> Sqs {
        Sqs::with(Broker::new(Config::default()))
    }

    fn with(broker: Broker) -> Sqs {
        Sqs {
            broker,
            now_ms: 1_000,
            log: Vec::new(),
            next_request: 1,
            hold_sync: false,
            later: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant(self.now_ms * 1_000_000)
    }

    fn step(&mut self, input: Input) {
        let now = self.now();
        self.broker.handle(now, input);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            let mut synced = None;
            while let Some(output) = self.broker.poll_output() {
                match output {
                    Output::Persist(record) => {
                        synced = Some(record.lsn);
                        self.log.push(*record);
                    }
                    Output::Sqs {
                        conn,
                        request,
                        reply,
                    } => self.later.push((conn.0, request, *reply)),
                    _ => {}
                }
            }
            self.broker.check_invariants();
            match synced {
                Some(upto) if !self.hold_sync => {
                    let now = self.now();
                    self.broker.handle(now, Input::Synced { upto });
                }
                _ => return,
            }
        }
    }

    /// Runs an action on connection `conn` and returns its answer, which must come at once.
    fn on(&mut self, conn: u64, command: SqsCommand) -> SqsReply {
        let request = self.send(conn, command);
        self.take(conn, request).expect("answered at once")
    }

    fn run(&mut self, command: SqsCommand) -> SqsReply {
        self.on(1, command)
    }

    /// Sends an action; its answer is taken with `take`.
    fn send(&mut self, conn: u64, command: SqsCommand) -> u64 {
        let request = self.next_request;
        self.next_request += 1;
        self.step(Input::Sqs {
            conn: ConnectionId(conn),
            request,
            command: Box::new(command),
        });
        request
    }

    fn take(&mut self, conn: u64, request: u64) -> Option<SqsReply> {
        let position = self
            .later
            .iter()
            .position(|(c, r, _)| *c == conn && *r == request)?;
        Some(self.later.remove(position).2)
    }

    /// Moves the clock and fires what is due.
    fn advance_ms(&mut self, ms: u64) {
        let target = self.now_ms + ms;
        while let Some(at) = self.broker.poll_timeout() {
            let at_ms = at.0.div_ceil(1_000_000);
            if at_ms > target {
                break;
            }
            self.now_ms = self.now_ms.max(at_ms);
            self.step(Input::Timeout);
        }
        self.now_ms = target;
        self.step(Input::Timeout);
    }

    fn create(&mut self, queue: &str, attributes: &[(&str, &str)]) {
        let attributes = attributes
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let reply = self.run(SqsCommand::CreateQueue {
            queue: queue.to_owned(),
            attributes,
        });
        assert_eq!(reply, SqsReply::Queue(queue.to_owned()));
    }

    fn send_one(
        &mut self,
        queue: &str,
        entry: SendEntry,
    ) -> Result<Sent, brokerlab_core::SqsError> {
        let reply = self.run(SqsCommand::Send {
            queue: queue.to_owned(),
            entries: vec![entry],
            batch: false,
        });
        match reply {
            SqsReply::Sent(mut results) => results.remove(0).1,
            SqsReply::Error(error) => Err(error),
            other => panic!("a send answers Sent: {other:?}"),
        }
    }

    fn send_body(&mut self, queue: &str, body: &str) -> Sent {
        self.send_one(queue, entry(body)).expect("sent")
    }

    fn receive(&mut self, queue: &str, max: u32, visibility: Option<u32>) -> Vec<Received> {
        match self.run(receive(queue, max, visibility, Some(0))) {
            SqsReply::Received(messages) => messages,
            other => panic!("a receive answers Received: {other:?}"),
        }
    }

    fn delete(&mut self, queue: &str, handle: &str) -> Result<(), brokerlab_core::SqsError> {
        let reply = self.run(SqsCommand::Delete {
            queue: queue.to_owned(),
            entries: vec![(String::new(), handle.to_owned())],
            batch: false,
        });
        match reply {
            SqsReply::Settled(mut results) => results.remove(0).1,
            SqsReply::Error(error) => Err(error),
            other => panic!("a delete answers Settled: {other:?}"),
        }
    }

    fn attribute(&mut self, queue: &str, name: &str) -> String {
        let reply = self.run(SqsCommand::GetQueueAttributes {
            queue: queue.to_owned(),
            names: vec![name.to_owned()],
        });
        let SqsReply::Attributes(attributes) = reply else {
            panic!("attributes: {reply:?}");
        };
        attributes
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

fn entry(body: &str) -> SendEntry {
    SendEntry {
        id: String::new(),
        body: Bytes::copy_from_slice(body.as_bytes()),
        delay_seconds: None,
        attributes: Vec::new(),
        group_id: None,
        deduplication_id: None,
    }
}

fn fifo_entry(body: &str, group: &str, deduplication: &str) -> SendEntry {
    SendEntry {
        group_id: Some(group.to_owned()),
        deduplication_id: Some(deduplication.to_owned()),
        ..entry(body)
    }
}

fn receive(queue: &str, max: u32, visibility: Option<u32>, wait: Option<u32>) -> SqsCommand {
    SqsCommand::Receive {
        queue: queue.to_owned(),
        max_messages: max,
        visibility_timeout: visibility,
        wait_time_seconds: wait,
    }
}

fn bodies(messages: &[Received]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[test]
fn a_received_message_is_invisible_until_its_visibility_timeout_then_visible_again() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "10")]);
    sqs.send_body("q", "a");
    let first = sqs.receive("q", 1, None);
    assert_eq!(bodies(&first), ["a"]);
    assert_eq!(first[0].receive_count, 1);
    assert!(sqs.receive("q", 1, None).is_empty(), "in flight, invisible");
    assert_eq!(
        sqs.attribute("q", "ApproximateNumberOfMessagesNotVisible"),
        "1"
    );
    sqs.advance_ms(9_999);
    assert!(sqs.receive("q", 1, None).is_empty(), "not yet");
    sqs.advance_ms(1);
    let again = sqs.receive("q", 1, None);
    assert_eq!(bodies(&again), ["a"]);
    assert_eq!(
        again[0].receive_count, 2,
        "ApproximateReceiveCount grows per receive"
    );
    assert_ne!(
        again[0].receipt_handle, first[0].receipt_handle,
        "a fresh handle per receive"
    );
    assert_eq!(again[0].message_id, first[0].message_id);
}

#[test]
fn a_receive_may_override_the_queues_visibility_timeout() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    sqs.send_body("q", "a");
    sqs.receive("q", 1, Some(2));
    sqs.advance_ms(2_000);
    assert_eq!(bodies(&sqs.receive("q", 1, None)), ["a"]);
}

#[test]
fn a_deleted_message_never_comes_back() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "1")]);
    sqs.send_body("q", "a");
    let handle = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    sqs.delete("q", &handle).unwrap();
    sqs.advance_ms(5_000);
    assert!(sqs.receive("q", 1, None).is_empty());
    assert_eq!(sqs.attribute("q", "ApproximateNumberOfMessages"), "0");
    assert_eq!(
        sqs.attribute("q", "ApproximateNumberOfMessagesNotVisible"),
        "0"
    );
}

#[test]
fn a_delete_with_an_older_handle_succeeds_and_deletes_nothing_in_a_standard_queue() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "1")]);
    sqs.send_body("q", "a");
    let old = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    sqs.advance_ms(1_000);
    let new = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    assert_eq!(sqs.delete("q", &old), Ok(()), "success");
    sqs.advance_ms(1_000);
    let back = sqs.receive("q", 1, None);
    assert_eq!(bodies(&back), ["a"], "the stale delete deleted nothing");
    assert_eq!(back[0].receive_count, 3);
    assert_eq!(
        sqs.delete("q", &new),
        Ok(()),
        "a handle replaced by a later receive is stale too"
    );
    sqs.delete("q", &back[0].receipt_handle).unwrap();
    sqs.advance_ms(1_000);
    assert!(sqs.receive("q", 1, None).is_empty());
}

#[test]
fn the_latest_handle_deletes_a_message_whose_visibility_ran_out_before_anyone_received_it_again() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "1")]);
    sqs.send_body("q", "a");
    let handle = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    sqs.advance_ms(1_500);
    assert_eq!(sqs.attribute("q", "ApproximateNumberOfMessages"), "1");
    sqs.delete("q", &handle).unwrap();
    assert!(sqs.receive("q", 1, None).is_empty());
}

#[test]
fn a_delete_with_an_expired_handle_fails_in_a_fifo_queue() {
    let mut sqs = Sqs::new();
    sqs.create(
        "q.fifo",
        &[("FifoQueue", "true"), ("VisibilityTimeout", "1")],
    );
    sqs.send_one("q.fifo", fifo_entry("a", "g", "1")).unwrap();
    let old = sqs.receive("q.fifo", 1, None)[0].receipt_handle.clone();
    sqs.advance_ms(1_000);
    sqs.receive("q.fifo", 1, None);
    let error = sqs.delete("q.fifo", &old).unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
    assert!(
        error.message.ends_with("The receipt handle has expired."),
        "{}",
        error.message
    );
}

#[test]
fn a_malformed_receipt_handle_is_receipt_handle_is_invalid() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    let error = sqs.delete("q", "not a handle").unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::ReceiptHandleIsInvalid);
}

#[test]
fn changing_the_visibility_of_a_message_not_in_flight_is_message_not_inflight() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "1")]);
    sqs.send_body("q", "a");
    let handle = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    let change = |timeout| SqsCommand::ChangeVisibility {
        queue: "q".to_owned(),
        entries: vec![(String::new(), handle.clone(), timeout)],
        batch: false,
    };
    assert_eq!(
        sqs.run(change(5)),
        SqsReply::Settled(vec![(String::new(), Ok(()))])
    );
    sqs.advance_ms(4_000);
    assert!(
        sqs.receive("q", 1, None).is_empty(),
        "extended to 5 s from the change"
    );
    sqs.advance_ms(1_000);
    let SqsReply::Settled(results) = sqs.run(change(5)) else {
        panic!()
    };
    assert_eq!(
        results[0].1.as_ref().unwrap_err().kind,
        SqsErrorKind::MessageNotInflight
    );
}

#[test]
fn a_visibility_timeout_of_zero_makes_the_message_visible_at_once() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    sqs.send_body("q", "a");
    let handle = sqs.receive("q", 1, None)[0].receipt_handle.clone();
    sqs.run(SqsCommand::ChangeVisibility {
        queue: "q".to_owned(),
        entries: vec![(String::new(), handle, 0)],
        batch: false,
    });
    assert_eq!(bodies(&sqs.receive("q", 1, None)), ["a"]);
}

#[test]
fn a_message_received_max_receive_count_times_is_redriven_to_the_dead_letter_queue() {
    let mut sqs = Sqs::new();
    sqs.create("dlq", &[]);
    let policy =
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#;
    sqs.create(
        "q",
        &[("VisibilityTimeout", "1"), ("RedrivePolicy", policy)],
    );
    let sent = sqs.send_body("q", "poison");
    for count in 1..=2 {
        let got = sqs.receive("q", 1, None);
        assert_eq!(got[0].receive_count, count);
        sqs.advance_ms(1_000);
    }
    assert!(
        sqs.receive("q", 1, None).is_empty(),
        "moved rather than received a third time"
    );
    let dead = sqs.receive("dlq", 1, None);
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(dead[0].message_id, sent.message_id, "the same message");
}

#[test]
fn a_redrive_policy_needs_an_existing_dead_letter_queue_of_the_same_type() {
    let mut sqs = Sqs::new();
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nowhere","maxReceiveCount":2}"#;
    let reply = sqs.run(SqsCommand::CreateQueue {
        queue: "q".to_owned(),
        attributes: vec![("RedrivePolicy".to_owned(), policy.to_owned())],
    });
    let SqsReply::Error(error) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
    sqs.create("dlq", &[]);
    let fifo_policy =
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#;
    let reply = sqs.run(SqsCommand::CreateQueue {
        queue: "q.fifo".to_owned(),
        attributes: vec![("RedrivePolicy".to_owned(), fifo_policy.to_owned())],
    });
    assert!(
        matches!(reply, SqsReply::Error(_)),
        "a FIFO queue's dead-letter queue is FIFO"
    );
}

#[test]
fn a_delayed_message_is_invisible_until_its_delay_ends() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("DelaySeconds", "5")]);
    sqs.send_body("q", "queue-delay");
    sqs.send_one(
        "q",
        SendEntry {
            delay_seconds: Some(1),
            ..entry("message-delay")
        },
    )
    .unwrap();
    assert!(sqs.receive("q", 10, None).is_empty());
    assert_eq!(
        sqs.attribute("q", "ApproximateNumberOfMessagesDelayed"),
        "2"
    );
    sqs.advance_ms(1_000);
    assert_eq!(
        bodies(&sqs.receive("q", 10, None)),
        ["message-delay"],
        "the message's delay overrides the queue's"
    );
    sqs.advance_ms(4_000);
    assert_eq!(bodies(&sqs.receive("q", 10, None)), ["queue-delay"]);
}

#[test]
fn a_long_poll_is_answered_when_a_message_arrives() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    let request = sqs.send(7, receive("q", 1, None, Some(20)));
    assert_eq!(sqs.take(7, request), None, "waiting");
    sqs.advance_ms(3_000);
    sqs.send_body("q", "a");
    let Some(SqsReply::Received(messages)) = sqs.take(7, request) else {
        panic!("answered")
    };
    assert_eq!(bodies(&messages), ["a"]);
}

#[test]
fn a_long_poll_answers_with_nothing_when_its_wait_runs_out() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("ReceiveMessageWaitTimeSeconds", "2")]);
    let request = sqs.send(7, receive("q", 1, None, None));
    sqs.advance_ms(1_999);
    assert_eq!(sqs.take(7, request), None);
    sqs.advance_ms(1);
    assert_eq!(sqs.take(7, request), Some(SqsReply::Received(Vec::new())));
}

#[test]
fn a_long_poll_of_a_connection_gone_is_dropped_and_takes_nothing() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    let request = sqs.send(7, receive("q", 1, None, Some(20)));
    sqs.step(Input::Disconnect {
        conn: ConnectionId(7),
    });
    sqs.send_body("q", "a");
    assert_eq!(sqs.take(7, request), None);
    assert_eq!(bodies(&sqs.receive("q", 1, None)), ["a"]);
}

#[test]
fn a_wait_longer_than_20_seconds_is_invalid() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    let SqsReply::Error(error) = sqs.run(receive("q", 1, None, Some(21))) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
    let SqsReply::Error(error) = sqs.run(receive("q", 11, None, None)) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
}

#[test]
fn a_batch_answers_per_entry_and_refuses_more_than_ten_entries() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("MaximumMessageSize", "1024")]);
    let entries: Vec<SendEntry> = (0..3)
        .map(|i| SendEntry {
            id: format!("e{i}"),
            ..entry(if i == 1 { "" } else { "ok" })
        })
        .collect();
    let SqsReply::Sent(results) = sqs.run(SqsCommand::Send {
        queue: "q".to_owned(),
        entries,
        batch: true,
    }) else {
        panic!()
    };
    assert!(results[0].1.is_ok() && results[2].1.is_ok());
    assert_eq!(
        results[1].1.as_ref().unwrap_err().kind,
        SqsErrorKind::MissingParameter
    );
    let eleven: Vec<SendEntry> = (0..11)
        .map(|i| SendEntry {
            id: format!("e{i}"),
            ..entry("x")
        })
        .collect();
    let SqsReply::Error(error) = sqs.run(SqsCommand::Send {
        queue: "q".to_owned(),
        entries: eleven,
        batch: true,
    }) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::TooManyEntriesInBatchRequest);
    let twins = vec![
        SendEntry {
            id: "a".to_owned(),
            ..entry("x")
        },
        SendEntry {
            id: "a".to_owned(),
            ..entry("y")
        },
    ];
    let SqsReply::Error(error) = sqs.run(SqsCommand::Send {
        queue: "q".to_owned(),
        entries: twins,
        batch: true,
    }) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::BatchEntryIdsNotDistinct);
    let big = "x".repeat(1_025);
    let error = sqs.send_one("q", entry(&big)).unwrap_err();
    assert_eq!(
        error.kind,
        SqsErrorKind::InvalidParameterValue,
        "over MaximumMessageSize"
    );
}

#[test]
fn a_fifo_group_is_received_in_order_and_never_two_in_flight() {
    let mut sqs = Sqs::new();
    sqs.create(
        "q.fifo",
        &[("FifoQueue", "true"), ("VisibilityTimeout", "5")],
    );
    for (body, group) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")] {
        sqs.send_one("q.fifo", fifo_entry(body, group, body))
            .unwrap();
    }
    let first = sqs.receive("q.fifo", 1, None);
    assert_eq!(bodies(&first), ["a1"]);
    assert_eq!(
        bodies(&sqs.receive("q.fifo", 10, None)),
        ["b1", "b2"],
        "group a is blocked while a1 is in flight"
    );
    assert!(sqs.receive("q.fifo", 10, None).is_empty());
    sqs.delete("q.fifo", &first[0].receipt_handle).unwrap();
    assert_eq!(bodies(&sqs.receive("q.fifo", 10, None)), ["a2"]);
}

#[test]
fn a_fifo_message_whose_visibility_ran_out_is_received_again_before_the_rest_of_its_group() {
    let mut sqs = Sqs::new();
    sqs.create(
        "q.fifo",
        &[("FifoQueue", "true"), ("VisibilityTimeout", "1")],
    );
    for body in ["1", "2", "3"] {
        sqs.send_one("q.fifo", fifo_entry(body, "g", body)).unwrap();
    }
    assert_eq!(bodies(&sqs.receive("q.fifo", 1, None)), ["1"]);
    sqs.advance_ms(1_000);
    assert_eq!(bodies(&sqs.receive("q.fifo", 10, None)), ["1", "2", "3"]);
}

#[test]
fn a_fifo_send_needs_a_group_and_a_deduplication_id() {
    let mut sqs = Sqs::new();
    sqs.create("q.fifo", &[("FifoQueue", "true")]);
    let error = sqs.send_one("q.fifo", entry("a")).unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::MissingParameter);
    let error = sqs
        .send_one(
            "q.fifo",
            SendEntry {
                group_id: Some("g".to_owned()),
                ..entry("a")
            },
        )
        .unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
}

#[test]
fn a_deduplication_id_seen_within_five_minutes_is_accepted_and_not_enqueued() {
    let mut sqs = Sqs::new();
    sqs.create("q.fifo", &[("FifoQueue", "true")]);
    let first = sqs.send_one("q.fifo", fifo_entry("a", "g", "d")).unwrap();
    sqs.advance_ms(299_999);
    let again = sqs.send_one("q.fifo", fifo_entry("a", "g", "d")).unwrap();
    assert_eq!(again, first, "the first send's id and sequence number");
    assert_eq!(sqs.attribute("q.fifo", "ApproximateNumberOfMessages"), "1");
    sqs.advance_ms(1);
    let later = sqs.send_one("q.fifo", fifo_entry("a", "g", "d")).unwrap();
    assert_ne!(later.message_id, first.message_id, "the window is over");
    assert_eq!(sqs.attribute("q.fifo", "ApproximateNumberOfMessages"), "2");
}

#[test]
fn a_send_is_answered_only_once_its_record_is_synced() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    sqs.hold_sync = true;
    let request = sqs.send(
        1,
        SqsCommand::Send {
            queue: "q".to_owned(),
            entries: vec![entry("a")],
            batch: false,
        },
    );
    assert_eq!(sqs.take(1, request), None);
    let upto = sqs.log.last().unwrap().lsn;
    sqs.hold_sync = false;
    sqs.step(Input::Synced { upto });
    assert!(matches!(sqs.take(1, request), Some(SqsReply::Sent(_))));
}

#[test]
fn content_based_deduplication_takes_the_bodys_sha256_as_the_id() {
    let mut sqs = Sqs::new();
    sqs.create(
        "q.fifo",
        &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")],
    );
    let by_content = |body: &str| SendEntry {
        group_id: Some("g".to_owned()),
        ..entry(body)
    };
    let first = sqs.send_one("q.fifo", by_content("same")).unwrap();
    assert_eq!(sqs.send_one("q.fifo", by_content("same")).unwrap(), first);
    assert_ne!(sqs.send_one("q.fifo", by_content("other")).unwrap(), first);
    let received = sqs.receive("q.fifo", 10, None);
    assert_eq!(bodies(&received), ["same", "other"]);
    // SHA-256("same"), as SQS reports it in MessageDeduplicationId.
    assert_eq!(
        received[0].deduplication_id.as_deref(),
        Some("0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5")
    );
}

#[test]
fn a_deduplicated_send_is_answered_only_once_the_first_send_is_synced() {
    let mut sqs = Sqs::new();
    sqs.create("q.fifo", &[("FifoQueue", "true")]);
    sqs.hold_sync = true;
    let send = |sqs: &mut Sqs| {
        let command = SqsCommand::Send {
            queue: "q.fifo".to_owned(),
            entries: vec![fifo_entry("a", "g", "d")],
            batch: false,
        };
        sqs.send(1, command)
    };
    let first = send(&mut sqs);
    let repeat = send(&mut sqs);
    assert_eq!(
        sqs.take(1, repeat),
        None,
        "a crash now would lose the message its answer speaks of"
    );
    let upto = sqs.log.last().unwrap().lsn;
    sqs.hold_sync = false;
    sqs.step(Input::Synced { upto });
    let (Some(SqsReply::Sent(a)), Some(SqsReply::Sent(b))) =
        (sqs.take(1, first), sqs.take(1, repeat))
    else {
        panic!("both answered once synced")
    };
    assert_eq!(a, b, "the repeat gets the first send's id");
}

#[test]
fn a_recovered_queue_keeps_its_attributes_and_messages_and_receipt_handles_are_never_reissued() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "100")]);
    sqs.send_body("q", "a");
    sqs.send_body("q", "b");
    let before = sqs.receive("q", 1, None);
    sqs.run(SqsCommand::SetQueueAttributes {
        queue: "q".to_owned(),
        attributes: vec![("VisibilityTimeout".to_owned(), "7".to_owned())],
    });
    let recovered = Broker::recover(Config::default(), sqs.log.clone());
    let mut after = Sqs::with(recovered);
    assert_eq!(after.attribute("q", "VisibilityTimeout"), "7");
    let messages = after.receive("q", 10, None);
    assert_eq!(
        bodies(&messages),
        ["a", "b"],
        "the message in flight is visible again after a crash"
    );
    assert!(messages
        .iter()
        .all(|m| m.receipt_handle != before[0].receipt_handle));
    assert_eq!(after.delete("q", &before[0].receipt_handle), Ok(()));
    assert_eq!(
        after.attribute("q", "ApproximateNumberOfMessagesNotVisible"),
        "2",
        "the old handle deleted nothing"
    );
}

#[test]
fn the_deduplication_window_survives_a_recovery_and_a_snapshot() {
    let mut sqs = Sqs::new();
    sqs.create("q.fifo", &[("FifoQueue", "true")]);
    let first = sqs.send_one("q.fifo", fifo_entry("a", "g", "d")).unwrap();
    let handle = sqs.receive("q.fifo", 1, None)[0].receipt_handle.clone();
    sqs.delete("q.fifo", &handle).unwrap();
    for records in [sqs.log.clone(), sqs.broker.snapshot()] {
        let mut after = Sqs::with(Broker::recover(Config::default(), records));
        after.now_ms = sqs.now_ms;
        let again = after.send_one("q.fifo", fifo_entry("a", "g", "d")).unwrap();
        assert_eq!(again, first, "a repeat within the window, across a restart");
        assert!(
            after.receive("q.fifo", 1, None).is_empty(),
            "and not enqueued"
        );
    }
}

#[test]
fn creating_an_existing_queue_with_other_attributes_is_queue_already_exists() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[("VisibilityTimeout", "5")]);
    sqs.create("q", &[("VisibilityTimeout", "5")]);
    let SqsReply::Error(error) = sqs.run(SqsCommand::CreateQueue {
        queue: "q".to_owned(),
        attributes: vec![("VisibilityTimeout".to_owned(), "6".to_owned())],
    }) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::QueueAlreadyExists);
}

#[test]
fn actions_on_a_queue_that_does_not_exist_are_queue_does_not_exist() {
    let mut sqs = Sqs::new();
    let SqsReply::Error(error) = sqs.run(receive("nope", 1, None, None)) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::QueueDoesNotExist);
    assert_eq!(
        error.kind.query_code(),
        "AWS.SimpleQueueService.NonExistentQueue"
    );
}

#[test]
fn a_purge_deletes_every_message_and_another_within_60_seconds_is_refused() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    sqs.send_body("q", "a");
    sqs.send_body("q", "b");
    sqs.receive("q", 1, None);
    assert_eq!(
        sqs.run(SqsCommand::PurgeQueue {
            queue: "q".to_owned()
        }),
        SqsReply::Done
    );
    assert_eq!(
        sqs.attribute("q", "ApproximateNumberOfMessagesNotVisible"),
        "0"
    );
    assert!(sqs.receive("q", 10, None).is_empty());
    let SqsReply::Error(error) = sqs.run(SqsCommand::PurgeQueue {
        queue: "q".to_owned(),
    }) else {
        panic!()
    };
    assert_eq!(error.kind, SqsErrorKind::PurgeQueueInProgress);
}

#[test]
fn list_queues_names_the_sqs_queues_by_prefix_in_name_order() {
    let mut sqs = Sqs::new();
    for name in ["orders-b", "orders-a", "other"] {
        sqs.create(name, &[]);
    }
    let reply = sqs.run(SqsCommand::ListQueues {
        prefix: "orders".to_owned(),
        max_results: None,
        after: None,
    });
    assert_eq!(
        reply,
        SqsReply::Queues {
            names: vec!["orders-a".to_owned(), "orders-b".to_owned()],
            next: None,
        }
    );
}

#[test]
fn list_queues_pages_by_max_results_after_the_last_name_of_the_page_before() {
    let mut sqs = Sqs::new();
    for name in ["q-c", "q-a", "q-e", "q-b", "q-d"] {
        sqs.create(name, &[]);
    }
    let page = |sqs: &mut Sqs, after: Option<&str>| {
        let reply = sqs.run(SqsCommand::ListQueues {
            prefix: "q-".to_owned(),
            max_results: Some(2),
            after: after.map(str::to_owned),
        });
        let SqsReply::Queues { names, next } = reply else {
            panic!("a page of names: {reply:?}")
        };
        (names, next)
    };
    let names = |list: &[&str]| {
        list.iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>()
    };
    let (first, next) = page(&mut sqs, None);
    assert_eq!(first, names(&["q-a", "q-b"]));
    assert_eq!(next.as_deref(), Some("q-b"));
    // A queue made between two pages that sorts before the next page's
    // start is not listed again; the pages still cover the rest once.
    sqs.create("q-aa", &[]);
    let (second, next) = page(&mut sqs, next.as_deref());
    assert_eq!(second, names(&["q-c", "q-d"]));
    let (third, next) = page(&mut sqs, next.as_deref());
    assert_eq!(third, names(&["q-e"]));
    assert_eq!(next, None, "the last page has no next");
    // Without MaxResults, up to 1,000 in one page and never a next.
    let all = sqs.run(SqsCommand::ListQueues {
        prefix: "q-".to_owned(),
        max_results: None,
        after: None,
    });
    let SqsReply::Queues { names: all, next } = all else {
        panic!()
    };
    assert_eq!(all.len(), 6);
    assert_eq!(next, None);
}

#[test]
fn message_attributes_come_back_as_sent() {
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    let attributes = vec![
        MessageAttribute {
            name: "colour".to_owned(),
            data_type: "String".to_owned(),
            value: AttributeValue::String("blue".to_owned()),
        },
        MessageAttribute {
            name: "raw".to_owned(),
            data_type: "Binary".to_owned(),
            value: AttributeValue::Binary(Bytes::from_static(b"\x00\x01")),
        },
    ];
    sqs.send_one(
        "q",
        SendEntry {
            attributes: attributes.clone(),
            ..entry("a")
        },
    )
    .unwrap();
    assert_eq!(sqs.receive("q", 1, None)[0].attributes, attributes);
}

#[test]
fn amqp_cannot_declare_or_consume_an_sqs_queue() {
    use brokerlab_core::{ChannelId, Command, FieldTable, FieldValue, Reply};
    let mut sqs = Sqs::new();
    sqs.create("q", &[]);
    sqs.step(Input::Connect {
        conn: ConnectionId(50),
        user: "guest".to_owned(),
        vhost: "/".to_owned(),
        channel_max: 10,
    });
    // Each refusal closes its channel with 406; each command gets a channel of its own.
    let refused = |sqs: &mut Sqs, number: u16, refused: Command| {
        let channel = ChannelId(number);
        let input = |command| Input::Command {
            conn: ConnectionId(50),
            channel,
            command,
        };
        sqs.step(input(Command::ChannelOpen));
        let now = sqs.now();
        sqs.broker.handle(now, input(refused));
        let mut code = None;
        while let Some(output) = sqs.broker.poll_output() {
            if let Output::Reply {
                reply: Reply::Close { code: closed, .. },
                channel: on,
                ..
            } = output
            {
                if on == channel {
                    code = Some(closed);
                }
            }
        }
        code
    };
    let precondition = Some(brokerlab_core::ReplyCode::PreconditionFailed);
    let get = Command::BasicGet {
        queue: "q".to_owned(),
        no_ack: true,
    };
    assert_eq!(
        refused(&mut sqs, 1, get),
        precondition,
        "basic.get on an SQS queue"
    );
    let consume = Command::BasicConsume {
        queue: "q".to_owned(),
        consumer_tag: "c".to_owned(),
        no_ack: false,
        exclusive: false,
        arguments: FieldTable::new(),
    };
    assert_eq!(
        refused(&mut sqs, 2, consume),
        precondition,
        "basic.consume on an SQS queue"
    );
    let mut arguments = FieldTable::new();
    arguments.insert("x-queue-type".to_owned(), FieldValue::string("sqs"));
    let declare = Command::QueueDeclare {
        queue: "made-over-amqp".to_owned(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    };
    assert_eq!(
        refused(&mut sqs, 3, declare),
        precondition,
        "queue.declare of type sqs"
    );
    let listed = sqs.run(SqsCommand::ListQueues {
        prefix: String::new(),
        max_results: None,
        after: None,
    });
    assert_eq!(
        listed,
        SqsReply::Queues {
            names: vec!["q".to_owned()],
            next: None,
        },
        "no queue was made over AMQP"
    );
}
