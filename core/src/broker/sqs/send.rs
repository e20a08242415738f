//! Sending: a message's checks (size, delay, a FIFO queue's group and
//! deduplication id), its record logged with its deduplication id, and
//! delayed messages held out of sight until due.

use super::{check_batch, Answer};
use crate::arena::Id;
use crate::broker::{Broker, Held};
use crate::message::{MessageId, SharedMessage};
use crate::protocol::Event;
use crate::queue::{Entry, Expiry};
use crate::record::Change;
use crate::sqs::message as sqs_message;
use crate::sqs::queue::Deduplicated;
use crate::sqs::{
    SendEntry, Sent, SqsError, SqsErrorKind, SqsReply, DEDUPLICATION_WINDOW_MS, MESSAGE_SIZE_MAX,
};
use crate::time::Instant;
use crate::Mutant;

impl Broker {
    pub(super) fn sqs_send(
        &mut self,
        id: Id,
        entries: Vec<SendEntry>,
        batch: bool,
    ) -> Result<Answer, SqsError> {
        check_batch(entries.iter().map(|entry| entry.id.as_str()), batch)?;
        if batch {
            let total: usize = entries.iter().map(sqs_message::size).sum();
            if total > MESSAGE_SIZE_MAX as usize {
                return Err(SqsError::new(
                    SqsErrorKind::BatchRequestTooLong,
                    format!("Batch requests cannot be longer than {MESSAGE_SIZE_MAX} bytes. You have sent {total} bytes."),
                ));
            }
        }
        self.expire_deduplication(id);
        let mut lsn = None;
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            let result = self.sqs_send_one(id, &entry);
            let result = match result {
                Ok((sent, logged)) => {
                    lsn = lsn.max(logged);
                    Ok(sent)
                }
                Err(error) if !batch => return Err(error),
                Err(error) => Err(error),
            };
            results.push((entry.id, result));
        }
        self.arm_sqs_timer(id);
        let reply = SqsReply::Sent(results);
        Ok(match lsn {
            Some(lsn) => Answer::AfterSync(lsn, reply),
            None => Answer::Now(reply),
        })
    }

    /// Sends one message: what its send answers, and the lsn of its record.
    pub(super) fn sqs_send_one(
        &mut self,
        id: Id,
        entry: &SendEntry,
    ) -> Result<(Sent, Option<u64>), SqsError> {
        let now = self.now;
        let (attributes, name) = {
            let queue = &self.queues[id];
            (
                queue.sqs.as_ref().expect("an SQS queue").attributes.clone(),
                queue.name.clone(),
            )
        };
        if entry.body.is_empty() {
            return Err(SqsError::new(
                SqsErrorKind::MissingParameter,
                "The request must contain the parameter MessageBody.",
            ));
        }
        let size = sqs_message::size(entry);
        if size > attributes.maximum_message_size as usize {
            return Err(SqsError::invalid_parameter(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
                attributes.maximum_message_size
            )));
        }
        let delay = if attributes.fifo {
            if entry.delay_seconds.is_some_and(|delay| delay > 0) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                    entry.delay_seconds.unwrap_or(0)
                )));
            }
            attributes.delay_seconds
        } else {
            match entry.delay_seconds {
                Some(delay) if delay > crate::sqs::DELAY_SECONDS_MAX => {
                    return Err(SqsError::invalid_parameter(format!(
                        "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                    )))
                }
                Some(delay) => delay,
                None => attributes.delay_seconds,
            }
        };
        let deduplication_id = if attributes.fifo {
            if entry.group_id.is_none() {
                return Err(SqsError::new(
                    SqsErrorKind::MissingParameter,
                    "The request must contain the parameter MessageGroupId.",
                ));
            }
            let by_content = attributes
                .content_based_deduplication
                .then(|| sqs_message::content_deduplication_id(&entry.body));
            let Some(deduplication_id) = entry.deduplication_id.as_ref().or(by_content.as_ref())
            else {
                return Err(SqsError::invalid_parameter(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            };
            let sqs = self.queues[id].sqs.as_ref().expect("an SQS queue");
            if let Some(first) = sqs.deduplication.get(deduplication_id) {
                if !self.is_mutant(Mutant::SqsDedupWindowIgnored) {
                    let sent = Sent {
                        message_id: first.message_id.clone(),
                        sequence_number: Some(first.sequence_number.clone()),
                    };
                    return Ok((sent, first.lsn));
                }
            }
            Some(deduplication_id.clone())
        } else {
            None
        };
        let message_id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        let seq = self.queues[id].next_seq;
        let sequence_number = attributes.fifo.then(|| format!("{seq:020}"));
        let message = sqs_message::to_message(
            entry,
            message_id,
            &name,
            now.0 / 1_000_000,
            sequence_number.as_deref(),
            deduplication_id.as_deref(),
        );
        let sent = Sent {
            message_id: sqs_message::message_id(message_id),
            sequence_number: sequence_number.clone(),
        };
        let message = SharedMessage::new(message);
        let mut lsn = None;
        // The message and its deduplication id are logged in one record: a
        // crash keeps both or neither.
        self.persist_atomically(|broker| {
            lsn = if delay == 0 {
                // The queue is never full: SQS queues have no length limit.
                broker.enqueue(id, message, None).ok().flatten()
            } else {
                broker.enqueue_delayed(id, message, now.plus_ms(u64::from(delay) * 1_000))
            };
            if let Some(deduplication_id) = deduplication_id {
                let until = now.plus_ms(DEDUPLICATION_WINDOW_MS);
                let sequence_number = sequence_number.clone().unwrap_or_default();
                let queue = &broker.queues[id];
                let change = Change::SqsDeduplicated {
                    vhost: queue.vhost.clone(),
                    queue: queue.name.clone(),
                    id: deduplication_id.clone(),
                    until,
                    message_id: sent.message_id.clone(),
                    sequence_number: sequence_number.clone(),
                };
                broker.persist(change);
                let sqs = broker.sqs_state(id);
                sqs.deduplication.insert(
                    deduplication_id.clone(),
                    Deduplicated {
                        until,
                        message_id: sent.message_id.clone(),
                        sequence_number,
                        lsn,
                    },
                );
                sqs.deduplication_ends.insert((until, deduplication_id));
            }
        });
        Ok((sent, lsn))
    }

    /// Holds a message out of sight until `due`.
    pub(super) fn enqueue_delayed(
        &mut self,
        id: Id,
        message: SharedMessage,
        due: Instant,
    ) -> Option<u64> {
        let queue = &mut self.queues[id];
        let entry = Entry {
            seq: queue.next_seq,
            expires: Expiry::new(queue.args.message_ttl_ms.map(|ms| self.now.plus_ms(ms))),
            redelivered: false,
            delivery_count: 0,
            level: 0,
            logged: true,
            message,
        };
        queue.next_seq += 1;
        self.emit(|| Event::Enqueued {
            message: entry.message.id,
            queue: Held::queue(id),
        });
        let lsn = self.log_enqueued(id, &entry);
        self.held_bytes += entry.size_bytes();
        self.sqs_state(id).delayed.insert((due, entry.seq), entry);
        lsn
    }

    pub(super) fn expire_deduplication(&mut self, id: Id) {
        let now = self.now;
        let sqs = self.sqs_state(id);
        while let Some((at, _)) = sqs.deduplication_ends.first() {
            if *at > now {
                break;
            }
            let (_, deduplication_id) = sqs.deduplication_ends.pop_first().expect("not empty");
            sqs.deduplication.remove(&deduplication_id);
        }
    }
}
