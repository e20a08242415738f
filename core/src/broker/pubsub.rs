//! The broker's side of the Pub/Sub channels: commands dispatched to
//! [`PubSub`](crate::pubsub::PubSub), and its answers and deliveries moved
//! to the outputs. Nothing here is logged: Pub/Sub stores nothing.

use super::Broker;
use crate::protocol::{ConnectionId, Output};
use crate::pubsub::PubSubCommand;

impl Broker {
    /// `Input::PubSub`: runs a Pub/Sub command and hands out what it made.
    pub(super) fn pubsub_command(&mut self, conn: ConnectionId, command: PubSubCommand) {
        self.pubsub.handle(self.now, conn, command);
        self.flush_pubsub();
    }

    /// Moves the Pub/Sub answers and deliveries into the outputs, in order.
    pub(super) fn flush_pubsub(&mut self) {
        if self.pubsub.outbox_is_empty() {
            return;
        }
        for (conn, reply) in self.pubsub.take_outbox() {
            self.outputs.push_back(Output::PubSub {
                conn,
                reply: Box::new(reply),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{ConnectionId, Input, Output};
    use crate::pubsub::{PubSubCommand, PubSubReply};
    use crate::{Broker, Config, Instant};
    use bytes::Bytes;

    fn pubsub(broker: &mut Broker, conn: u64, command: PubSubCommand) -> Vec<(u64, PubSubReply)> {
        let input = Input::PubSub {
            conn: ConnectionId(conn),
            command: Box::new(command),
        };
        broker.handle(Instant(1), input);
        broker.check_invariants();
        std::iter::from_fn(|| broker.poll_output())
            .map(|output| match output {
                Output::PubSub { conn, reply } => (conn.0, *reply),
                other => panic!("Pub/Sub makes only Pub/Sub outputs: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn pubsub_deliveries_and_answers_leave_the_broker_as_outputs_in_order() {
        let mut broker = Broker::new(Config::default());
        let channels = vec![Bytes::from_static(b"c")];
        pubsub(&mut broker, 1, PubSubCommand::Subscribe { channels });
        let publish = PubSubCommand::Publish {
            channel: Bytes::from_static(b"c"),
            message: Bytes::from_static(b"m"),
        };
        let outputs = pubsub(&mut broker, 2, publish);
        let delivery = PubSubReply::Message {
            pattern: None,
            channel: Bytes::from_static(b"c"),
            message: Bytes::from_static(b"m"),
        };
        let answer = PubSubReply::Published { receivers: 1 };
        assert_eq!(outputs, [(1, delivery), (2, answer)]);
    }

    #[test]
    fn a_disconnect_drops_the_connections_subscriptions() {
        let mut broker = Broker::new(Config::default());
        let patterns = vec![Bytes::from_static(b"*")];
        pubsub(&mut broker, 1, PubSubCommand::PatternSubscribe { patterns });
        broker.handle(
            Instant(2),
            Input::Disconnect {
                conn: ConnectionId(1),
            },
        );
        broker.check_invariants();
        assert_eq!(broker.pubsub().subscriptions(ConnectionId(1)), 0);
        let outputs = pubsub(&mut broker, 2, PubSubCommand::NumPat);
        assert_eq!(outputs, [(2, PubSubReply::NumPat(0))]);
    }
}
