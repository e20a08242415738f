use super::*;

fn set(attributes: &mut QueueAttributes, name: &str, value: &str) -> Result<(), SqsError> {
    attributes.set(&[(name.to_owned(), value.to_owned())], true)
}

#[test]
fn queue_attributes_default_to_aws_defaults() {
    let attributes = QueueAttributes::defaults("orders");
    assert_eq!(attributes.visibility_timeout, 30);
    assert_eq!(attributes.message_retention_period, 345_600);
    assert_eq!(attributes.maximum_message_size, 262_144);
    assert!(!attributes.fifo);
    assert!(QueueAttributes::defaults("orders.fifo").fifo);
}

#[test]
fn attribute_values_out_of_range_are_invalid_attribute_values() {
    let mut attributes = QueueAttributes::defaults("q");
    for (name, value) in [
        ("VisibilityTimeout", "43201"),
        ("DelaySeconds", "901"),
        ("MaximumMessageSize", "1023"),
        ("MessageRetentionPeriod", "59"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("VisibilityTimeout", "ten"),
    ] {
        let error = set(&mut attributes, name, value).unwrap_err();
        assert_eq!(
            error.kind,
            SqsErrorKind::InvalidAttributeValue,
            "{name}={value}"
        );
    }
    let error = set(&mut attributes, "Colour", "blue").unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::InvalidAttributeName);
    assert_eq!(error.message, "Unknown Attribute Colour.");
}

#[test]
fn content_based_deduplication_is_for_fifo_queues_only() {
    let mut standard = QueueAttributes::defaults("q");
    let error = set(&mut standard, "ContentBasedDeduplication", "true").unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::InvalidAttributeName);
    let mut fifo = QueueAttributes::defaults("q.fifo");
    set(&mut fifo, "ContentBasedDeduplication", "true").unwrap();
    assert!(fifo.content_based_deduplication);
}

#[test]
fn a_fifo_queue_needs_a_fifo_name() {
    let mut standard = QueueAttributes::defaults("q");
    let error = set(&mut standard, "FifoQueue", "true").unwrap_err();
    assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue);
}

#[test]
fn a_redrive_policy_takes_its_count_as_a_number_or_a_string() {
    let arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
    for json in [
        format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":3}}"#),
        format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"3"}}"#),
    ] {
        let policy = RedrivePolicy::parse(&json).unwrap();
        assert_eq!(policy.dead_letter_queue, "dlq");
        assert_eq!(policy.max_receive_count, 3);
    }
    for bad in [
        "not json".to_owned(),
        format!(r#"{{"deadLetterTargetArn":"{arn}"}}"#),
        format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":0}}"#),
        r#"{"maxReceiveCount":3}"#.to_owned(),
    ] {
        let error = RedrivePolicy::parse(&bad).unwrap_err();
        assert_eq!(error.kind, SqsErrorKind::InvalidParameterValue, "{bad}");
    }
}

#[test]
fn attributes_survive_the_round_trip_through_declare_arguments() {
    let mut attributes = QueueAttributes::defaults("jobs.fifo");
    attributes
        .set(
            &[
                ("VisibilityTimeout".to_owned(), "7".to_owned()),
                ("ContentBasedDeduplication".to_owned(), "true".to_owned()),
                (
                    "RedrivePolicy".to_owned(),
                    r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dead.fifo","maxReceiveCount":2}"#
                        .to_owned(),
                ),
                ("Policy".to_owned(), "{}".to_owned()),
            ],
            true,
        )
        .unwrap();
    let arguments = attributes.to_arguments();
    assert!(attributes::is_sqs(&arguments));
    assert_eq!(
        QueueAttributes::from_arguments("jobs.fifo", &arguments),
        Some(attributes)
    );
}

#[test]
fn message_ids_are_uuid_shaped_and_distinct() {
    let a = message::message_id(crate::MessageId(1));
    let b = message::message_id(crate::MessageId(2));
    assert_eq!(a.len(), 36);
    assert_eq!(a.matches('-').count(), 4);
    assert_ne!(a, b);
}
