//! The core's replies, written as AMQP frames.
//!
//! A reply becomes one method frame, and for deliveries, basic.get-ok and
//! basic.return also a content header and the body split into frames no
//! larger than the connection's negotiated `frame_max`.

use super::fields::{properties_to_amqp, short};
use super::inbound::{Quiet, Refusal};
use amq_protocol::frame::{gen_frame, AMQPContentHeader, AMQPFrame, GenError, WriteContext};
use amq_protocol::protocol::{basic, channel, confirm, connection, exchange, queue, tx, AMQPClass};
use brokerlab_core::{CloseScope, Message, Method, Reply, ReplyCode};

/// Bytes a frame adds around its payload: type, channel, size and frame-end.
pub const FRAME_OVERHEAD_BYTES: usize = 8;

/// The content class of basic messages.
const BASIC_CLASS_ID: u16 = 60;

/// Appends one encoded frame to `out`.
pub fn put_frame(out: &mut Vec<u8>, frame: &AMQPFrame) -> Result<(), GenError> {
    let context = WriteContext::from(std::mem::take(out));
    let (written, _) = gen_frame(frame)(context)?.into_inner();
    *out = written;
    Ok(())
}

/// Appends a method frame.
pub fn put_method(out: &mut Vec<u8>, channel: u16, method: AMQPClass) -> Result<(), GenError> {
    put_frame(out, &AMQPFrame::Method(channel, method))
}

/// connection.close with a reply code and text.
#[must_use]
pub fn connection_close(code: ReplyCode, text: &str) -> AMQPClass {
    AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
        reply_code: code.code(),
        reply_text: short(text),
        class_id: 0,
        method_id: 0,
    }))
}

/// The AMQP 0-9-1 class and method ids of a method the core names, for
/// the close that a failing command causes.
#[must_use]
pub fn method_ids(method: Method) -> (u16, u16) {
    match method {
        Method::ChannelOpen => (20, 10),
        Method::ChannelClose => (20, 40),
        Method::ChannelCloseOk => (20, 41),
        Method::ExchangeDeclare => (40, 10),
        Method::ExchangeDelete => (40, 20),
        Method::ExchangeBind => (40, 30),
        Method::ExchangeUnbind => (40, 40),
        Method::QueueDeclare => (50, 10),
        Method::QueueBind => (50, 20),
        Method::QueuePurge => (50, 30),
        Method::QueueDelete => (50, 40),
        Method::QueueUnbind => (50, 50),
        Method::BasicQos => (60, 10),
        Method::BasicConsume => (60, 20),
        Method::BasicCancel => (60, 30),
        Method::BasicPublish => (60, 40),
        Method::BasicGet => (60, 70),
        Method::BasicAck => (60, 80),
        Method::BasicReject => (60, 90),
        Method::BasicRecover => (60, 110),
        Method::BasicNack => (60, 120),
        Method::ConfirmSelect => (85, 10),
        Method::TxSelect => (90, 10),
        Method::TxCommit => (90, 20),
        Method::TxRollback => (90, 30),
    }
}

/// connection.close for a refusal, naming the method that caused it.
#[must_use]
pub fn refusal_close(refusal: &Refusal) -> AMQPClass {
    AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
        reply_code: refusal.code.code(),
        reply_text: short(&refusal.text),
        class_id: refusal.cause.0,
        method_id: refusal.cause.1,
    }))
}

/// The reply a client's `nowait` declined, if `reply` is one of those.
#[must_use]
pub fn quiet_kind(reply: &Reply) -> Option<Quiet> {
    Some(match reply {
        Reply::ExchangeDeclareOk => Quiet::ExchangeDeclareOk,
        Reply::ExchangeDeleteOk => Quiet::ExchangeDeleteOk,
        Reply::ExchangeBindOk => Quiet::ExchangeBindOk,
        Reply::ExchangeUnbindOk => Quiet::ExchangeUnbindOk,
        Reply::QueueDeclareOk { .. } => Quiet::QueueDeclareOk,
        Reply::QueueBindOk => Quiet::QueueBindOk,
        Reply::QueuePurgeOk { .. } => Quiet::QueuePurgeOk,
        Reply::QueueDeleteOk { .. } => Quiet::QueueDeleteOk,
        Reply::ConsumeOk { .. } => Quiet::ConsumeOk,
        Reply::CancelOk { .. } => Quiet::CancelOk,
        Reply::RecoverOk => Quiet::RecoverOk,
        Reply::ConfirmSelectOk => Quiet::ConfirmSelectOk,
        _ => return None,
    })
}

/// Appends the frames of one reply on `channel`; `frame_max` bounds each frame.
pub fn put_reply(
    out: &mut Vec<u8>,
    channel: u16,
    reply: &Reply,
    frame_max: u32,
) -> Result<(), GenError> {
    let (method, content) = reply_method(reply);
    put_method(out, channel, method)?;
    match content {
        Some(message) => put_content(out, channel, message, frame_max),
        None => Ok(()),
    }
}

/// The method frame of a reply, and the message that follows it, if any.
fn reply_method(reply: &Reply) -> (AMQPClass, Option<&Message>) {
    let method = match reply {
        Reply::Deliver {
            consumer_tag,
            delivery_tag,
            redelivered,
            message,
        } => {
            let deliver = basic::Deliver {
                consumer_tag: short(consumer_tag),
                delivery_tag: *delivery_tag,
                redelivered: *redelivered,
                exchange: short(message.exchange()),
                routing_key: short(message.routing_key()),
            };
            return (
                AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)),
                Some(message),
            );
        }
        Reply::GetOk {
            delivery_tag,
            redelivered,
            message_count,
            message,
        } => {
            let get_ok = basic::GetOk {
                delivery_tag: *delivery_tag,
                redelivered: *redelivered,
                exchange: short(message.exchange()),
                routing_key: short(message.routing_key()),
                message_count: *message_count,
            };
            return (
                AMQPClass::Basic(basic::AMQPMethod::GetOk(get_ok)),
                Some(message),
            );
        }
        Reply::Return {
            code,
            text,
            message,
        } => {
            let returned = basic::Return {
                reply_code: code.code(),
                reply_text: short(text),
                exchange: short(message.exchange()),
                routing_key: short(message.routing_key()),
            };
            return (
                AMQPClass::Basic(basic::AMQPMethod::Return(returned)),
                Some(message),
            );
        }
        other => plain_method(other),
    };
    (method, None)
}

/// The method of a reply that carries no content.
fn plain_method(reply: &Reply) -> AMQPClass {
    match reply {
        Reply::ConnectionOpenOk => {
            AMQPClass::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {}))
        }
        Reply::ConnectionBlocked => {
            // RabbitMQ's reason for its memory alarm.
            let reason = short("low on memory");
            AMQPClass::Connection(connection::AMQPMethod::Blocked(connection::Blocked {
                reason,
            }))
        }
        Reply::ConnectionUnblocked => {
            AMQPClass::Connection(connection::AMQPMethod::Unblocked(connection::Unblocked {}))
        }
        Reply::ChannelOpenOk => AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})),
        Reply::ChannelCloseOk => {
            AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {}))
        }
        Reply::Close {
            scope: CloseScope::Connection,
            code,
            text,
            method,
        } => {
            let (class_id, method_id) = method.map_or((0, 0), method_ids);
            AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: code.code(),
                reply_text: short(text),
                class_id,
                method_id,
            }))
        }
        Reply::Close {
            scope: CloseScope::Channel,
            code,
            text,
            method,
        } => {
            let (class_id, method_id) = method.map_or((0, 0), method_ids);
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: code.code(),
                reply_text: short(text),
                class_id,
                method_id,
            }))
        }
        Reply::QueueDeclareOk {
            queue,
            message_count,
            consumer_count,
        } => AMQPClass::Queue(queue::AMQPMethod::DeclareOk(queue::DeclareOk {
            queue: short(queue),
            message_count: *message_count,
            consumer_count: *consumer_count,
        })),
        Reply::QueuePurgeOk { message_count } => {
            AMQPClass::Queue(queue::AMQPMethod::PurgeOk(queue::PurgeOk {
                message_count: *message_count,
            }))
        }
        Reply::QueueDeleteOk { message_count } => {
            AMQPClass::Queue(queue::AMQPMethod::DeleteOk(queue::DeleteOk {
                message_count: *message_count,
            }))
        }
        other => basic_method(other),
    }
}

/// The basic, confirm, exchange, queue-bind and tx replies.
fn basic_method(reply: &Reply) -> AMQPClass {
    match reply {
        Reply::ConsumeOk { consumer_tag } => {
            AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(basic::ConsumeOk {
                consumer_tag: short(consumer_tag),
            }))
        }
        Reply::CancelOk { consumer_tag } => {
            AMQPClass::Basic(basic::AMQPMethod::CancelOk(basic::CancelOk {
                consumer_tag: short(consumer_tag),
            }))
        }
        Reply::Cancel { consumer_tag } => {
            AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                consumer_tag: short(consumer_tag),
                nowait: true,
            }))
        }
        Reply::ConfirmAck {
            delivery_tag,
            multiple,
        } => AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: *delivery_tag,
            multiple: *multiple,
        })),
        Reply::ConfirmNack {
            delivery_tag,
            multiple,
        } => AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
            delivery_tag: *delivery_tag,
            multiple: *multiple,
            requeue: false,
        })),
        Reply::GetEmpty => AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {})),
        Reply::QosOk => AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})),
        Reply::RecoverOk => AMQPClass::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})),
        Reply::ConfirmSelectOk => {
            AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {}))
        }
        Reply::ExchangeDeclareOk => {
            AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {}))
        }
        Reply::ExchangeDeleteOk => {
            AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {}))
        }
        Reply::ExchangeBindOk => {
            AMQPClass::Exchange(exchange::AMQPMethod::BindOk(exchange::BindOk {}))
        }
        Reply::ExchangeUnbindOk => {
            AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {}))
        }
        Reply::QueueBindOk => AMQPClass::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})),
        Reply::QueueUnbindOk => AMQPClass::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})),
        Reply::TxSelectOk => AMQPClass::Tx(tx::AMQPMethod::SelectOk(tx::SelectOk {})),
        Reply::TxCommitOk => AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})),
        Reply::TxRollbackOk => AMQPClass::Tx(tx::AMQPMethod::RollbackOk(tx::RollbackOk {})),
        other => unreachable!("reply {other:?} is handled by reply_method or plain_method"),
    }
}

/// Appends a content header and the body, split into frames of at most `frame_max` bytes.
fn put_content(
    out: &mut Vec<u8>,
    channel: u16,
    message: &Message,
    frame_max: u32,
) -> Result<(), GenError> {
    let header = AMQPContentHeader {
        class_id: BASIC_CLASS_ID,
        body_size: message.body.len() as u64,
        properties: properties_to_amqp(message.properties()),
    };
    put_frame(out, &AMQPFrame::Header(channel, header))?;
    let chunk_bytes = frame_max as usize - FRAME_OVERHEAD_BYTES;
    for chunk in message.body.chunks(chunk_bytes) {
        put_frame(out, &AMQPFrame::Body(channel, chunk.to_vec()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::frame::parse_frame;
    use brokerlab_core::{MessageId, Properties, SharedMessage};
    use bytes::Bytes;
    use std::sync::Arc;

    #[test]
    fn a_delivery_body_is_split_by_frame_max() {
        let message = SharedMessage::new(Message {
            id: MessageId(1),
            envelope: brokerlab_core::Envelope::shared("", "q", Arc::new(Properties::default())),
            body: Bytes::from(vec![7u8; 10_000]).into(),
        });
        let reply = Reply::Deliver {
            consumer_tag: "c".into(),
            delivery_tag: 1,
            redelivered: false,
            message,
        };
        let mut out = Vec::new();
        put_reply(&mut out, 1, &reply, 4096).expect("a Vec takes any frame");
        let mut rest = out.as_slice();
        let mut bodies = Vec::new();
        while !rest.is_empty() {
            let (after, frame) = parse_frame(rest).expect("we parse what we write");
            assert!(rest.len() - after.len() <= 4096, "no frame above frame_max");
            if let AMQPFrame::Body(_, body) = frame {
                bodies.push(body.len());
            }
            rest = after;
        }
        assert_eq!(bodies, vec![4088, 4088, 1824]);
    }
}
