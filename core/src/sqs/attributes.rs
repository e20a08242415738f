//! An SQS queue's settable attributes: parsed from the strings the API
//! carries, checked against AWS's ranges, kept in the queue's declare
//! arguments for the log, and given back by name.

use super::{
    SqsError, SqsErrorKind, DELAY_SECONDS_MAX, MESSAGE_SIZE_MAX, VISIBILITY_TIMEOUT_SECONDS_MAX,
};
use crate::field::{FieldTable, FieldValue};
use std::collections::BTreeMap;

/// The argument that makes a queue an SQS queue (`x-queue-type: sqs`).
pub const QUEUE_TYPE: &str = "sqs";
/// The prefix of the declare arguments that hold the attributes.
const ARGUMENT_PREFIX: &str = "x-sqs-";

/// Attributes SQS accepts and reports as given, which the core keeps but
/// does not act on (access policies, encryption, throughput settings).
const KEPT_AS_GIVEN: [&str; 7] = [
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "RedriveAllowPolicy",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Where a queue's messages go after too many receives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RedrivePolicy {
    /// The dead-letter queue's ARN, as given.
    pub dead_letter_target_arn: String,
    /// The dead-letter queue's name (the ARN's last part).
    pub dead_letter_queue: String,
    /// Receives after which a message is moved (1 to 1,000).
    pub max_receive_count: u32,
}

/// An SQS queue's settable attributes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueAttributes {
    /// `VisibilityTimeout`, seconds (0 to 43,200; 30).
    pub visibility_timeout: u32,
    /// `DelaySeconds` (0 to 900; 0).
    pub delay_seconds: u32,
    /// `MaximumMessageSize`, bytes (1,024 to 262,144; 262,144).
    pub maximum_message_size: u32,
    /// `MessageRetentionPeriod`, seconds (60 to 1,209,600; 345,600).
    pub message_retention_period: u32,
    /// `ReceiveMessageWaitTimeSeconds` (0 to 20; 0).
    pub receive_wait_time_seconds: u32,
    /// `RedrivePolicy`.
    pub redrive_policy: Option<RedrivePolicy>,
    /// `FifoQueue`.
    pub fifo: bool,
    /// `ContentBasedDeduplication` (FIFO only).
    pub content_based_deduplication: bool,
    /// Attributes kept as given (see `KEPT_AS_GIVEN`).
    pub other: BTreeMap<String, String>,
}

impl QueueAttributes {
    /// The defaults of a queue named `queue`.
    #[must_use]
    pub fn defaults(queue: &str) -> QueueAttributes {
        QueueAttributes {
            visibility_timeout: 30,
            delay_seconds: 0,
            maximum_message_size: MESSAGE_SIZE_MAX,
            message_retention_period: 345_600,
            receive_wait_time_seconds: 0,
            redrive_policy: None,
            fifo: queue.ends_with(".fifo"),
            content_based_deduplication: false,
            other: BTreeMap::new(),
        }
    }

    /// Sets the attributes given, checking each; `creating` allows
    /// `FifoQueue`, which only CreateQueue may set.
    ///
    /// # Errors
    /// `InvalidAttributeName` for a name SQS does not know (or one not
    /// allowed on this queue), `InvalidAttributeValue` for a value out of range.
    pub fn set(&mut self, attributes: &[(String, String)], creating: bool) -> Result<(), SqsError> {
        for (name, value) in attributes {
            self.set_one(name, value, creating)?;
        }
        if self.content_based_deduplication && !self.fifo {
            return Err(unknown(&"ContentBasedDeduplication".to_owned()));
        }
        Ok(())
    }

    fn set_one(&mut self, name: &String, value: &str, creating: bool) -> Result<(), SqsError> {
        match name.as_str() {
            "VisibilityTimeout" => {
                self.visibility_timeout = seconds(name, value, 0, VISIBILITY_TIMEOUT_SECONDS_MAX)?
            }
            "DelaySeconds" => self.delay_seconds = seconds(name, value, 0, DELAY_SECONDS_MAX)?,
            "MaximumMessageSize" => {
                self.maximum_message_size = seconds(name, value, 1_024, MESSAGE_SIZE_MAX)?
            }
            "MessageRetentionPeriod" => {
                self.message_retention_period = seconds(name, value, 60, 1_209_600)?
            }
            "ReceiveMessageWaitTimeSeconds" => {
                self.receive_wait_time_seconds =
                    seconds(name, value, 0, super::WAIT_TIME_SECONDS_MAX)?
            }
            "RedrivePolicy" => {
                self.redrive_policy = if value.is_empty() {
                    None
                } else {
                    Some(RedrivePolicy::parse(value)?)
                };
            }
            "FifoQueue" if creating => {
                let fifo = boolean(name, value)?;
                if fifo != self.fifo {
                    // AWS: a `.fifo` name needs FifoQueue true, and the reverse.
                    return Err(SqsError::new(
                        SqsErrorKind::InvalidParameterValue,
                        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
                    ));
                }
            }
            "ContentBasedDeduplication" if self.fifo => {
                self.content_based_deduplication = boolean(name, value)?;
            }
            other if KEPT_AS_GIVEN.contains(&other) => {
                self.other.insert(other.to_owned(), value.to_owned());
            }
            _ => return Err(unknown(name)),
        }
        Ok(())
    }

    /// The attributes as the queue's declare arguments (`x-sqs-<Name>`).
    #[must_use]
    pub fn to_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::new();
        arguments.insert("x-queue-type".to_owned(), FieldValue::string(QUEUE_TYPE));
        for (name, value) in self.settable() {
            arguments.insert(
                format!("{ARGUMENT_PREFIX}{name}"),
                FieldValue::string(&value),
            );
        }
        arguments
    }

    /// The attributes kept in declare arguments, or `None` when they are
    /// not an SQS queue's.
    #[must_use]
    pub fn from_arguments(queue: &str, arguments: &FieldTable) -> Option<QueueAttributes> {
        if !is_sqs(arguments) {
            return None;
        }
        let mut attributes = QueueAttributes::defaults(queue);
        let given: Vec<(String, String)> = arguments
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix(ARGUMENT_PREFIX)?;
                Some((name.to_owned(), value.as_str()?.to_owned()))
            })
            .collect();
        attributes.set(&given, true).ok()?;
        Some(attributes)
    }

    /// The settable attributes as SQS reports them, by name.
    #[must_use]
    pub fn settable(&self) -> Vec<(String, String)> {
        let mut attributes = vec![
            (
                "VisibilityTimeout".to_owned(),
                self.visibility_timeout.to_string(),
            ),
            ("DelaySeconds".to_owned(), self.delay_seconds.to_string()),
            (
                "MaximumMessageSize".to_owned(),
                self.maximum_message_size.to_string(),
            ),
            (
                "MessageRetentionPeriod".to_owned(),
                self.message_retention_period.to_string(),
            ),
            (
                "ReceiveMessageWaitTimeSeconds".to_owned(),
                self.receive_wait_time_seconds.to_string(),
            ),
        ];
        if let Some(policy) = &self.redrive_policy {
            attributes.push(("RedrivePolicy".to_owned(), policy.to_json()));
        }
        if self.fifo {
            attributes.push(("FifoQueue".to_owned(), "true".to_owned()));
            attributes.push((
                "ContentBasedDeduplication".to_owned(),
                self.content_based_deduplication.to_string(),
            ));
        }
        attributes.extend(
            self.other
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
        attributes
    }
}

/// Whether declare arguments make an SQS queue.
#[must_use]
pub fn is_sqs(arguments: &FieldTable) -> bool {
    arguments.get("x-queue-type").and_then(FieldValue::as_str) == Some(QUEUE_TYPE)
}

impl RedrivePolicy {
    /// Parses the policy's JSON (`maxReceiveCount` as a number or a string, as SQS takes both).
    ///
    /// # Errors
    /// `InvalidParameterValue`, in AWS's words, for a malformed policy.
    pub fn parse(json: &str) -> Result<RedrivePolicy, SqsError> {
        let invalid = |why: &str| {
            SqsError::invalid_parameter(format!(
                "Value {json} for parameter RedrivePolicy is invalid. Reason: {why}"
            ))
        };
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|_| invalid("Redrive policy is not a valid JSON map."))?;
        let arn = value
            .get("deadLetterTargetArn")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
            })?;
        let count = match value.get("maxReceiveCount") {
            Some(serde_json::Value::Number(number)) => number.as_u64(),
            Some(serde_json::Value::String(text)) => text.parse().ok(),
            None => {
                return Err(invalid(
                    "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
                ))
            }
            Some(_) => None,
        };
        let max_receive_count = count
            .filter(|count| (1..=1_000).contains(count))
            .ok_or_else(|| {
                invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
            })?;
        let queue = arn
            .strip_prefix("arn:")
            .and_then(|rest| rest.rsplit(':').next())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("Invalid value for deadLetterTargetArn."))?;
        Ok(RedrivePolicy {
            dead_letter_target_arn: arn.to_owned(),
            dead_letter_queue: queue.to_owned(),
            max_receive_count: u32::try_from(max_receive_count).expect("at most 1,000"),
        })
    }

    /// The policy as SQS reports it.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "deadLetterTargetArn": self.dead_letter_target_arn,
            "maxReceiveCount": self.max_receive_count,
        })
        .to_string()
    }
}

fn unknown(name: &String) -> SqsError {
    SqsError::new(
        SqsErrorKind::InvalidAttributeName,
        format!("Unknown Attribute {name}."),
    )
}

fn seconds(name: &str, value: &str, min: u32, max: u32) -> Result<u32, SqsError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or_else(|| {
            SqsError::new(
                SqsErrorKind::InvalidAttributeValue,
                format!("Invalid value for the parameter {name}."),
            )
        })
}

fn boolean(name: &str, value: &str) -> Result<bool, SqsError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SqsError::new(
            SqsErrorKind::InvalidAttributeValue,
            format!("Invalid value for the parameter {name}."),
        )),
    }
}
