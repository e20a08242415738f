//! An SQS queue's life: created with its attributes (an existing name
//! answers with the queue only if they agree), listed by name, its
//! attributes read and set, purged at most once a minute, deleted.

use crate::arena::Id;
use crate::args::QueueArgs;
use crate::broker::{Broker, Held};
use crate::message::Name;
use crate::protocol::{DropReason, Event};
use crate::queue::{Entry, Queue, Ready};
use crate::record::Change;
use crate::sqs::queue::{SqsQueue, Waiting};
use crate::sqs::{QueueAttributes, SqsError, SqsErrorKind, SqsReply, QUEUE_NAME_MAX};
use crate::time::Instant;
use std::ops::Bound;

/// How long after a purge another is refused.
const PURGE_INTERVAL_MS: u64 = 60_000;

impl Broker {
    pub(super) fn sqs_create(
        &mut self,
        name: &str,
        given: &[(String, String)],
    ) -> Result<(), SqsError> {
        check_queue_name(name)?;
        let mut attributes = QueueAttributes::defaults(name);
        attributes.set(given, true)?;
        self.check_redrive(&attributes)?;
        let vhost: Name = self.config.sqs.vhost.as_str().into();
        let Some(vhost_state) = self.vhosts.get(&vhost) else {
            return Err(SqsError::invalid_parameter(format!(
                "The SQS vhost '{vhost}' does not exist."
            )));
        };
        if let Some(&id) = vhost_state.queues.get(name) {
            // Creating an existing queue with the same attributes answers with it.
            let differs = match &self.queues[id].sqs {
                Some(sqs) => {
                    let mut wanted = sqs.attributes.clone();
                    wanted.set(given, true)?;
                    let differing = sqs
                        .attributes
                        .settable()
                        .into_iter()
                        .zip(wanted.settable())
                        .find(|(current, wanted)| current != wanted)
                        .map(|(current, _)| current.0);
                    differing
                        .or_else(|| (wanted != sqs.attributes).then(|| "Attributes".to_owned()))
                }
                None => Some("QueueType".to_owned()),
            };
            return match differs {
                None => Ok(()),
                Some(attribute) => Err(SqsError::new(
                    SqsErrorKind::QueueAlreadyExists,
                    format!("A queue already exists with the same name and a different value for attribute {attribute}"),
                )),
            };
        }
        if let Some(max) = self.config.queues_per_vhost_max {
            if vhost_state.queues.len() >= max {
                return Err(SqsError::new(
                    SqsErrorKind::OverLimit,
                    format!("cannot create queue '{name}': queue limit in vhost '{vhost}' ({max}) is reached"),
                ));
            }
        }
        let arguments = attributes.to_arguments();
        self.persist(Change::QueueDeclared {
            vhost: vhost.clone(),
            name: name.into(),
            auto_delete: false,
            arguments: arguments.clone(),
        });
        let queue = sqs_queue_state(
            name.into(),
            vhost.clone(),
            arguments,
            SqsQueue::new(attributes, self.now),
            self.now,
        );
        let id = self.queues.insert(queue);
        self.sqs_queues.insert(id);
        self.route_memo.forget();
        self.vhosts
            .get_mut(&vhost)
            .expect("checked above")
            .queues
            .insert(name.into(), id);
        Ok(())
    }

    /// A redrive policy's dead-letter queue must exist, and be FIFO for a FIFO queue.
    pub(super) fn check_redrive(&self, attributes: &QueueAttributes) -> Result<(), SqsError> {
        let Some(policy) = &attributes.redrive_policy else {
            return Ok(());
        };
        let invalid = |why: &str| {
            SqsError::invalid_parameter(format!(
                "Value {} for parameter RedrivePolicy is invalid. Reason: {why}",
                policy.to_json()
            ))
        };
        let target = self
            .sqs_queue(&policy.dead_letter_queue)
            .map_err(|_| invalid("Dead letter target does not exist."))?;
        let target_fifo = self.queues[target]
            .sqs
            .as_ref()
            .expect("an SQS queue")
            .attributes
            .fifo;
        if target_fifo != attributes.fifo {
            return Err(invalid(
                "Dead-letter queue must be same type of queue as the source.",
            ));
        }
        Ok(())
    }

    pub(super) fn sqs_list(
        &self,
        prefix: &str,
        max_results: Option<u32>,
        after: Option<&str>,
    ) -> Result<SqsReply, SqsError> {
        let max = match max_results {
            None => 1_000,
            Some(max @ 1..=1_000) => max as usize,
            Some(_) => {
                return Err(SqsError::invalid_parameter(
                    "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
                ))
            }
        };
        let Some(vhost) = self.vhosts.get(self.config.sqs.vhost.as_str()) else {
            return Ok(SqsReply::Queues {
                names: Vec::new(),
                next: None,
            });
        };
        // Pages follow names, not positions: a queue created or deleted
        // between two pages shifts nothing else.
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut listed = vhost
            .queues
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(name, &id)| name.starts_with(prefix) && self.queues[id].sqs.is_some())
            .map(|(name, _)| name.to_string());
        let names: Vec<String> = listed.by_ref().take(max).collect();
        let more = listed.next().is_some();
        let next = (max_results.is_some() && more)
            .then(|| names.last().cloned())
            .flatten();
        Ok(SqsReply::Queues { names, next })
    }

    pub(super) fn sqs_delete_queue(&mut self, id: Id) {
        self.delete_queue(id, false);
    }

    /// An SQS queue is being deleted (by DeleteQueue or queue.delete): its
    /// messages in flight and delayed go with it, its long polls answer
    /// with nothing.
    pub(in crate::broker) fn release_sqs_queue(&mut self, id: Id) {
        self.drop_sqs_holdings(id, DropReason::Purged);
        let sqs = self.sqs_state(id);
        let waiting: Vec<Waiting> = sqs.waiting.drain(..).collect();
        for waiting in waiting {
            self.sqs_reply(
                waiting.conn,
                waiting.request,
                SqsReply::Received(Vec::new()),
            );
        }
        self.disarm_sqs_timer(id);
        self.sqs_queues.remove(&id);
    }

    /// Drops the messages in flight and delayed (not their records: a
    /// purge logs them, a deletion deletes the queue's).
    pub(super) fn drop_sqs_holdings(&mut self, id: Id, reason: DropReason) -> Vec<Entry> {
        let sqs = self.sqs_state(id);
        let mut entries: Vec<Entry> = std::mem::take(&mut sqs.in_flight)
            .into_values()
            .map(|in_flight| in_flight.entry)
            .collect();
        entries.extend(std::mem::take(&mut sqs.delayed).into_values());
        sqs.visible_at.clear();
        sqs.receipts.clear();
        sqs.groups_in_flight.clear();
        for entry in &entries {
            self.held_bytes -= entry.size_bytes();
            self.event(Event::Dropped {
                message: entry.message.id,
                queue: Some(Held::queue(id)),
                reason,
            });
        }
        entries
    }

    pub(super) fn sqs_attributes(
        &mut self,
        id: Id,
        names: &[String],
    ) -> Result<Vec<(String, String)>, SqsError> {
        let queue = &self.queues[id];
        let sqs = queue.sqs.as_deref().expect("an SQS queue");
        let mut all = vec![
            (
                "QueueArn".to_owned(),
                format!("{}:{}", self.config.sqs.arn_prefix, queue.name),
            ),
            (
                "ApproximateNumberOfMessages".to_owned(),
                queue.ready.len().to_string(),
            ),
            (
                "ApproximateNumberOfMessagesNotVisible".to_owned(),
                sqs.in_flight.len().to_string(),
            ),
            (
                "ApproximateNumberOfMessagesDelayed".to_owned(),
                sqs.delayed.len().to_string(),
            ),
            ("CreatedTimestamp".to_owned(), sqs.created_s.to_string()),
            (
                "LastModifiedTimestamp".to_owned(),
                sqs.modified_s.to_string(),
            ),
        ];
        all.extend(sqs.attributes.settable());
        if names.iter().any(|name| name == "All") {
            return Ok(all);
        }
        let mut chosen = Vec::new();
        for name in names {
            match all.iter().find(|(known, _)| known == name) {
                Some(attribute) => chosen.push(attribute.clone()),
                None if is_known_attribute(name) => {}
                None => {
                    return Err(SqsError::new(
                        SqsErrorKind::InvalidAttributeName,
                        format!("Unknown Attribute {name}."),
                    ))
                }
            }
        }
        Ok(chosen)
    }

    pub(super) fn sqs_set_attributes(
        &mut self,
        id: Id,
        given: &[(String, String)],
    ) -> Result<(), SqsError> {
        let mut attributes = self.queues[id]
            .sqs
            .as_ref()
            .expect("an SQS queue")
            .attributes
            .clone();
        attributes.set(given, false)?;
        self.check_redrive(&attributes)?;
        let arguments = attributes.to_arguments();
        let now_s = self.now.as_secs();
        let queue = &mut self.queues[id];
        queue.args = sqs_queue_args(&attributes);
        queue.arguments = arguments.clone();
        let sqs = queue.sqs.as_deref_mut().expect("an SQS queue");
        sqs.attributes = attributes;
        sqs.modified_s = now_s;
        let (vhost, name) = (queue.vhost.clone(), queue.name.clone());
        self.persist(Change::QueueArguments {
            vhost,
            name,
            arguments,
        });
        Ok(())
    }

    pub(super) fn sqs_purge(&mut self, id: Id) -> Result<(), SqsError> {
        let now = self.now;
        let sqs = self.sqs_state(id);
        if sqs
            .purged_at
            .is_some_and(|at| now < at.plus_ms(PURGE_INTERVAL_MS))
        {
            let name = self.queues[id].name.clone();
            return Err(SqsError::new(
                SqsErrorKind::PurgeQueueInProgress,
                format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
            ));
        }
        sqs.purged_at = Some(now);
        let mut entries = self.drop_sqs_holdings(id, DropReason::Purged);
        let ready = self.queues[id].ready.drain();
        for entry in &ready {
            self.held_bytes -= entry.size_bytes();
            self.event(Event::Dropped {
                message: entry.message.id,
                queue: Some(Held::queue(id)),
                reason: DropReason::Purged,
            });
        }
        entries.extend(ready);
        entries.sort_by_key(|entry| entry.seq);
        for entry in &entries {
            self.log_removed(id, entry);
        }
        self.arm_sqs_timer(id);
        Ok(())
    }
}

/// The queue record of a new or recovered SQS queue.
pub(in crate::broker) fn sqs_queue_state(
    name: Name,
    vhost: Name,
    arguments: crate::field::FieldTable,
    sqs: SqsQueue,
    now: Instant,
) -> Queue {
    Queue {
        name,
        vhost,
        durable: true,
        owner: None,
        auto_delete: false,
        args: sqs_queue_args(&sqs.attributes),
        arguments,
        ready: Ready::new(1),
        next_seq: 0,
        consumers: Vec::new(),
        cursor: 0,
        had_consumer: false,
        last_used: now,
        head_timer: None,
        expires_timer: None,
        last_delivery: None,
        stream: None,
        sqs: Some(Box::new(sqs)),
    }
}

/// The queue arguments an SQS queue's attributes stand for: its retention
/// period is its message TTL.
pub(in crate::broker) fn sqs_queue_args(attributes: &QueueAttributes) -> QueueArgs {
    let mut args = QueueArgs::default();
    args.message_ttl_ms = Some(u64::from(attributes.message_retention_period) * 1_000);
    args
}

pub(super) fn check_queue_name(name: &str) -> Result<(), SqsError> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = (1..=QUEUE_NAME_MAX).contains(&name.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(SqsError::invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

/// Attribute names GetQueueAttributes accepts that a queue may not report
/// (FIFO-only ones on a standard queue, the redrive policy when unset).
pub(super) fn is_known_attribute(name: &str) -> bool {
    matches!(
        name,
        "RedrivePolicy"
            | "FifoQueue"
            | "ContentBasedDeduplication"
            | "Policy"
            | "KmsMasterKeyId"
            | "KmsDataKeyReusePeriodSeconds"
            | "SqsManagedSseEnabled"
            | "RedriveAllowPolicy"
            | "DeduplicationScope"
            | "FifoThroughputLimit"
    )
}
