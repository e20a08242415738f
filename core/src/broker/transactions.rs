//! Transactions: tx.select makes a channel transactional; its publishes
//! and acknowledgements are then held until tx.commit, which routes the
//! publishes and applies the settles in order, or tx.rollback, which
//! forgets them. What a transaction holds counts in the broker's held bytes
//! (and so in the memory alarm) until then.

use super::{Broker, Fault};
use crate::arena::Id;
use crate::protocol::{Reply, ReplyCode};

impl Broker {
    /// tx.select.
    pub(super) fn tx_select(&mut self, channel: Id) -> Result<(), Fault> {
        let state = &mut self.channels[channel];
        if state.next_confirm_seq.is_some() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "cannot switch from confirm to tx mode",
            ));
        }
        state.tx.get_or_insert_with(Vec::new);
        self.reply(channel, Reply::TxSelectOk);
        Ok(())
    }

    /// tx.commit: routes the buffered publishes, then applies the buffered settles.
    pub(super) fn tx_commit(&mut self, channel: Id) -> Result<(), Fault> {
        let state = &mut self.channels[channel];
        let Some(publishes) = state.tx.as_mut().map(std::mem::take) else {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "channel is not transactional",
            ));
        };
        let settles = state.pending_settles();
        self.held_bytes -= tx_bytes(&publishes);
        let vhost = self.vhost_of(channel);
        for publish in publishes {
            let start = self.start_of(&vhost, &publish.exchange);
            self.route_publish(channel, publish, start);
        }
        let mut touched = self.queues_consumed_by(channel);
        for (tag, settle) in settles {
            touched.extend(self.settle_one(channel, tag, settle));
        }
        self.disarm_consumer_timeout(channel);
        self.reply(channel, Reply::TxCommitOk);
        self.run_queues(touched);
        Ok(())
    }

    /// tx.rollback: forgets the buffered publishes and settles.
    pub(super) fn tx_rollback(&mut self, channel: Id) -> Result<(), Fault> {
        let state = &mut self.channels[channel];
        let Some(publishes) = state.tx.as_mut() else {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "channel is not transactional",
            ));
        };
        self.held_bytes -= tx_bytes(publishes);
        publishes.clear();
        state.clear_pending();
        self.reply(channel, Reply::TxRollbackOk);
        Ok(())
    }
}

/// Body bytes of a transaction's buffered publishes.
pub(super) fn tx_bytes(publishes: &[crate::channel::PendingPublish]) -> u64 {
    publishes
        .iter()
        .map(|publish| publish.body.len() as u64)
        .sum()
}
