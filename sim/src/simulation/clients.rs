//! The simulation's side of the client nodes: their connections, replies,
//! timers and reconnects. The clients themselves are sans-IO state machines
//! (`crate::client`); this is the driver that carries out what they ask.

use super::{Packet, SimEvent, Simulation, Slot, CLIENT_TIMERS_MAX};
use crate::client::{Context, Outgoing};
use brokerlab_core::{ChannelId, ConnectionId, Reply, StreamReply};

impl Simulation {
    /// Runs `handle` on a client with its context, then sends what it asked for.
    pub(super) fn with_client(
        &mut self,
        client: usize,
        handle: impl FnOnce(&mut Slot, &mut Context<'_>),
    ) {
        let slot = &mut self.slots[client];
        let mut context = Context {
            now_ns: self.now_ns,
            rng: &mut self.rng,
            history: &mut self.history,
            processed: &mut self.processed,
            streams: &mut self.streams,
            sagas: &mut self.saga_store,
            sqs: &mut self.sqs,
        };
        handle(slot, &mut context);
        self.after_client(client);
    }

    /// Sends the client's commands, closes its connection if it asked, and arms its timer.
    fn after_client(&mut self, client: usize) {
        let conn = self.slots[client].conn;
        let mut sent = 0_usize;
        while let Some(outgoing) = self.slots[client].client.poll_command() {
            sent += 1;
            assert!(sent <= 1024, "a client sends a bounded batch per step");
            let packet = match outgoing {
                Outgoing::Command(channel, command) => Packet::Command(channel, command),
                Outgoing::Stream(request, command) => Packet::Stream(request, Box::new(command)),
                Outgoing::PubSub(command) => Packet::PubSub(Box::new(command)),
                Outgoing::Sqs(request, command) => Packet::Sqs(request, Box::new(command)),
            };
            if let Some(conn) = conn {
                self.send_to_broker(conn, packet);
            }
        }
        if self.slots[client].client.poll_close() {
            if let Some(conn) = conn {
                self.drop_connection(conn);
            }
        }
        let slot = &mut self.slots[client];
        if let Some(at_ns) = slot.client.poll_timeout() {
            if slot.timers.insert(at_ns) {
                assert!(slot.timers.len() <= CLIENT_TIMERS_MAX, "client timer bound");
                let event = SimEvent::ClientTimer { client, at_ns };
                self.queue.push(at_ns.max(self.now_ns), event);
            }
        }
    }

    pub(super) fn reply_arrived(
        &mut self,
        client: usize,
        conn: ConnectionId,
        channel: ChannelId,
        reply: Reply,
    ) {
        let slot = &mut self.slots[client];
        if slot.conn != Some(conn) || !self.network.is_open(conn) {
            // Sent on a connection that has since closed: a closed connection
            // loses what was in flight on it, in both directions. (This also
            // means a delivery received was sent by the broker's current life.)
            return;
        }
        if reply == Reply::ConnectionOpenOk {
            slot.open = true;
            self.with_client(client, |slot, context| {
                slot.client.handle_open(context, conn)
            });
        } else if slot.open {
            self.with_client(client, |slot, context| {
                slot.client.handle_reply(context, channel, reply);
            });
        }
    }

    pub(super) fn stream_reply_arrived(
        &mut self,
        client: usize,
        conn: ConnectionId,
        request: u64,
        reply: StreamReply,
    ) {
        let slot = &self.slots[client];
        // As for replies: what was in flight on a closed connection is lost.
        if slot.conn != Some(conn) || !self.network.is_open(conn) || !slot.open {
            return;
        }
        self.with_client(client, |slot, context| {
            slot.client.handle_stream_reply(context, request, reply);
        });
    }

    pub(super) fn pubsub_reply_arrived(
        &mut self,
        client: usize,
        conn: ConnectionId,
        reply: brokerlab_core::PubSubReply,
    ) {
        let slot = &self.slots[client];
        // As for replies: what was in flight on a closed connection is lost.
        if slot.conn != Some(conn) || !self.network.is_open(conn) || !slot.open {
            return;
        }
        self.with_client(client, |slot, context| {
            slot.client.handle_pubsub_reply(context, reply);
        });
    }

    pub(super) fn sqs_reply_arrived(
        &mut self,
        client: usize,
        conn: ConnectionId,
        request: u64,
        reply: brokerlab_core::SqsReply,
    ) {
        let slot = &self.slots[client];
        // As for replies: what was in flight on a closed connection is lost.
        if slot.conn != Some(conn) || !self.network.is_open(conn) || !slot.open {
            return;
        }
        self.with_client(client, |slot, context| {
            slot.client.handle_sqs_reply(context, request, reply);
        });
    }

    pub(super) fn client_closed(&mut self, client: usize, conn: ConnectionId) {
        if self.slots[client].conn != Some(conn) {
            return;
        }
        self.with_client(client, |slot, context| {
            slot.conn = None;
            slot.open = false;
            slot.client.handle_closed(context);
        });
        if self.slots[client].client.wants_connection() {
            let at_ns = self.now_ns + self.options.plan.reconnect.draw(&mut self.rng);
            self.queue.push(at_ns, SimEvent::Reconnect { client });
        }
    }

    pub(super) fn reconnect(&mut self, client: usize) {
        if self.slots[client].conn.is_some() {
            return;
        }
        let down_until_ns = self.slots[client].down_until_ns;
        if down_until_ns > self.now_ns {
            // The client process is down; it connects once it has started again.
            self.queue
                .push(down_until_ns, SimEvent::Reconnect { client });
            return;
        }
        let conn = self.network.open(client);
        self.slots[client].conn = Some(conn);
        self.send_to_broker(conn, Packet::Connect);
    }

    pub(super) fn client_timer(&mut self, client: usize, at_ns: u64) {
        let slot = &mut self.slots[client];
        slot.timers.remove(&at_ns);
        let due = slot
            .client
            .poll_timeout()
            .is_some_and(|due_ns| due_ns <= self.now_ns);
        if due {
            self.with_client(client, |slot, context| slot.client.handle_timeout(context));
        } else {
            self.after_client(client);
        }
    }
}
