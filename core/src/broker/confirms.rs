//! Publisher confirms: confirm.select puts a channel in confirm mode, and
//! every publish on it from then on is numbered from 1. A publish is
//! confirmed (basic.ack) once every queue it was routed to has taken it,
//! and a persistent one in a durable queue once its record is synced
//! (`durability`); a publish a queue refused is nacked. A channel is in
//! confirm mode or transactional, never both.

use super::{Broker, Fault};
use crate::arena::Id;
use crate::protocol::{Reply, ReplyCode};

impl Broker {
    /// confirm.select.
    pub(super) fn confirm_select(&mut self, channel: Id) -> Result<(), Fault> {
        let state = &mut self.channels[channel];
        if state.tx.is_some() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "cannot switch from tx to confirm mode",
            ));
        }
        state.next_confirm_seq.get_or_insert(1);
        self.reply(channel, Reply::ConfirmSelectOk);
        Ok(())
    }
}
