//! Receiving: taking visible messages into flight under a visibility
//! deadline and a receipt handle, redrive past maxReceiveCount, FIFO
//! groups one in flight at a time, deleting and changing visibility by
//! handle, messages coming back when their visibility runs out, and
//! long polls.

use super::Answer;
use crate::arena::Id;
use crate::broker::{Broker, Held};
use crate::protocol::{ConnectionId, DeadLetterReason, Event};
use crate::queue::Entry;
use crate::sqs::message as sqs_message;
use crate::sqs::queue::{InFlight, Receipt, Waiting};
use crate::sqs::{
    Received, SqsError, SqsErrorKind, SqsReply, BATCH_ENTRIES_MAX, IN_FLIGHT_MAX_FIFO,
    IN_FLIGHT_MAX_STANDARD, VISIBILITY_TIMEOUT_SECONDS_MAX, WAIT_TIME_SECONDS_MAX,
};
use crate::time::Instant;
use crate::Mutant;

impl Broker {
    pub(super) fn check_receive(
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

    pub(super) fn sqs_receive_or_wait(
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
    pub(super) fn sqs_take(&mut self, id: Id, max: u32, visibility_timeout: u32) -> Vec<Received> {
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

    pub(super) fn sqs_delete(&mut self, id: Id, handle: &str) -> Result<(), SqsError> {
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

    pub(super) fn sqs_deleted(&mut self, id: Id, entry: &Entry) {
        self.log_removed(id, entry);
        self.emit(|| Event::Acked {
            message: entry.message.id,
            queue: Held::queue(id),
        });
        self.arm_sqs_timer(id);
    }

    /// Takes a message out of flight (its bytes stay held by the caller's account).
    pub(super) fn take_in_flight(&mut self, id: Id, seq: u64) -> InFlight {
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

    pub(super) fn sqs_change_visibility(
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
    pub(super) fn sqs_due(&mut self, id: Id) {
        self.sqs_return_due(id);
        self.serve_sqs_waiting(id);
        self.arm_head_timer(id);
    }

    /// Makes visible what is due to be: messages whose visibility ran
    /// out, at their place, and delayed messages; ends the deduplication
    /// ids whose window is over.
    pub(super) fn sqs_return_due(&mut self, id: Id) {
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

    /// Answers the long polls that can be answered: with messages while
    /// there are any to take, with nothing once their wait ran out.
    pub(super) fn serve_sqs_waiting(&mut self, id: Id) {
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
}

/// A receive's parameters, checked.
pub(super) struct Receive {
    max_messages: u32,
    visibility_timeout: u32,
    wait_seconds: u32,
}

pub(super) fn receipt_handle(seq: u64, nonce: u64) -> String {
    format!("{nonce:016x}-{seq:016x}")
}

pub(super) fn parse_receipt_handle(handle: &str) -> Result<(u64, u64), SqsError> {
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

pub(super) fn expired_handle(handle: &str) -> SqsError {
    SqsError::invalid_parameter(format!(
        "Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    ))
}
