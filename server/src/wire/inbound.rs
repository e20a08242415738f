//! Client methods on a channel, translated into the core's commands.
//!
//! Every AMQP method a client may send on an open channel maps to one
//! `Command`, except basic.publish, which is complete only when its content
//! header and body frames have arrived. The `nowait` flag has no place in the
//! core (which always answers): the translation names the reply the client
//! asked not to get, and the connection drops that reply when it comes.

use super::fields::table_from_amqp;
use amq_protocol::protocol::{basic, channel, confirm, exchange, queue, tx, AMQPClass};
use brokerlab_core::{Command, ReplyCode};

/// An `-ok` reply a client declined with `nowait` (or by using basic.recover-async).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quiet {
    /// exchange.declare-ok.
    ExchangeDeclareOk,
    /// exchange.delete-ok.
    ExchangeDeleteOk,
    /// exchange.bind-ok.
    ExchangeBindOk,
    /// exchange.unbind-ok.
    ExchangeUnbindOk,
    /// queue.declare-ok.
    QueueDeclareOk,
    /// queue.bind-ok.
    QueueBindOk,
    /// queue.purge-ok.
    QueuePurgeOk,
    /// queue.delete-ok.
    QueueDeleteOk,
    /// basic.consume-ok.
    ConsumeOk,
    /// basic.cancel-ok.
    CancelOk,
    /// basic.recover-ok.
    RecoverOk,
    /// confirm.select-ok.
    ConfirmSelectOk,
}

/// The first frame of a publish: what comes before the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishStart {
    /// Exchange name.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// Return the message when no queue takes it.
    pub mandatory: bool,
    /// Unsupported; the core refuses it.
    pub immediate: bool,
}

/// What one method frame on a channel asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A command for the core; `quiet` is the reply to drop, when the client said nowait.
    Command {
        /// The command.
        command: Command,
        /// The reply the client declined.
        quiet: Option<Quiet>,
    },
    /// basic.publish: content frames follow.
    Publish(PublishStart),
}

/// A method refused before it reaches the core: a hard error that closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Reply code.
    pub code: ReplyCode,
    /// Reply text, prefixed with the code's name as RabbitMQ words it.
    pub text: String,
    /// Class and method id of the method that caused it; (0, 0) when no
    /// method did (a bad frame, a failed login), as AMQP says.
    pub cause: (u16, u16),
}

impl Refusal {
    /// A refusal whose text is prefixed with the code's name.
    #[must_use]
    pub fn new(code: ReplyCode, text: impl std::fmt::Display) -> Refusal {
        Refusal {
            code,
            text: format!("{} - {text}", code.name()),
            cause: (0, 0),
        }
    }

    /// The same refusal, naming `method` as its cause in the close frame.
    #[must_use]
    pub fn caused_by(self, method: &AMQPClass) -> Refusal {
        Refusal {
            cause: (method.get_amqp_class_id(), method.get_amqp_method_id()),
            ..self
        }
    }
}

fn command(command: Command, nowait: bool, quiet: Quiet) -> Inbound {
    Inbound::Command {
        command,
        quiet: nowait.then_some(quiet),
    }
}

fn plain(command: Command) -> Inbound {
    Inbound::Command {
        command,
        quiet: None,
    }
}

/// Translates a method that arrived on channel 1 or above.
/// `qos_prefetch_size` is basic.qos's prefetch_size, read from the frame's
/// bytes because amq-protocol's parser drops it (0 for other methods).
pub fn inbound(method: AMQPClass, qos_prefetch_size: u32) -> Result<Inbound, Refusal> {
    let cause = (method.get_amqp_class_id(), method.get_amqp_method_id());
    translate(method, qos_prefetch_size).map_err(|refusal| Refusal { cause, ..refusal })
}

fn translate(method: AMQPClass, qos_prefetch_size: u32) -> Result<Inbound, Refusal> {
    match method {
        AMQPClass::Channel(method) => channel_method(method),
        AMQPClass::Exchange(method) => exchange_method(method),
        AMQPClass::Queue(method) => queue_method(method),
        AMQPClass::Basic(method) => basic_method(method, qos_prefetch_size),
        AMQPClass::Confirm(confirm::AMQPMethod::Select(select)) => Ok(command(
            Command::ConfirmSelect,
            select.nowait,
            Quiet::ConfirmSelectOk,
        )),
        AMQPClass::Tx(method) => tx_method(method),
        AMQPClass::Connection(_) => Err(Refusal::new(
            ReplyCode::CommandInvalid,
            "connection methods belong on channel 0",
        )),
        other => Err(not_a_client_method(&other)),
    }
}

fn not_a_client_method(method: &AMQPClass) -> Refusal {
    Refusal::new(
        ReplyCode::NotImplemented,
        format!(
            "method {}.{} is not accepted from a client",
            method.get_amqp_class_id(),
            method.get_amqp_method_id()
        ),
    )
}

fn channel_method(method: channel::AMQPMethod) -> Result<Inbound, Refusal> {
    match method {
        channel::AMQPMethod::Open(_) => Ok(plain(Command::ChannelOpen)),
        channel::AMQPMethod::Close(_) => Ok(plain(Command::ChannelClose)),
        channel::AMQPMethod::CloseOk(_) => Ok(plain(Command::ChannelCloseOk)),
        channel::AMQPMethod::Flow(_) => Err(Refusal::new(
            ReplyCode::NotImplemented,
            "channel.flow is not supported",
        )),
        other => Err(not_a_client_method(&AMQPClass::Channel(other))),
    }
}

fn exchange_method(method: exchange::AMQPMethod) -> Result<Inbound, Refusal> {
    Ok(match method {
        exchange::AMQPMethod::Declare(m) => command(
            Command::ExchangeDeclare {
                exchange: m.exchange.to_string(),
                kind: m.kind.to_string(),
                passive: m.passive,
                durable: m.durable,
                auto_delete: m.auto_delete,
                internal: m.internal,
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::ExchangeDeclareOk,
        ),
        exchange::AMQPMethod::Delete(m) => command(
            Command::ExchangeDelete {
                exchange: m.exchange.to_string(),
                if_unused: m.if_unused,
            },
            m.nowait,
            Quiet::ExchangeDeleteOk,
        ),
        exchange::AMQPMethod::Bind(m) => command(
            Command::ExchangeBind {
                destination: m.destination.to_string(),
                source: m.source.to_string(),
                routing_key: m.routing_key.to_string(),
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::ExchangeBindOk,
        ),
        exchange::AMQPMethod::Unbind(m) => command(
            Command::ExchangeUnbind {
                destination: m.destination.to_string(),
                source: m.source.to_string(),
                routing_key: m.routing_key.to_string(),
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::ExchangeUnbindOk,
        ),
        other => return Err(not_a_client_method(&AMQPClass::Exchange(other))),
    })
}

fn queue_method(method: queue::AMQPMethod) -> Result<Inbound, Refusal> {
    Ok(match method {
        queue::AMQPMethod::Declare(m) => command(
            Command::QueueDeclare {
                queue: m.queue.to_string(),
                passive: m.passive,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::QueueDeclareOk,
        ),
        queue::AMQPMethod::Bind(m) => command(
            Command::QueueBind {
                queue: m.queue.to_string(),
                exchange: m.exchange.to_string(),
                routing_key: m.routing_key.to_string(),
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::QueueBindOk,
        ),
        queue::AMQPMethod::Unbind(m) => plain(Command::QueueUnbind {
            queue: m.queue.to_string(),
            exchange: m.exchange.to_string(),
            routing_key: m.routing_key.to_string(),
            arguments: table_from_amqp(&m.arguments),
        }),
        queue::AMQPMethod::Purge(m) => command(
            Command::QueuePurge {
                queue: m.queue.to_string(),
            },
            m.nowait,
            Quiet::QueuePurgeOk,
        ),
        queue::AMQPMethod::Delete(m) => command(
            Command::QueueDelete {
                queue: m.queue.to_string(),
                if_unused: m.if_unused,
                if_empty: m.if_empty,
            },
            m.nowait,
            Quiet::QueueDeleteOk,
        ),
        other => return Err(not_a_client_method(&AMQPClass::Queue(other))),
    })
}

fn basic_method(method: basic::AMQPMethod, qos_prefetch_size: u32) -> Result<Inbound, Refusal> {
    Ok(match method {
        basic::AMQPMethod::Publish(m) => Inbound::Publish(PublishStart {
            exchange: m.exchange.to_string(),
            routing_key: m.routing_key.to_string(),
            mandatory: m.mandatory,
            immediate: m.immediate,
        }),
        // The core refuses a non-zero size (540).
        basic::AMQPMethod::Qos(m) => plain(Command::BasicQos {
            prefetch_size: qos_prefetch_size,
            prefetch_count: m.prefetch_count,
            global: m.global,
        }),
        basic::AMQPMethod::Consume(m) => command(
            Command::BasicConsume {
                queue: m.queue.to_string(),
                consumer_tag: m.consumer_tag.to_string(),
                no_ack: m.no_ack,
                exclusive: m.exclusive,
                arguments: table_from_amqp(&m.arguments),
            },
            m.nowait,
            Quiet::ConsumeOk,
        ),
        basic::AMQPMethod::Cancel(m) => command(
            Command::BasicCancel {
                consumer_tag: m.consumer_tag.to_string(),
            },
            m.nowait,
            Quiet::CancelOk,
        ),
        basic::AMQPMethod::Get(m) => plain(Command::BasicGet {
            queue: m.queue.to_string(),
            no_ack: m.no_ack,
        }),
        basic::AMQPMethod::Ack(m) => plain(Command::BasicAck {
            delivery_tag: m.delivery_tag,
            multiple: m.multiple,
        }),
        basic::AMQPMethod::Nack(m) => plain(Command::BasicNack {
            delivery_tag: m.delivery_tag,
            multiple: m.multiple,
            requeue: m.requeue,
        }),
        basic::AMQPMethod::Reject(m) => plain(Command::BasicReject {
            delivery_tag: m.delivery_tag,
            requeue: m.requeue,
        }),
        basic::AMQPMethod::Recover(m) => plain(Command::BasicRecover { requeue: m.requeue }),
        // recover-async has no answer: the core's recover-ok is dropped.
        basic::AMQPMethod::RecoverAsync(m) => command(
            Command::BasicRecover { requeue: m.requeue },
            true,
            Quiet::RecoverOk,
        ),
        other => return Err(not_a_client_method(&AMQPClass::Basic(other))),
    })
}

fn tx_method(method: tx::AMQPMethod) -> Result<Inbound, Refusal> {
    Ok(match method {
        tx::AMQPMethod::Select(_) => plain(Command::TxSelect),
        tx::AMQPMethod::Commit(_) => plain(Command::TxCommit),
        tx::AMQPMethod::Rollback(_) => plain(Command::TxRollback),
        other => return Err(not_a_client_method(&AMQPClass::Tx(other))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nowait_names_the_reply_to_drop() {
        let declare = queue::Declare {
            queue: "q".into(),
            nowait: true,
            ..queue::Declare::default()
        };
        let Ok(Inbound::Command { quiet, .. }) =
            inbound(AMQPClass::Queue(queue::AMQPMethod::Declare(declare)), 0)
        else {
            panic!("queue.declare is a command");
        };
        assert_eq!(quiet, Some(Quiet::QueueDeclareOk));
    }

    #[test]
    fn server_only_methods_from_a_client_are_refused_with_540() {
        let refusal = inbound(
            AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {})),
            0,
        )
        .expect_err("get-empty is the server's");
        assert_eq!(refusal.code, ReplyCode::NotImplemented);
        assert_eq!(refusal.cause, (60, 72), "the close names basic.get-empty");
    }
}
