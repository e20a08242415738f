//! Direct reply-to, as RabbitMQ 3.10 has it: RPC replies that go straight
//! to the requesting channel, through no queue.
//!
//! A channel consumes from the pseudo-queue `amq.rabbitmq.reply-to`
//! (no-ack only, one such consumer per channel) and publishes its requests
//! with `reply_to: amq.rabbitmq.reply-to`; the broker rewrites that to the
//! channel's own name, `amq.rabbitmq.reply-to.<conn>.<channel>.<key>`. A
//! reply published to that name through the default exchange is delivered
//! to the consumer at once. The name is deterministic (the core draws no
//! randomness); its key is a broker-wide counter, so a name outlives
//! neither its consumer nor its channel: a reply to a stale name is
//! dropped. Replies reach no queue, so they are otherwise unroutable, as in
//! RabbitMQ: a mandatory reply is also returned (312 NO_ROUTE) and a
//! confirmed one is acked.

use super::{Broker, Fault};
use crate::arena::Id;
use crate::channel::{PendingPublish, ReplyConsumer};
use crate::message::{Name, Properties, SharedMessage};
use crate::protocol::{ChannelId, ConnectionId, Event, PublishProperties, Reply, ReplyCode};
use std::sync::Arc;

/// The pseudo-queue a channel consumes its replies from, and the `reply_to`
/// by which a request asks for them.
pub(crate) const REPLY_QUEUE: &str = "amq.rabbitmq.reply-to";

/// How a channel's own reply-to name starts; its token follows.
const REPLY_NAME_PREFIX: &str = "amq.rabbitmq.reply-to.";

impl Broker {
    /// basic.consume from the pseudo-queue (its name resolved, its tag
    /// checked against the channel's queue consumers): the channel's reply
    /// consumer. No-ack only, and one per channel; both refusals are 406.
    pub(super) fn consume_replies(
        &mut self,
        channel: Id,
        tag: String,
        no_ack: bool,
    ) -> Result<(), Fault> {
        if !no_ack {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "reply consumer cannot acknowledge",
            ));
        }
        if self.channels[channel].reply_consumer.is_some() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "reply consumer already set",
            ));
        }
        let tag: Name = if tag.is_empty() {
            self.generate_name("amq.ctag-")
        } else {
            tag.into()
        };
        let key = self.next_reply_key;
        self.next_reply_key += 1;
        self.channels[channel].reply_consumer = Some(ReplyConsumer {
            tag: tag.clone(),
            key,
        });
        self.reply(channel, Reply::ConsumeOk { consumer_tag: tag });
        Ok(())
    }

    /// basic.cancel: when `tag` names the channel's reply consumer, it goes
    /// (cancel-ok) and this returns `true`; RabbitMQ looks for it before the
    /// queue consumers.
    pub(super) fn cancel_replies(&mut self, channel: Id, tag: &str) -> bool {
        let state = &mut self.channels[channel];
        if state
            .reply_consumer
            .as_ref()
            .is_none_or(|consumer| consumer.tag != tag)
        {
            return false;
        }
        let consumer = state.reply_consumer.take().expect("checked above");
        let reply = Reply::CancelOk {
            consumer_tag: consumer.tag,
        };
        self.reply(channel, reply);
        true
    }

    /// A publish whose `reply_to` is the pseudo-queue carries the channel's
    /// own reply-to name instead; without a reply consumer on the channel
    /// it is refused with 406. Any other `reply_to` passes unchanged. The
    /// channel's last properties stay the ones the client sent.
    #[cold]
    #[inline(never)]
    pub(super) fn address_replies(
        &self,
        channel: Id,
        publish: &mut PendingPublish,
    ) -> Result<(), Fault> {
        let state = &self.channels[channel];
        let properties = state.properties_of(&publish.properties);
        if properties.reply_to.as_deref() != Some(REPLY_QUEUE) {
            return Ok(());
        }
        let Some(consumer) = &state.reply_consumer else {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "fast reply consumer does not exist",
            ));
        };
        let mut rewritten = Properties::clone(properties);
        rewritten.reply_to = Some(reply_name(state.conn, state.number, consumer.key));
        publish.properties = PublishProperties::Given(Arc::new(rewritten));
        Ok(())
    }

    /// Whether queue.declare names the pseudo-queue or a reply-to name
    /// (any name that starts with `amq.rabbitmq.reply-to`).
    pub(super) fn is_reply_queue_name(name: &str) -> bool {
        name.starts_with(REPLY_QUEUE)
    }

    /// queue.declare of a name that starts with `amq.rabbitmq.reply-to`,
    /// whatever its flags and arguments: every such declare is passive. The
    /// pseudo-queue and the name of a live reply consumer (of any channel)
    /// exist, with no message and one consumer; any other name is 404.
    pub(super) fn declare_reply_queue(&mut self, channel: Id, name: &str) -> Result<(), Fault> {
        if name != REPLY_QUEUE && self.reply_consumer_named(name).is_none() {
            let vhost = self.vhost_of(channel);
            return Err(Fault::new(
                ReplyCode::NotFound,
                format!("no queue '{name}' in vhost '{vhost}'"),
            ));
        }
        let name: Name = name.into();
        self.channels[channel].last_queue = Some(name.clone());
        let reply = Reply::QueueDeclareOk {
            queue: name,
            message_count: 0,
            consumer_count: 1,
        };
        self.reply(channel, reply);
        Ok(())
    }

    /// The channel whose reply consumer `name` addresses, if it still has it.
    fn reply_consumer_named(&self, name: &str) -> Option<Id> {
        let (conn, number, key) = parse_reply_name(name)?;
        let channel = *self.channel_index.get(&(conn, number))?;
        let consumer = self.channels[channel].reply_consumer.as_ref()?;
        (consumer.key == key).then_some(channel)
    }

    /// A message published through the default exchange that no queue
    /// took: when its routing key is a live reply-to name, it is delivered
    /// to that reply consumer (returns `true`). The delivery is settled as
    /// it is sent and carries the channel's next delivery tag without
    /// taking it, as RabbitMQ 3.10 does.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_reply(&mut self, message: &SharedMessage) -> bool {
        let Some(channel) = self.reply_consumer_named(message.routing_key()) else {
            return false;
        };
        let state = &self.channels[channel];
        let consumer = state
            .reply_consumer
            .as_ref()
            .expect("the name addresses a reply consumer");
        let (conn, number) = (state.conn, state.number);
        let reply = Reply::Deliver {
            consumer_tag: consumer.tag.clone(),
            delivery_tag: state.next_tag(),
            redelivered: false,
            message: message.clone(),
        };
        self.reply(channel, reply);
        self.event(Event::RepliedDirectly {
            message: message.id,
            conn,
            channel: number,
        });
        true
    }
}

/// The reply-to name of a channel's reply consumer with this key.
fn reply_name(conn: ConnectionId, number: ChannelId, key: u64) -> String {
    format!("{REPLY_NAME_PREFIX}{}.{}.{key}", conn.0, number.0)
}

/// The connection, channel and key a reply-to name was made of; `None` for
/// any other name (including a number written another way).
fn parse_reply_name(name: &str) -> Option<(ConnectionId, ChannelId, u64)> {
    let token = name.strip_prefix(REPLY_NAME_PREFIX)?;
    let mut parts = token.split('.');
    let conn = ConnectionId(parts.next()?.parse().ok()?);
    let number = ChannelId(parts.next()?.parse().ok()?);
    let key = parts.next()?.parse().ok()?;
    if parts.next().is_some() || reply_name(conn, number, key) != name {
        return None;
    }
    Some((conn, number, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_name_parses_back_to_what_made_it() {
        let name = reply_name(ConnectionId(7), ChannelId(3), 42);
        assert_eq!(name, "amq.rabbitmq.reply-to.7.3.42");
        assert_eq!(
            parse_reply_name(&name),
            Some((ConnectionId(7), ChannelId(3), 42))
        );
    }

    #[test]
    fn only_a_name_as_the_broker_writes_it_is_a_reply_name() {
        for name in [
            "amq.rabbitmq.reply-to",
            "amq.rabbitmq.reply-to.",
            "amq.rabbitmq.reply-to.7.3",
            "amq.rabbitmq.reply-to.7.3.42.1",
            "amq.rabbitmq.reply-to.07.3.42",
            "amq.rabbitmq.reply-to.+7.3.42",
            "amq.rabbitmq.reply-to.7.70000.42",
            "amq.rabbitmq.reply-to.g1h2AA1yZXBseUA5.Z+xJldh5L8YCig7lHUAVQA==",
        ] {
            assert_eq!(parse_reply_name(name), None, "{name}");
        }
    }
}
