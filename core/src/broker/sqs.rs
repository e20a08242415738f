//! The broker's side of the SQS queues (see [`crate::sqs`]): the actions on
//! queues of kind `sqs`, their visibility deadlines, delays, long polls
//! and deduplication window, and the answers, a send's held until its
//! records are synced.

use super::{Broker, Held, Timer};
use crate::arena::Id;
use crate::args::QueueArgs;
use crate::message::{MessageId, Name, SharedMessage};
use crate::protocol::{ConnectionId, DeadLetterReason, DropReason, Event, Output};
use crate::queue::{Entry, Expiry, Queue, Ready};
use crate::record::Change;
use crate::sqs::message as sqs_message;
use crate::sqs::queue::{Deduplicated, InFlight, Receipt, SqsQueue, Waiting};
use crate::sqs::{
    QueueAttributes, Received, SendEntry, Sent, SqsCommand, SqsError, SqsErrorKind, SqsReply,
    BATCH_ENTRIES_MAX, DEDUPLICATION_WINDOW_MS, IN_FLIGHT_MAX_FIFO, IN_FLIGHT_MAX_STANDARD,
    MESSAGE_SIZE_MAX, QUEUE_NAME_MAX, VISIBILITY_TIMEOUT_SECONDS_MAX, WAIT_TIME_SECONDS_MAX,
};
use crate::time::Instant;
use crate::Mutant;
use std::ops::Bound;

/// How long after a purge another is refused.
const PURGE_INTERVAL_MS: u64 = 60_000;

impl Broker {
    /// `Input::Sqs`: runs an action and answers it (a long poll later).
    pub(super) fn sqs_command(&mut self, conn: ConnectionId, request: u64, command: SqsCommand) {
        // A delete or a change of visibility may free a message, or a FIFO
        // group, for a long poll: it is served after the action's answer,
        // which is what freed it.
        let frees = match &command {
            SqsCommand::Delete { queue, .. } | SqsCommand::ChangeVisibility { queue, .. } => {
                Some(queue.clone())
            }
            _ => None,
        };
        let answer = self.sqs_action(conn, request, command);
        match answer {
            Answer::Now(reply) => self.sqs_reply(conn, request, reply),
            Answer::AfterSync(lsn, reply) => self.sqs_reply_after(lsn, conn, request, reply),
            Answer::Waiting => {}
        }
        if let Some(id) = frees.and_then(|queue| self.sqs_queue(&queue).ok()) {
            self.serve_sqs_waiting(id);
            self.arm_head_timer(id);
            self.arm_sqs_timer(id);
        }
    }

    fn sqs_action(&mut self, conn: ConnectionId, request: u64, command: SqsCommand) -> Answer {
        let result = match command {
            SqsCommand::CreateQueue { queue, attributes } => self
                .sqs_create(&queue, &attributes)
                .map(|()| Answer::Now(SqsReply::Queue(queue))),
            SqsCommand::GetQueueUrl { queue } => self
                .sqs_queue(&queue)
                .map(|_| Answer::Now(SqsReply::Queue(queue))),
            SqsCommand::ListQueues {
                prefix,
                max_results,
                after,
            } => self
                .sqs_list(&prefix, max_results, after.as_deref())
                .map(Answer::Now),
            SqsCommand::DeleteQueue { queue } => self.sqs_queue(&queue).map(|id| {
                self.sqs_delete_queue(id);
                Answer::Now(SqsReply::Done)
            }),
            SqsCommand::GetQueueAttributes { queue, names } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_attributes(id, &names))
                .map(|attributes| Answer::Now(SqsReply::Attributes(attributes))),
            SqsCommand::SetQueueAttributes { queue, attributes } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_set_attributes(id, &attributes))
                .map(|()| Answer::Now(SqsReply::Done)),
            SqsCommand::PurgeQueue { queue } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_purge(id))
                .map(|()| Answer::Now(SqsReply::Done)),
            SqsCommand::Send {
                queue,
                entries,
                batch,
            } => self
                .sqs_queue(&queue)
                .and_then(|id| self.sqs_send(id, entries, batch)),
            SqsCommand::Receive {
                queue,
                max_messages,
                visibility_timeout,
                wait_time_seconds,
            } => self.sqs_queue(&queue).and_then(|id| {
                let receive =
                    self.check_receive(id, max_messages, visibility_timeout, wait_time_seconds)?;
                Ok(self.sqs_receive_or_wait(id, conn, request, receive))
            }),
            SqsCommand::Delete {
                queue,
                entries,
                batch,
            } => self.sqs_queue(&queue).and_then(|id| {
                check_batch(entries.iter().map(|(id, _)| id.as_str()), batch)?;
                let results = entries
                    .into_iter()
                    .map(|(entry, handle)| (entry, self.sqs_delete(id, &handle)))
                    .collect();
                Ok(Answer::Now(SqsReply::Settled(results)))
            }),
            SqsCommand::ChangeVisibility {
                queue,
                entries,
                batch,
            } => self.sqs_queue(&queue).and_then(|id| {
                check_batch(entries.iter().map(|(id, _, _)| id.as_str()), batch)?;
                let results = entries
                    .into_iter()
                    .map(|(entry, handle, timeout)| {
                        (entry, self.sqs_change_visibility(id, &handle, timeout))
                    })
                    .collect();
                Ok(Answer::Now(SqsReply::Settled(results)))
            }),
        };
        result.unwrap_or_else(|error| Answer::Now(SqsReply::Error(error)))
    }

    fn sqs_reply(&mut self, conn: ConnectionId, request: u64, reply: SqsReply) {
        self.outputs.push_back(Output::Sqs {
            conn,
            request,
            reply: Box::new(reply),
        });
    }

    /// Answers once record `lsn` is synced (at once if it is).
    fn sqs_reply_after(&mut self, lsn: u64, conn: ConnectionId, request: u64, reply: SqsReply) {
        if lsn <= self.synced_lsn || self.is_mutant(Mutant::ConfirmBeforeSync) {
            self.sqs_reply(conn, request, reply);
        } else {
            self.sqs_pending
                .entry(lsn)
                .or_default()
                .push((conn, request, reply));
        }
    }

    /// Sends the answers waiting for records up to `upto`.
    pub(super) fn release_sqs_replies(&mut self, upto: u64) {
        while let Some(entry) = self.sqs_pending.first_entry() {
            if *entry.key() > upto {
                break;
            }
            for (conn, request, reply) in entry.remove() {
                self.sqs_reply(conn, request, reply);
            }
        }
    }

    /// The SQS queue named `name`.
    fn sqs_queue(&self, name: &str) -> Result<Id, SqsError> {
        let vhost = self
            .vhosts
            .get(self.config.sqs.vhost.as_str())
            .ok_or_else(SqsError::no_queue)?;
        let &id = vhost.queues.get(name).ok_or_else(SqsError::no_queue)?;
        if self.queues[id].sqs.is_none() {
            return Err(SqsError::no_queue());
        }
        Ok(id)
    }

    fn sqs_state(&mut self, id: Id) -> &mut SqsQueue {
        self.queues[id].sqs.as_deref_mut().expect("an SQS queue")
    }

    fn sqs_create(&mut self, name: &str, given: &[(String, String)]) -> Result<(), SqsError> {
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
    fn check_redrive(&self, attributes: &QueueAttributes) -> Result<(), SqsError> {
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

    fn sqs_list(
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

    fn sqs_delete_queue(&mut self, id: Id) {
        self.delete_queue(id, false);
    }

    /// An SQS queue is being deleted (by DeleteQueue or queue.delete): its
    /// messages in flight and delayed go with it, its long polls answer
    /// with nothing.
    pub(super) fn release_sqs_queue(&mut self, id: Id) {
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
    fn drop_sqs_holdings(&mut self, id: Id, reason: DropReason) -> Vec<Entry> {
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

    fn sqs_attributes(
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

    fn sqs_set_attributes(&mut self, id: Id, given: &[(String, String)]) -> Result<(), SqsError> {
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

    fn sqs_purge(&mut self, id: Id) -> Result<(), SqsError> {
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

    fn sqs_send(
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
    fn sqs_send_one(&mut self, id: Id, entry: &SendEntry) -> Result<(Sent, Option<u64>), SqsError> {
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
    fn enqueue_delayed(&mut self, id: Id, message: SharedMessage, due: Instant) -> Option<u64> {
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

    fn check_receive(
        &self,
        id: Id,
        max_messages: u32,
        visibility_timeout: Option<u32>,
        wait_time_seconds: Option<u32>,
    ) -> Result<Receive, SqsError> {
        if !(1..=BATCH_ENTRIES_MAX as u32).contains(&max_messages) {
            return Err(SqsError::invalid_parameter(format!(
                "Value {max_messages} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )));
        }
        if let Some(timeout) = visibility_timeout.filter(|&t| t > VISIBILITY_TIMEOUT_SECONDS_MAX) {
            return Err(SqsError::invalid_parameter(format!(
                "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
            )));
        }
        if let Some(wait) = wait_time_seconds.filter(|&w| w > WAIT_TIME_SECONDS_MAX) {
            return Err(SqsError::invalid_parameter(format!(
                "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )));
        }
        let attributes = &self.queues[id]
            .sqs
            .as_ref()
            .expect("an SQS queue")
            .attributes;
        Ok(Receive {
            max_messages,
            visibility_timeout: visibility_timeout.unwrap_or(attributes.visibility_timeout),
            wait_seconds: wait_time_seconds.unwrap_or(attributes.receive_wait_time_seconds),
        })
    }

    fn sqs_receive_or_wait(
        &mut self,
        id: Id,
        conn: ConnectionId,
        request: u64,
        receive: Receive,
    ) -> Answer {
        self.sqs_due(id);
        // A receive waits behind those already waiting on the queue.
        let received = if self.queues[id]
            .sqs
            .as_ref()
            .expect("an SQS queue")
            .waiting
            .is_empty()
        {
            self.sqs_take(id, receive.max_messages, receive.visibility_timeout)
        } else {
            Vec::new()
        };
        let waiting_total: usize = self
            .sqs_queues
            .iter()
            .map(|&queue| {
                self.queues[queue]
                    .sqs
                    .as_ref()
                    .expect("an SQS queue")
                    .waiting
                    .len()
            })
            .sum();
        if !received.is_empty()
            || receive.wait_seconds == 0
            || waiting_total >= self.config.sqs.waiting_receives_max
        {
            return Answer::Now(SqsReply::Received(received));
        }
        let deadline = self.now.plus_ms(u64::from(receive.wait_seconds) * 1_000);
        self.sqs_state(id).waiting.push_back(Waiting {
            conn,
            request,
            max_messages: receive.max_messages,
            visibility_timeout: receive.visibility_timeout,
            deadline,
        });
        self.arm_sqs_timer(id);
        Answer::Waiting
    }

    /// Takes up to `max` visible messages into flight: the oldest first,
    /// and in a FIFO queue none of a group with a message in flight. A
    /// message received as often as the redrive policy allows goes to
    /// the dead-letter queue instead.
    fn sqs_take(&mut self, id: Id, max: u32, visibility_timeout: u32) -> Vec<Received> {
        self.expire_heads(id);
        let mut received = Vec::new();
        let sqs = self.queues[id].sqs.as_deref().expect("an SQS queue");
        let fifo = sqs.attributes.fifo;
        let limit = if fifo {
            IN_FLIGHT_MAX_FIFO
        } else {
            IN_FLIGHT_MAX_STANDARD
        };
        let max_receives = sqs
            .attributes
            .redrive_policy
            .as_ref()
            .map(|policy| policy.max_receive_count);
        let blocked: Vec<String> = if fifo && !self.is_mutant(Mutant::SqsFifoTwoInFlightPerGroup) {
            sqs.groups_in_flight.keys().cloned().collect()
        } else {
            Vec::new()
        };
        while received.len() < max as usize {
            if self.queues[id]
                .sqs
                .as_ref()
                .expect("an SQS queue")
                .in_flight
                .len()
                >= limit
            {
                break;
            }
            let ready = &mut self.queues[id].ready;
            let entry = if fifo {
                ready.take_first(|entry| {
                    sqs_message::group_id(&entry.message)
                        .is_none_or(|group| !blocked.iter().any(|blocked| blocked == group))
                })
            } else {
                ready.pop()
            };
            let Some(mut entry) = entry else {
                break;
            };
            if max_receives.is_some_and(|max| entry.delivery_count >= max) {
                // Moved to the dead-letter queue by the core's dead-lettering.
                self.held_bytes -= entry.size_bytes();
                self.sqs_state(id).receipts.remove(&entry.seq);
                self.remove_and_dead_letter(id, &entry, DeadLetterReason::DeliveryLimit);
                continue;
            }
            entry.delivery_count += 1;
            entry.redelivered = true;
            self.sqs_receipt_nonce += 1;
            let nonce = self.sqs_receipt_nonce;
            let now_ms = self.now.0 / 1_000_000;
            let visible_at = if self.is_mutant(Mutant::SqsVisibilityNeverExpires) {
                Instant(u64::MAX)
            } else {
                self.now.plus_ms(u64::from(visibility_timeout) * 1_000)
            };
            let sqs = self.queues[id].sqs.as_deref_mut().expect("an SQS queue");
            let first_receive_ms = sqs
                .receipts
                .remove(&entry.seq)
                .map_or(now_ms, |receipt| receipt.first_receive_ms);
            let receipt = Receipt {
                nonce,
                first_receive_ms,
            };
            let fields = sqs_message::fields(&entry.message);
            if let Some(group) = &fields.group_id {
                if fifo {
                    *sqs.groups_in_flight.entry(group.clone()).or_default() += 1;
                }
            }
            received.push(Received {
                message_id: fields.message_id,
                receipt_handle: receipt_handle(entry.seq, nonce),
                body: entry.message.body.to_bytes(),
                attributes: fields.attributes,
                receive_count: entry.delivery_count,
                sent_timestamp_ms: fields.sent_ms,
                first_receive_timestamp_ms: first_receive_ms,
                group_id: fields.group_id,
                deduplication_id: fields.deduplication_id,
                sequence_number: fields.sequence_number,
            });
            sqs.visible_at.insert((visible_at, entry.seq));
            sqs.in_flight.insert(
                entry.seq,
                InFlight {
                    entry,
                    receipt,
                    visible_at,
                },
            );
        }
        self.arm_head_timer(id);
        self.arm_sqs_timer(id);
        received
    }

    fn sqs_delete(&mut self, id: Id, handle: &str) -> Result<(), SqsError> {
        let (seq, nonce) = parse_receipt_handle(handle)?;
        let sqs = self.queues[id].sqs.as_deref().expect("an SQS queue");
        let current_in_flight = sqs
            .in_flight
            .get(&seq)
            .is_some_and(|in_flight| in_flight.receipt.nonce == nonce);
        let current_visible = sqs
            .receipts
            .get(&seq)
            .is_some_and(|receipt| receipt.nonce == nonce);
        let stale_deletes = self.is_mutant(Mutant::SqsDeleteWithStaleHandleSucceeds);
        if current_in_flight || (stale_deletes && sqs.in_flight.contains_key(&seq)) {
            let in_flight = self.take_in_flight(id, seq);
            self.sqs_deleted(id, &in_flight.entry);
        } else if current_visible || (stale_deletes && sqs.receipts.contains_key(&seq)) {
            self.sqs_state(id).receipts.remove(&seq);
            let entry = self.queues[id]
                .ready
                .remove(seq)
                .expect("a visible message with a receipt is ready");
            self.held_bytes -= entry.size_bytes();
            self.sqs_deleted(id, &entry);
        } else if sqs.attributes.fifo
            && (sqs.in_flight.contains_key(&seq) || sqs.receipts.contains_key(&seq))
        {
            return Err(expired_handle(handle));
        }
        // A standard queue answers a delete with an older handle, or of a
        // message already gone, with success, and deletes nothing.
        Ok(())
    }

    fn sqs_deleted(&mut self, id: Id, entry: &Entry) {
        self.log_removed(id, entry);
        self.emit(|| Event::Acked {
            message: entry.message.id,
            queue: Held::queue(id),
        });
        self.arm_sqs_timer(id);
    }

    /// Takes a message out of flight (its bytes stay held by the caller's account).
    fn take_in_flight(&mut self, id: Id, seq: u64) -> InFlight {
        let sqs = self.sqs_state(id);
        let in_flight = sqs.in_flight.remove(&seq).expect("in flight");
        sqs.visible_at.remove(&(in_flight.visible_at, seq));
        if let Some(group) = sqs_message::group_id(&in_flight.entry.message) {
            if let Some(count) = sqs.groups_in_flight.get_mut(group) {
                *count -= 1;
                if *count == 0 {
                    sqs.groups_in_flight.remove(group);
                }
            }
        }
        self.held_bytes -= in_flight.entry.size_bytes();
        in_flight
    }

    fn sqs_change_visibility(
        &mut self,
        id: Id,
        handle: &str,
        timeout: u32,
    ) -> Result<(), SqsError> {
        let (seq, nonce) = parse_receipt_handle(handle)?;
        if timeout > VISIBILITY_TIMEOUT_SECONDS_MAX {
            return Err(SqsError::invalid_parameter(format!(
                "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200."
            )));
        }
        let now = self.now;
        let sqs = self.sqs_state(id);
        match sqs.in_flight.get_mut(&seq) {
            Some(in_flight) if in_flight.receipt.nonce == nonce => {
                let visible_at = now.plus_ms(u64::from(timeout) * 1_000);
                sqs.visible_at.remove(&(in_flight.visible_at, seq));
                in_flight.visible_at = visible_at;
                sqs.visible_at.insert((visible_at, seq));
                if timeout == 0 {
                    self.sqs_return_due(id);
                }
                self.arm_sqs_timer(id);
                Ok(())
            }
            Some(_) => Err(expired_handle(handle)),
            None => Err(SqsError::new(
                SqsErrorKind::MessageNotInflight,
                "Message does not exist or is not available for visibility timeout change.",
            )),
        }
    }

    /// Acts on what is due in the queue at `now`: messages in flight whose
    /// visibility ran out become visible at their place, delayed messages
    /// become visible, deduplication ids leave the window, long polls
    /// are served or run out.
    fn sqs_due(&mut self, id: Id) {
        self.sqs_return_due(id);
        self.serve_sqs_waiting(id);
        self.arm_head_timer(id);
    }

    /// Makes visible what is due to be: messages whose visibility ran
    /// out, at their place, and delayed messages; ends the deduplication
    /// ids whose window is over.
    fn sqs_return_due(&mut self, id: Id) {
        let now = self.now;
        loop {
            let sqs = self.sqs_state(id);
            let Some(&(at, seq)) = sqs.visible_at.first() else {
                break;
            };
            if at > now {
                break;
            }
            let in_flight = self.take_in_flight(id, seq);
            self.sqs_state(id).receipts.insert(seq, in_flight.receipt);
            let entry = in_flight.entry;
            self.log_returned(id, &entry);
            self.emit(|| Event::Requeued {
                message: entry.message.id,
                queue: Held::queue(id),
            });
            self.held_bytes += entry.size_bytes();
            self.queues[id].ready.requeue(entry);
        }
        loop {
            let sqs = self.sqs_state(id);
            let Some(entry) = sqs.delayed.first_entry() else {
                break;
            };
            if entry.key().0 > now {
                break;
            }
            let entry = entry.remove();
            self.queues[id].ready.requeue(entry);
        }
        self.expire_deduplication(id);
    }

    fn expire_deduplication(&mut self, id: Id) {
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

    /// Answers the long polls that can be answered: with messages while
    /// there are any to take, with nothing once their wait ran out.
    fn serve_sqs_waiting(&mut self, id: Id) {
        let now = self.now;
        loop {
            let sqs = self.sqs_state(id);
            let Some(waiting) = sqs.waiting.front().cloned() else {
                break;
            };
            let received = if self.queues[id].ready.is_empty() {
                Vec::new()
            } else {
                self.sqs_take(id, waiting.max_messages, waiting.visibility_timeout)
            };
            if received.is_empty() && waiting.deadline > now {
                break;
            }
            self.sqs_state(id).waiting.pop_front();
            self.sqs_reply(waiting.conn, waiting.request, SqsReply::Received(received));
        }
        // Waits behind one still waiting may have run out too.
        let sqs = self.sqs_state(id);
        let (expired, kept): (Vec<Waiting>, Vec<Waiting>) = sqs
            .waiting
            .drain(..)
            .partition(|waiting| waiting.deadline <= now);
        sqs.waiting.extend(kept);
        for waiting in expired {
            self.sqs_reply(
                waiting.conn,
                waiting.request,
                SqsReply::Received(Vec::new()),
            );
        }
    }

    /// A message became visible in the queue (a send, a dead letter, an
    /// AMQP publish): the long polls take it.
    pub(super) fn run_sqs_queue(&mut self, id: Id) {
        self.expire_heads(id);
        self.serve_sqs_waiting(id);
        self.arm_head_timer(id);
        self.arm_sqs_timer(id);
    }

    /// The queue's timer fired: act on what is due, then re-arm.
    pub(super) fn fire_sqs(&mut self, id: Id, at: Instant) {
        let Some(sqs) = self
            .queues
            .get_mut(id)
            .and_then(|queue| queue.sqs.as_deref_mut())
        else {
            return;
        };
        if sqs.timer == Some(at) {
            sqs.timer = None;
        }
        self.sqs_due(id);
        self.arm_sqs_timer(id);
    }

    /// Makes sure the queue's timer is armed for its next deadline.
    fn arm_sqs_timer(&mut self, id: Id) {
        let now = self.now;
        let sqs = self.sqs_state(id);
        let Some(next) = sqs.next_deadline() else {
            return;
        };
        // What is due now was acted on; the mutant's in-flight messages
        // never come back, and re-arming for them would spin.
        let next = next.max(Instant(now.0 + 1));
        if sqs.timer.is_none_or(|armed| next < armed) {
            sqs.timer = Some(next);
            self.timers.insert((next, Timer::Sqs(id)));
        }
    }

    fn disarm_sqs_timer(&mut self, id: Id) {
        if let Some(at) = self.sqs_state(id).timer.take() {
            self.timers.remove(&(at, Timer::Sqs(id)));
        }
    }

    /// The messages an SQS queue holds, visible, in flight and delayed, in
    /// the order they were sent; `None` when there is no such SQS queue.
    #[must_use]
    pub fn sqs_messages(&self, queue: &str) -> Option<Vec<SharedMessage>> {
        let id = self.sqs_queue(queue).ok()?;
        let state = &self.queues[id];
        let sqs = state.sqs.as_deref().expect("an SQS queue");
        let mut entries: Vec<&Entry> = state.ready.iter().collect();
        entries.extend(sqs.in_flight.values().map(|in_flight| &in_flight.entry));
        entries.extend(sqs.delayed.values());
        entries.sort_by_key(|entry| entry.seq);
        Some(
            entries
                .into_iter()
                .map(|entry| entry.message.clone())
                .collect(),
        )
    }

    /// 406 for what AMQP cannot do to an SQS queue: consume from it
    /// (its messages are received through the SQS API, with a visibility timeout).
    pub(super) fn refuse_on_sqs(&self, queue: Id, what: &str) -> Result<(), super::Fault> {
        let state = &self.queues[queue];
        if state.sqs.is_none() {
            return Ok(());
        }
        Err(super::Fault::new(
            crate::protocol::ReplyCode::PreconditionFailed,
            format!(
                "{what} not supported by SQS queue '{}' in vhost '{}': receive through the SQS API",
                state.name, state.vhost
            ),
        ))
    }

    /// A connection went away: its long polls are dropped unanswered.
    pub(super) fn disconnect_sqs(&mut self, conn: ConnectionId) {
        for &id in &self.sqs_queues {
            let sqs = self.queues[id].sqs.as_deref_mut().expect("an SQS queue");
            sqs.waiting.retain(|waiting| waiting.conn != conn);
        }
    }
}

/// What an action's answer waits for.
enum Answer {
    Now(SqsReply),
    AfterSync(u64, SqsReply),
    Waiting,
}

/// A receive's parameters, checked.
struct Receive {
    max_messages: u32,
    visibility_timeout: u32,
    wait_seconds: u32,
}

/// The queue record of a new or recovered SQS queue.
pub(super) fn sqs_queue_state(
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
pub(super) fn sqs_queue_args(attributes: &QueueAttributes) -> QueueArgs {
    let mut args = QueueArgs::default();
    args.message_ttl_ms = Some(u64::from(attributes.message_retention_period) * 1_000);
    args
}

fn receipt_handle(seq: u64, nonce: u64) -> String {
    format!("{nonce:016x}-{seq:016x}")
}

fn parse_receipt_handle(handle: &str) -> Result<(u64, u64), SqsError> {
    let parsed = handle.split_once('-').and_then(|(nonce, seq)| {
        let nonce = u64::from_str_radix(nonce, 16).ok()?;
        let seq = u64::from_str_radix(seq, 16).ok()?;
        Some((seq, nonce))
    });
    parsed.ok_or_else(|| {
        SqsError::new(
            SqsErrorKind::ReceiptHandleIsInvalid,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    })
}

fn expired_handle(handle: &str) -> SqsError {
    SqsError::invalid_parameter(format!(
        "Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    ))
}

/// A batch's entry count and ids (a single action's one entry passes).
fn check_batch<'a>(
    ids: impl ExactSizeIterator<Item = &'a str>,
    batch: bool,
) -> Result<(), SqsError> {
    if !batch {
        return Ok(());
    }
    let count = ids.len();
    if count == 0 {
        return Err(SqsError::new(
            SqsErrorKind::EmptyBatchRequest,
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        ));
    }
    if count > BATCH_ENTRIES_MAX {
        return Err(SqsError::new(
            SqsErrorKind::TooManyEntriesInBatchRequest,
            format!("Maximum number of entries per request are 10. You have sent {count}."),
        ));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(count);
    for id in ids {
        let valid = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SqsError::new(
                SqsErrorKind::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if seen.contains(&id) {
            return Err(SqsError::new(
                SqsErrorKind::BatchEntryIdsNotDistinct,
                format!("Id {id} repeated."),
            ));
        }
        seen.push(id);
    }
    Ok(())
}

fn check_queue_name(name: &str) -> Result<(), SqsError> {
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
fn is_known_attribute(name: &str) -> bool {
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
