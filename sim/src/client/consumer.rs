//! A consumer with prefetch that acks, and now and then hands a message back.
//!
//! On every connection it opens a channel, declares the workload's durable
//! queue, sets its prefetch and starts consuming. Each delivery is "worked
//! on" for a drawn time, then acked, or (with the workload's requeue chance)
//! nacked or rejected with requeue. When its connection drops, the deliveries
//! it held go back to the queue on the broker's side, and it reconnects.

use super::{declare_durable, Context, Outbox, CHANNEL};
use crate::history::{Entry, Settle, Stamp};
use crate::plan::Span;
use brokerlab_core::{ChannelId, Command, ConnectionId, Reply};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most deliveries a consumer holds at once. A broker that ignores prefetch
/// may send more than the prefetch, which a checker must see rather than a
/// client assertion, so the bound is far above any prefetch.
const HELD_MAX: usize = 65_536;

/// How a consumer behaves.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The consumer's index among the run's consumers.
    pub id: usize,
    /// The queue it consumes from.
    pub queue: Arc<str>,
    /// basic.qos prefetch_count (per consumer).
    pub prefetch: u16,
    /// How long it works on one message.
    pub work: Span,
    /// Chance in a thousand that it hands a message back with requeue.
    pub requeue_per_mille: u16,
}

/// The consumer state machine.
#[derive(Clone, Debug)]
pub struct Consumer {
    spec: ConsumerSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// Deliveries being worked on, by (when they will be settled, delivery tag).
    held: BTreeMap<(u64, u64), Settle>,
}

impl Consumer {
    /// A consumer with no connection yet.
    #[must_use]
    pub fn new(spec: ConsumerSpec) -> Consumer {
        assert!(spec.prefetch > 0, "the workload always limits prefetch");
        Consumer {
            spec,
            outbox: Outbox::default(),
            conn: None,
            held: BTreeMap::new(),
        }
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(self.held.is_empty(), "nothing is held on a new connection");
        self.conn = Some(conn);
        self.outbox.send(CHANNEL, Command::ChannelOpen);
        self.outbox.send(CHANNEL, declare_durable(&self.spec.queue));
        self.outbox.send(
            CHANNEL,
            Command::BasicQos {
                prefetch_size: 0,
                prefetch_count: self.spec.prefetch,
                global: false,
            },
        );
        self.outbox.send(
            CHANNEL,
            Command::BasicConsume {
                queue: self.spec.queue.to_string(),
                consumer_tag: format!("consumer-{}", self.spec.id),
                no_ack: false,
                exclusive: false,
                arguments: Default::default(),
            },
        );
        let entry = Entry::Consume {
            consumer: self.spec.id,
            conn,
            channel: CHANNEL,
            prefetch: self.spec.prefetch,
        };
        context.history.record(context.now_ns, entry);
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        channel: ChannelId,
        reply: Reply,
    ) {
        match reply {
            Reply::Deliver {
                delivery_tag,
                redelivered,
                message,
                ..
            } => {
                let conn = self.conn.expect("replies arrive on an open connection");
                let entry = Entry::Deliver {
                    consumer: self.spec.id,
                    conn,
                    channel,
                    delivery_tag,
                    redelivered,
                    message: message.id,
                    stamp: Stamp::decode(&message.body),
                };
                context.history.record(context.now_ns, entry);
                self.hold(context, delivery_tag);
            }
            // Cancelled or closed by the broker: not part of this workload; start over.
            Reply::Cancel { .. } | Reply::Close { .. } => self.outbox.close(),
            _ => {}
        }
    }

    /// Decides how and when the delivery will be settled.
    fn hold(&mut self, context: &mut Context<'_>, delivery_tag: u64) {
        assert!(self.held.len() < HELD_MAX, "held deliveries bound reached");
        let how = if context.rng.chance(self.spec.requeue_per_mille) {
            if context.rng.chance(500) {
                Settle::Nack
            } else {
                Settle::Reject
            }
        } else {
            Settle::Ack
        };
        let settle_at_ns = context.now_ns + self.spec.work.draw(context.rng);
        self.held.insert((settle_at_ns, delivery_tag), how);
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.outbox.clear();
        // The broker requeues what the connection held; nothing to settle.
        self.held.clear();
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        let Some(conn) = self.conn else {
            return;
        };
        while let Some(entry) = self.held.first_entry() {
            let (settle_at_ns, delivery_tag) = *entry.key();
            if settle_at_ns > context.now_ns {
                break;
            }
            let how = entry.remove();
            let command = match how {
                Settle::Ack => Command::BasicAck {
                    delivery_tag,
                    multiple: false,
                },
                Settle::Nack => Command::BasicNack {
                    delivery_tag,
                    multiple: false,
                    requeue: true,
                },
                Settle::Reject => Command::BasicReject {
                    delivery_tag,
                    requeue: true,
                },
            };
            self.outbox.send(CHANNEL, command);
            let entry = Entry::Settle {
                consumer: self.spec.id,
                conn,
                channel: CHANNEL,
                delivery_tag,
                how,
            };
            context.history.record(context.now_ns, entry);
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<u64> {
        self.held
            .keys()
            .next()
            .map(|(settle_at_ns, _)| *settle_at_ns)
    }
}
