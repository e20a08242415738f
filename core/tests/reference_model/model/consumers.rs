//! The consumer side (SEMANTICS.md section 4): basic.get, consume and
//! cancel, qos, ack, nack and reject with multiple and requeue, recover.

use super::{Consumer, Fault, Model, Reason};
use crate::reference_model::observe::SeenReply;
use brokerlab_core::{Reply, ReplyCode};

/// How a delivery is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    Ack,
    Requeue,
    /// Reject or nack without requeue: dead-letter or drop.
    Discard,
}

impl Settle {
    pub fn requeue(requeue: bool) -> Settle {
        if requeue {
            Settle::Requeue
        } else {
            Settle::Discard
        }
    }
}

impl Model {
    pub(super) fn get(
        &mut self,
        conn: u64,
        number: u16,
        queue: &str,
        no_ack: bool,
    ) -> Result<(), Fault> {
        let uid = self.lookup(conn, number, queue)?;
        self.expire_heads(uid);
        if self.queue(uid).unwrap().ready.is_empty() {
            self.reply_other(conn, number, Reply::GetEmpty);
            return Ok(());
        }
        let entry = self.queue_mut(uid).ready.remove(0);
        // RabbitMQ drops the expired messages the fetch uncovered before it
        // counts what is left.
        self.expire_heads(uid);
        let message_count = self.queue(uid).unwrap().ready.len() as u32;
        let (delivery_tag, redelivered, message) =
            self.hand_out(conn, number, None, uid, entry, no_ack);
        let reply = SeenReply::GetOk {
            delivery_tag,
            redelivered,
            message_count,
            message,
        };
        self.reply(conn, number, reply);
        Ok(())
    }

    pub(super) fn consume(
        &mut self,
        conn: u64,
        number: u16,
        queue: &str,
        tag: &str,
        no_ack: bool,
        exclusive: bool,
    ) -> Result<(), Fault> {
        // RabbitMQ refuses a reused tag before it looks at the queue.
        if self.channel_consumer(conn, number, tag).is_some() {
            return Err(ReplyCode::NotAllowed);
        }
        let uid = self.lookup(conn, number, queue)?;
        let tag = if tag.is_empty() {
            self.generate_name("amq.ctag-")
        } else {
            tag.to_owned()
        };
        if self.channel_consumer(conn, number, &tag).is_some() {
            return Err(ReplyCode::NotAllowed);
        }
        let others = &self.queue(uid).unwrap().consumers;
        let exclusive_held = others.iter().any(|&other| self.consumer(other).exclusive);
        if exclusive_held || (exclusive && !others.is_empty()) {
            return Err(ReplyCode::AccessRefused);
        }
        let consumer = self.uid();
        let prefetch = self.chan(conn, number).unwrap().consumer_prefetch;
        self.consumers.push(Consumer {
            uid: consumer,
            tag: tag.clone(),
            conn,
            channel: number,
            queue: uid,
            no_ack,
            exclusive,
            prefetch,
            unacked: 0,
        });
        self.queue_mut(uid).consumers.push(consumer);
        let reply = Reply::ConsumeOk {
            consumer_tag: tag.as_str().into(),
        };
        self.reply_other(conn, number, reply);
        self.run_queue(uid);
        Ok(())
    }

    /// The consumer with this tag on the channel.
    pub fn channel_consumer(&self, conn: u64, number: u16, tag: &str) -> Option<u64> {
        self.consumers
            .iter()
            .find(|c| c.conn == conn && c.channel == number && c.tag == tag)
            .map(|c| c.uid)
    }

    /// basic.cancel: an unknown tag is answered with cancel-ok too; the
    /// consumer's unacknowledged deliveries stay with the channel.
    pub(super) fn cancel(&mut self, conn: u64, number: u16, tag: &str) {
        let touched = self
            .channel_consumer(conn, number, tag)
            .and_then(|uid| self.remove_consumer(uid));
        let reply = Reply::CancelOk {
            consumer_tag: tag.into(),
        };
        self.reply_other(conn, number, reply);
        self.run_queues(touched.into_iter().collect());
    }

    /// Unregisters a consumer; an auto-delete queue that loses its last
    /// consumer is deleted. Returns the queue if it still exists.
    ///
    /// The round-robin cursor keeps pointing at the same next consumer: a
    /// choice, not a rule.
    pub(super) fn remove_consumer(&mut self, uid: u64) -> Option<u64> {
        let position = self.consumers.iter().position(|c| c.uid == uid).unwrap();
        let removed = self.consumers.remove(position);
        let queue = self.queue_mut(removed.queue);
        let index = queue.consumers.iter().position(|&c| c == uid).unwrap();
        queue.consumers.remove(index);
        if index < queue.cursor {
            queue.cursor -= 1;
        }
        if queue.cursor >= queue.consumers.len() {
            queue.cursor = 0;
        }
        if queue.consumers.is_empty() && queue.auto_delete {
            self.delete_queue(removed.queue, false);
            return None;
        }
        Some(removed.queue)
    }

    /// The queues the channel's consumers consume from.
    fn queues_consumed_by(&self, conn: u64, number: u16) -> Vec<u64> {
        self.consumers
            .iter()
            .filter(|c| c.conn == conn && c.channel == number)
            .map(|c| c.queue)
            .collect()
    }

    pub(super) fn qos(
        &mut self,
        conn: u64,
        number: u16,
        size: u32,
        count: u16,
        global: bool,
    ) -> Result<(), Fault> {
        if size != 0 {
            return Err(ReplyCode::NotImplemented);
        }
        let chan = self.chan_mut(conn, number);
        if global {
            chan.channel_prefetch = count;
        } else {
            chan.consumer_prefetch = count;
        }
        self.reply_other(conn, number, Reply::QosOk);
        let touched = self.queues_consumed_by(conn, number);
        self.run_queues(touched);
        Ok(())
    }

    /// basic.ack, basic.nack and basic.reject.
    pub(super) fn settle(
        &mut self,
        conn: u64,
        number: u16,
        tag: u64,
        multiple: bool,
        settle: Settle,
    ) -> Result<(), Fault> {
        let chan = self.chan(conn, number).unwrap();
        let outstanding: Vec<u64> = chan.unacked.iter().map(|u| u.tag).collect();
        let tags: Vec<u64> = if multiple && tag == 0 {
            outstanding
        } else if !outstanding.contains(&tag) {
            return Err(ReplyCode::PreconditionFailed);
        } else if multiple {
            outstanding.into_iter().filter(|&t| t <= tag).collect()
        } else {
            vec![tag]
        };
        let mut touched = self.queues_consumed_by(conn, number);
        for tag in tags {
            touched.extend(self.settle_one(conn, number, tag, settle));
        }
        self.run_queues(touched);
        Ok(())
    }

    /// Settles one delivery; returns the queue it went back to, if any.
    fn settle_one(&mut self, conn: u64, number: u16, tag: u64, settle: Settle) -> Option<u64> {
        let chan = self.chan_mut(conn, number);
        let position = chan.unacked.iter().position(|u| u.tag == tag).unwrap();
        let unacked = chan.unacked.remove(position);
        if let Some(consumer) = unacked.consumer.and_then(|uid| self.consumer_mut(uid)) {
            consumer.unacked -= 1;
        }
        match settle {
            Settle::Ack => None,
            Settle::Requeue => self.requeue(unacked),
            Settle::Discard => {
                // Settling a delivery whose queue is gone is accepted silently.
                if self.queue(unacked.queue).is_some() {
                    self.dead_letter_or_drop(unacked.queue, &unacked.entry.msg, Reason::Rejected);
                }
                None
            }
        }
    }

    /// basic.recover: requeues every unacknowledged delivery of the channel.
    /// Recover-ok comes before the redeliveries: a choice, not a rule.
    pub(super) fn recover(&mut self, conn: u64, number: u16, requeue: bool) -> Result<(), Fault> {
        if !requeue {
            return Err(ReplyCode::NotImplemented);
        }
        let mut touched = self.queues_consumed_by(conn, number);
        let tags: Vec<u64> = self
            .chan(conn, number)
            .unwrap()
            .unacked
            .iter()
            .map(|u| u.tag)
            .collect();
        for tag in tags {
            touched.extend(self.settle_one(conn, number, tag, Settle::Requeue));
        }
        self.reply_other(conn, number, Reply::RecoverOk);
        self.run_queues(touched);
        Ok(())
    }
}
