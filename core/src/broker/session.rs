//! A client's connections and channels: connecting and disconnecting,
//! opening and closing channels, each command taken to its channel (after
//! the access checks), and the faults that close a channel or a
//! connection as RabbitMQ closes them.

use super::{entities, transactions, Broker, Connection, Fault, Timer};
use crate::access::Permissions;
use crate::arena::Id;
use crate::channel::{Channel, PendingPublish};
use crate::protocol::{
    ChannelId, CloseScope, Command, ConnectionId, Method, Output, Reply, ReplyCode,
};
use std::collections::BTreeSet;

impl Broker {
    pub(super) fn connect(
        &mut self,
        conn: ConnectionId,
        user: String,
        vhost: &str,
        channel_max: u16,
    ) {
        if self.connections.contains_key(&conn) {
            // A driver that reuses a live connection id is broken; refusing the
            // second open keeps the first connection's state intact.
            return;
        }
        let Some((vhost, _)) = self.vhosts.get_key_value(vhost) else {
            let text = format!("NOT_ALLOWED - vhost {vhost} not found");
            let reply = Reply::Close {
                scope: CloseScope::Connection,
                code: ReplyCode::NotAllowed,
                text,
                method: None,
            };
            self.outputs.push_back(Output::Reply {
                conn,
                channel: ChannelId(0),
                reply,
            });
            return;
        };
        let user_name = user.clone();
        let connection = Connection {
            user,
            vhost: vhost.clone(),
            channels: BTreeSet::new(),
            exclusive_queues: BTreeSet::new(),
            closing: false,
            channel_max: channel_max.min(self.config.channel_max),
            flow: Vec::new(),
            blocked: false,
            paused: false,
            permissions: self.restrictions_of(&user_name, vhost),
        };
        self.connections.insert(conn, connection);
        self.outputs.push_back(Output::Reply {
            conn,
            channel: ChannelId(0),
            reply: Reply::ConnectionOpenOk,
        });
    }

    pub(super) fn disconnect(&mut self, conn: ConnectionId) {
        self.pubsub.disconnect(conn);
        self.streams.disconnect(conn);
        self.disconnect_groups(conn);
        self.stream_access_disconnect(conn);
        self.disconnect_sqs(conn);
        if !self.connections.contains_key(&conn) {
            return;
        }
        self.release_connection(conn);
        self.connections.remove(&conn);
        self.flow_candidates.remove(&conn);
        let closing: Vec<_> = self
            .closing_channels
            .range((conn, ChannelId(0))..=(conn, ChannelId(u16::MAX)))
            .copied()
            .collect();
        for key in closing {
            self.closing_channels.remove(&key);
        }
    }

    /// Closes every channel of the connection and deletes its exclusive queues.
    pub(super) fn release_connection(&mut self, conn: ConnectionId) {
        let connection = self.connections.get_mut(&conn).expect("connection is open");
        connection.closing = true;
        let channels: Vec<ChannelId> = connection.channels.iter().copied().collect();
        for number in channels {
            let channel = self.channel_index[&(conn, number)];
            self.release_channel(channel);
        }
        let connection = self.connections.get_mut(&conn).expect("connection is open");
        let exclusive = std::mem::take(&mut connection.exclusive_queues);
        for queue in exclusive {
            self.delete_queue(queue, false);
        }
    }

    /// Runs a client command, or with `refusal` fails it as the driver
    /// decided once the channel checks have passed.
    #[inline(always)]
    pub(super) fn command(
        &mut self,
        conn: ConnectionId,
        number: ChannelId,
        command: Command,
        refusal: Option<Fault>,
    ) {
        let open = match self.last_channel(conn, number) {
            // An open channel has an open connection that is not closing, and
            // is not among the channels the broker closed.
            Some(channel) => Some(channel),
            None => {
                let Some(connection) = self.connections.get(&conn) else {
                    return;
                };
                if connection.closing {
                    return;
                }
                if !self.closing_channels.is_empty()
                    && self.closing_channels.contains(&(conn, number))
                {
                    self.command_on_closing_channel(conn, number, &command);
                    return;
                }
                let open = self.channel_index.get(&(conn, number)).copied();
                if let Some(channel) = open {
                    *self.last_channel = Some((conn, number, channel));
                }
                open
            }
        };
        let method = Some(command.method());
        // Matched without a tuple, so the command moves only into its handler.
        let result = match open {
            Some(_) if matches!(command, Command::ChannelOpen) => Err(Fault::new(
                ReplyCode::ChannelError,
                "second 'channel.open' seen",
            )),
            None => match command {
                Command::ChannelOpen => self.open_channel(conn, number),
                Command::ChannelCloseOk => Ok(()),
                _ => Err(Fault::new(
                    ReplyCode::ChannelError,
                    "expected 'channel.open'",
                )),
            },
            Some(_) if refusal.is_some() => Err(refusal.expect("checked above")),
            Some(channel) => match self.access_refusal(channel, &command) {
                Some(fault) => Err(fault),
                None => self.channel_command(channel, command),
            },
        };
        if let Err(fault) = result {
            self.fail(conn, number, fault, method);
        }
    }

    /// 403 ACCESS_REFUSED when the channel's user may not run `command` on
    /// what it names (see [`crate::access`]); nothing to look at on a
    /// channel without restrictions.
    #[inline]
    pub(super) fn access_refusal(&self, channel: Id, command: &Command) -> Option<Fault> {
        let permissions = self.channels[channel].permissions.as_deref()?;
        self.refusal_by(permissions, channel, command)
    }

    #[cold]
    pub(super) fn refusal_by(
        &self,
        permissions: &Permissions,
        channel: Id,
        command: &Command,
    ) -> Option<Fault> {
        let queue = crate::access::named_queue(command)
            .and_then(|name| self.resolve_queue_name(channel, name).ok());
        let server_named = self.next_server_named_queue();
        let uses = crate::access::uses(command, queue.as_deref(), &server_named);
        let denied = uses
            .into_iter()
            .flatten()
            .find(|used| !permissions.allows(used.operation, used.name))?;
        let connection = &self.connections[&self.channels[channel].conn];
        let text = format!(
            "access to {} '{}' in vhost '{}' refused for user '{}'",
            denied.kind, denied.name, connection.vhost, connection.user
        );
        Some(Fault::new(ReplyCode::AccessRefused, text))
    }

    /// The channel the last command named, if it is still open and `conn`
    /// and `number` name it again.
    #[inline]
    pub(super) fn last_channel(&self, conn: ConnectionId, number: ChannelId) -> Option<Id> {
        let (last_conn, last_number, channel) = (*self.last_channel)?;
        if (last_conn, last_number) != (conn, number) {
            return None;
        }
        // Ids are generation-checked: a closed channel's id finds nothing,
        // even once its slot holds another channel.
        let state = self.channels.get(channel)?;
        assert_eq!(
            (state.conn, state.number),
            (conn, number),
            "a live id names its channel"
        );
        Some(channel)
    }

    /// After the broker closes a channel, everything but the close handshake is discarded.
    pub(super) fn command_on_closing_channel(
        &mut self,
        conn: ConnectionId,
        number: ChannelId,
        command: &Command,
    ) {
        match command {
            Command::ChannelCloseOk => {
                self.closing_channels.remove(&(conn, number));
            }
            Command::ChannelClose => {
                self.closing_channels.remove(&(conn, number));
                self.outputs.push_back(Output::Reply {
                    conn,
                    channel: number,
                    reply: Reply::ChannelCloseOk,
                });
            }
            _ => {}
        }
    }

    /// Closes the channel (soft error) or the connection (hard error) with the fault's code.
    pub(super) fn fail(
        &mut self,
        conn: ConnectionId,
        number: ChannelId,
        fault: Fault,
        method: Option<Method>,
    ) {
        if fault.code.closes_connection() {
            self.release_connection(conn);
            let reply = Reply::Close {
                scope: CloseScope::Connection,
                code: fault.code,
                text: fault.text,
                method,
            };
            self.outputs.push_back(Output::Reply {
                conn,
                channel: ChannelId(0),
                reply,
            });
            return;
        }
        let channel = self.channel_index[&(conn, number)];
        self.release_channel(channel);
        self.closing_channels.insert((conn, number));
        let reply = Reply::Close {
            scope: CloseScope::Channel,
            code: fault.code,
            text: fault.text,
            method,
        };
        self.outputs.push_back(Output::Reply {
            conn,
            channel: number,
            reply,
        });
    }

    pub(super) fn open_channel(
        &mut self,
        conn: ConnectionId,
        number: ChannelId,
    ) -> Result<(), Fault> {
        if number.0 == 0 {
            return Err(Fault::new(
                ReplyCode::ChannelError,
                "channel 0 is the connection's",
            ));
        }
        let connection = self.connections.get_mut(&conn).expect("connection is open");
        if number.0 > connection.channel_max {
            return Err(Fault::new(
                ReplyCode::NotAllowed,
                format!("channel_max ({}) exceeded", connection.channel_max),
            ));
        }
        connection.channels.insert(number);
        let mut state = Channel::new(conn, number);
        state.permissions = connection.permissions.clone();
        let channel = self.channels.insert(state);
        self.channel_index.insert((conn, number), channel);
        self.reply(channel, Reply::ChannelOpenOk);
        Ok(())
    }

    /// Removes a channel: cancels its consumers, then requeues its unacknowledged deliveries.
    pub(super) fn release_channel(&mut self, channel: Id) {
        let (conn, number) = (self.channels[channel].conn, self.channels[channel].number);
        let consumers: Vec<Id> = self.channels[channel].consumers.values().copied().collect();
        let mut touched = Vec::new();
        for consumer in consumers {
            touched.extend(self.remove_consumer(consumer));
        }
        if let Some(at) = self.channels[channel].timeout_armed {
            self.timers.remove(&(at, Timer::ConsumerTimeout(channel)));
        }
        let mut removed = self.channels.remove(channel).expect("channel is open");
        if let Some(publishes) = &removed.tx {
            self.held_bytes -= transactions::tx_bytes(publishes);
        }
        self.channel_index.remove(&(conn, number));
        self.connections
            .get_mut(&conn)
            .expect("connection is open")
            .channels
            .remove(&number);
        for tag in removed.all_tags() {
            let unacked = removed.take(tag);
            self.held_bytes -= unacked.entry.size_bytes();
            touched.extend(self.requeue(unacked));
        }
        self.run_queues(touched);
    }

    #[inline(always)]
    pub(super) fn channel_command(&mut self, channel: Id, command: Command) -> Result<(), Fault> {
        match command {
            // close-ok answers a close the broker started; on an open channel
            // it is an unexpected method, a hard error in RabbitMQ.
            Command::ChannelCloseOk => Err(Fault::new(
                ReplyCode::CommandInvalid,
                "unexpected 'channel.close-ok'",
            )),
            Command::ChannelOpen => {
                unreachable!("channel.open on an open channel is refused before dispatch")
            }
            Command::ChannelClose => {
                let conn = self.channels[channel].conn;
                let number = self.channels[channel].number;
                self.release_channel(channel);
                self.outputs.push_back(Output::Reply {
                    conn,
                    channel: number,
                    reply: Reply::ChannelCloseOk,
                });
                Ok(())
            }
            Command::ExchangeDeclare {
                exchange,
                kind,
                passive,
                durable,
                auto_delete,
                internal,
                arguments,
            } => {
                let flags = entities::ExchangeFlags {
                    durable,
                    auto_delete,
                    internal,
                };
                self.declare_exchange(channel, &exchange, &kind, passive, flags, arguments)
            }
            Command::ExchangeDelete {
                exchange,
                if_unused,
            } => self.delete_exchange_command(channel, &exchange, if_unused),
            Command::ExchangeBind {
                destination,
                source,
                routing_key,
                arguments,
            } => self.bind_exchange(
                channel,
                &destination,
                &source,
                &routing_key,
                &arguments,
                true,
            ),
            Command::ExchangeUnbind {
                destination,
                source,
                routing_key,
                arguments,
            } => self.bind_exchange(
                channel,
                &destination,
                &source,
                &routing_key,
                &arguments,
                false,
            ),
            Command::QueueDeclare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                arguments,
            } => {
                let flags = entities::QueueFlags {
                    durable,
                    exclusive,
                    auto_delete,
                };
                self.declare_queue(channel, &queue, passive, flags, &arguments)
            }
            Command::QueueBind {
                queue,
                exchange,
                routing_key,
                arguments,
            } => self.bind_queue(channel, &queue, &exchange, &routing_key, &arguments, true),
            Command::QueueUnbind {
                queue,
                exchange,
                routing_key,
                arguments,
            } => self.bind_queue(channel, &queue, &exchange, &routing_key, &arguments, false),
            Command::QueuePurge { queue } => self.purge_queue(channel, &queue),
            Command::QueueDelete {
                queue,
                if_unused,
                if_empty,
            } => self.delete_queue_command(channel, &queue, if_unused, if_empty),
            Command::BasicQos {
                prefetch_size,
                prefetch_count,
                global,
            } => self.qos(channel, prefetch_size, prefetch_count, global),
            Command::BasicPublish {
                exchange,
                routing_key,
                mandatory,
                immediate,
                properties,
                body,
            } => {
                if immediate {
                    return Err(Fault::new(ReplyCode::NotImplemented, "immediate=true"));
                }
                // Built once, where the command is taken apart: the publish
                // moves on in the same value, to be routed or buffered.
                let publish = PendingPublish {
                    exchange,
                    routing_key,
                    properties,
                    body,
                    ttl_ms: None,
                    mandatory,
                };
                self.publish(channel, publish)
            }
            Command::BasicConsume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
                arguments,
            } => self.consume(channel, &queue, consumer_tag, no_ack, exclusive, &arguments),
            Command::BasicCancel { consumer_tag } => {
                self.cancel(channel, &consumer_tag);
                Ok(())
            }
            Command::BasicGet { queue, no_ack } => self.get(channel, &queue, no_ack),
            Command::BasicAck {
                delivery_tag,
                multiple,
            } => self.settle(channel, delivery_tag, multiple, crate::channel::Settle::Ack),
            Command::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            } => self.settle(
                channel,
                delivery_tag,
                multiple,
                crate::channel::Settle::from_requeue(requeue),
            ),
            Command::BasicReject {
                delivery_tag,
                requeue,
            } => self.settle(
                channel,
                delivery_tag,
                false,
                crate::channel::Settle::from_requeue(requeue),
            ),
            Command::BasicRecover { requeue } => self.basic_recover(channel, requeue),
            Command::ConfirmSelect => self.confirm_select(channel),
            Command::TxSelect => self.tx_select(channel),
            Command::TxCommit => self.tx_commit(channel),
            Command::TxRollback => self.tx_rollback(channel),
        }
    }
}
