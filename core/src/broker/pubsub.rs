//! The broker's side of the Pub/Sub channels: commands dispatched to
//! [`PubSub`](crate::pubsub::PubSub), and its answers and deliveries moved
//! to the outputs. Nothing here is logged: Pub/Sub stores nothing.

use super::Broker;
use crate::protocol::{ConnectionId, Output};
use crate::pubsub::{Handout, PubSubCommand};

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
        for handout in self.pubsub.take_handouts() {
            let output = match handout {
                Handout::Reply(conn, reply) => Output::PubSub {
                    conn,
                    reply: Box::new(reply),
                },
                Handout::Published(published) => Output::PubSubPublished {
                    published: Box::new(published),
                },
            };
            self.outputs.push_back(output);
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
            .flat_map(|output| match output {
                Output::PubSub { conn, reply } => vec![(conn.0, *reply)],
                Output::PubSubPublished { published } => published
                    .replies()
                    .map(|(conn, reply)| (conn.0, reply))
                    .collect(),
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
    fn a_publishs_deliveries_leave_the_broker_as_one_output_before_its_answer() {
        let mut broker = Broker::new(Config::default());
        let subscribe = |channels: &[&'static [u8]]| PubSubCommand::Subscribe {
            channels: channels.iter().map(|c| Bytes::from_static(c)).collect(),
        };
        pubsub(&mut broker, 1, subscribe(&[b"c"]));
        pubsub(&mut broker, 3, subscribe(&[b"c"]));
        let patterns = vec![Bytes::from_static(b"c*")];
        pubsub(&mut broker, 3, PubSubCommand::PatternSubscribe { patterns });
        let publish = PubSubCommand::Publish {
            channel: Bytes::from_static(b"c"),
            message: Bytes::from_static(b"m"),
        };
        let input = Input::PubSub {
            conn: ConnectionId(2),
            command: Box::new(publish),
        };
        broker.handle(Instant(1), input);
        let outputs: Vec<Output> = std::iter::from_fn(|| broker.poll_output()).collect();
        let [Output::PubSubPublished { published }, Output::PubSub { conn, reply }] = &outputs[..]
        else {
            panic!("one output for the deliveries, then the answer: {outputs:?}");
        };
        let receivers: Vec<(u64, bool)> = published
            .receivers
            .iter()
            .map(|(conn, pattern)| (conn.0, pattern.is_some()))
            .collect();
        assert_eq!(receivers, [(1, false), (3, false), (3, true)]);
        assert_eq!(
            (conn.0, &**reply),
            (2, &PubSubReply::Published { receivers: 3 })
        );
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
