//! The connection layer: connections, channels, the close handshake, and what
//! an error closes (SEMANTICS.md section 7's split of soft and hard errors),
//! with the dispatch of commands to the rest of the model.

use super::consumers::Settle;
use super::messages::Publish;
use super::queues::Flags;
use super::{Chan, Conn, Fault, Model};
use crate::reference_model::observe::SeenReply;
use crate::reference_model::steps::Cmd;
use brokerlab_core::{CloseScope, Reply, ReplyCode};

impl Model {
    /// A client connected; a live id is ignored (the driver would be broken).
    pub(super) fn connect(&mut self, id: u64) {
        if self.conn(id).is_some() {
            return;
        }
        self.conns.push(Conn {
            id,
            closing: false,
            exclusive: Vec::new(),
        });
        self.reply_other(id, 0, Reply::ConnectionOpenOk);
    }

    /// The connection is gone: everything it held is released.
    pub(super) fn disconnect(&mut self, id: u64) {
        if self.conn(id).is_none() {
            return;
        }
        self.release_connection(id);
        self.conns.retain(|conn| conn.id != id);
        self.closing_channels.retain(|(conn, _)| *conn != id);
    }

    /// Closes every channel of the connection, then deletes its exclusive queues.
    ///
    /// Channels close in number order and exclusive queues go in slot order,
    /// as in the core: a choice, not a rule.
    fn release_connection(&mut self, id: u64) {
        let conn = self.conns.iter_mut().find(|conn| conn.id == id).unwrap();
        conn.closing = true;
        let exclusive = std::mem::take(&mut conn.exclusive);
        let mut numbers: Vec<u16> = self
            .channels
            .iter()
            .filter(|chan| chan.conn == id)
            .map(|chan| chan.number)
            .collect();
        numbers.sort_unstable();
        for number in numbers {
            self.release_channel(id, number);
        }
        let mut exclusive: Vec<(usize, u64)> = exclusive
            .into_iter()
            .filter_map(|uid| Some((self.queue(uid)?.slot, uid)))
            .collect();
        exclusive.sort_unstable();
        for (_, uid) in exclusive {
            self.delete_queue(uid, false);
        }
    }

    /// Removes a channel: cancels its consumers, then requeues its
    /// unacknowledged deliveries (SEMANTICS.md section 4).
    ///
    /// Consumers go in tag order (bytewise), as in the core: a choice, not a rule.
    pub(super) fn release_channel(&mut self, conn: u64, number: u16) {
        let mut consumers: Vec<(String, u64)> = self
            .consumers
            .iter()
            .filter(|consumer| consumer.conn == conn && consumer.channel == number)
            .map(|consumer| (consumer.tag.clone(), consumer.uid))
            .collect();
        consumers.sort();
        let mut touched = Vec::new();
        for (_, uid) in consumers {
            touched.extend(self.remove_consumer(uid));
        }
        let position = self
            .channels
            .iter()
            .position(|chan| chan.conn == conn && chan.number == number)
            .expect("the channel is open");
        let chan = self.channels.remove(position);
        for unacked in chan.unacked {
            touched.extend(self.requeue(unacked));
        }
        self.run_queues(touched);
    }

    /// Closes the channel (soft error) or the connection (hard error).
    fn fail(&mut self, conn: u64, number: u16, code: Fault) {
        if code.closes_connection() {
            self.release_connection(conn);
            let reply = SeenReply::Close {
                scope: CloseScope::Connection,
                code,
            };
            self.reply(conn, 0, reply);
        } else {
            self.release_channel(conn, number);
            self.closing_channels.push((conn, number));
            let reply = SeenReply::Close {
                scope: CloseScope::Channel,
                code,
            };
            self.reply(conn, number, reply);
        }
    }

    /// A command on a channel: ignored on a connection the broker closed,
    /// only the close handshake on a channel it closed, 504 on a channel
    /// that is not open, else dispatched.
    pub(super) fn command(&mut self, conn: u64, number: u16, command: &Cmd) {
        if self.conn(conn).is_none_or(|conn| conn.closing) {
            return;
        }
        if let Some(position) = self
            .closing_channels
            .iter()
            .position(|closing| *closing == (conn, number))
        {
            // After the broker closed a channel, only the close handshake counts.
            match command {
                Cmd::CloseOk => {
                    self.closing_channels.remove(position);
                }
                Cmd::Close => {
                    self.closing_channels.remove(position);
                    self.reply_other(conn, number, Reply::ChannelCloseOk);
                }
                _ => {}
            }
            return;
        }
        let open = self.chan(conn, number).is_some();
        let result = match (open, command) {
            (true, Cmd::Open) => Err(ReplyCode::ChannelError),
            (false, Cmd::Open) if number == 0 => Err(ReplyCode::ChannelError),
            (false, Cmd::Open) => {
                self.open_channel(conn, number);
                Ok(())
            }
            (false, Cmd::CloseOk) => Ok(()),
            (false, _) => Err(ReplyCode::ChannelError),
            // RabbitMQ answers a close-ok on a channel it did not close with
            // its catch-all "unimplemented method", 503 COMMAND_INVALID.
            (true, Cmd::CloseOk) => Err(ReplyCode::CommandInvalid),
            (true, command) => self.channel_command(conn, number, command),
        };
        if let Err(code) = result {
            self.fail(conn, number, code);
        }
    }

    /// channel.open on a channel that is not open.
    fn open_channel(&mut self, conn: u64, number: u16) {
        self.channels.push(Chan {
            conn,
            number,
            consumer_prefetch: 0,
            channel_prefetch: 0,
            next_tag: 1,
            unacked: Vec::new(),
            next_confirm: None,
            last_queue: None,
            last_properties: (None, None),
        });
        self.reply_other(conn, number, Reply::ChannelOpenOk);
    }

    /// A command on an open channel: connection, queue and confirm commands here.
    fn channel_command(&mut self, conn: u64, number: u16, command: &Cmd) -> Result<(), Fault> {
        let (c, n) = (conn, number);
        match *command {
            Cmd::Open | Cmd::CloseOk => unreachable!("handled by `command`"),
            Cmd::Close => {
                self.release_channel(c, n);
                self.reply_other(c, n, Reply::ChannelCloseOk);
                Ok(())
            }
            Cmd::Declare {
                queue,
                passive,
                durable,
                exclusive,
                auto_delete,
                ref args,
            } => {
                let flags = Flags {
                    durable,
                    exclusive,
                    auto_delete,
                };
                self.declare(c, n, queue, passive, flags, &args.table())
            }
            Cmd::Bind {
                queue,
                exchange,
                key,
            } => self.bind(c, n, queue, exchange, key, true),
            Cmd::Unbind {
                queue,
                exchange,
                key,
            } => self.bind(c, n, queue, exchange, key, false),
            Cmd::Purge { queue } => self.purge(c, n, queue),
            Cmd::Delete {
                queue,
                if_unused,
                if_empty,
            } => self.delete(c, n, queue, if_unused, if_empty),
            Cmd::ConfirmSelect => {
                self.chan_mut(c, n).next_confirm.get_or_insert(1);
                self.reply_other(c, n, Reply::ConfirmSelectOk);
                Ok(())
            }
            _ => self.basic_command(c, n, command),
        }
    }

    /// The basic.* commands.
    fn basic_command(&mut self, conn: u64, number: u16, command: &Cmd) -> Result<(), Fault> {
        let (c, n) = (conn, number);
        match *command {
            Cmd::Qos {
                size,
                count,
                global,
            } => self.qos(c, n, size, count, global),
            Cmd::Publish {
                exchange,
                key,
                mandatory,
                expiration,
                priority,
                body,
                repeat,
            } => {
                // Given properties become the channel's last, whatever
                // becomes of the publish; a repeat takes the last.
                let chan = self.chan_mut(c, n);
                if !repeat {
                    chan.last_properties = (expiration, priority);
                }
                let (expiration, priority) = chan.last_properties;
                let publish = Publish {
                    exchange,
                    key,
                    mandatory,
                    expiration,
                    priority,
                    body: body.as_bytes(),
                };
                self.publish(c, n, publish)
            }
            Cmd::Consume {
                queue,
                tag,
                no_ack,
                exclusive,
            } => self.consume(c, n, queue, tag, no_ack, exclusive),
            Cmd::Cancel { tag } => {
                self.cancel(c, n, tag);
                Ok(())
            }
            Cmd::Get { queue, no_ack } => self.get(c, n, queue, no_ack),
            Cmd::Ack { tag, multiple } => self.settle(c, n, tag.literal(), multiple, Settle::Ack),
            Cmd::Nack {
                tag,
                multiple,
                requeue,
            } => self.settle(c, n, tag.literal(), multiple, Settle::requeue(requeue)),
            Cmd::Reject { tag, requeue } => {
                self.settle(c, n, tag.literal(), false, Settle::requeue(requeue))
            }
            Cmd::Recover { requeue } => self.recover(c, n, requeue),
            _ => unreachable!("dispatched by `channel_command`"),
        }
    }
}
