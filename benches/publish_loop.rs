//! A fixed publish → deliver → ack loop with no timing of its own, for
//! instruction counts under callgrind: `scripts/instructions-per-message.sh`
//! runs it for N and 2N messages and reports the difference per message, a
//! figure that does not move with the neighbours on a shared machine.
//!
//! Usage: `publish_loop MESSAGES [no-events]` (the same traffic as
//! `core/publish_deliver_ack/direct`, or `.../direct_no_events`).

use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output,
    Properties, Reply,
};
use bytes::Bytes;
use std::sync::Arc;

fn command(broker: &mut Broker, conn: u64, command: Command) {
    let input = Input::Command {
        conn: ConnectionId(conn),
        channel: ChannelId(1),
        command,
    };
    broker.handle(Instant(0), input);
}

fn drain(broker: &mut Broker) -> u64 {
    let mut deliveries = 0;
    while let Some(output) = broker.poll_output() {
        if let Output::Reply {
            reply: Reply::Deliver { .. },
            ..
        } = output
        {
            deliveries += 1;
        }
    }
    deliveries
}

fn setup(events: bool) -> Broker {
    let config = Config {
        events,
        ..Config::default()
    };
    let mut broker = Broker::new(config);
    for conn in [1, 2] {
        let connect = Input::Connect {
            conn: ConnectionId(conn),
            user: "guest".into(),
            vhost: "/".into(),
        };
        broker.handle(Instant(0), connect);
        command(&mut broker, conn, Command::ChannelOpen);
    }
    let declare = Command::QueueDeclare {
        queue: "q".into(),
        passive: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    command(&mut broker, 1, declare);
    let bind = Command::QueueBind {
        queue: "q".into(),
        exchange: "amq.direct".into(),
        routing_key: "k".into(),
        arguments: FieldTable::new(),
    };
    command(&mut broker, 1, bind);
    command(
        &mut broker,
        2,
        Command::BasicQos {
            prefetch_size: 0,
            prefetch_count: 1000,
            global: false,
        },
    );
    let consume = Command::BasicConsume {
        queue: "q".into(),
        consumer_tag: String::new(),
        no_ack: false,
        exclusive: false,
        arguments: FieldTable::new(),
    };
    command(&mut broker, 2, consume);
    drain(&mut broker);
    broker
}

fn main() {
    // `cargo bench` passes `--bench`; the message count is the first number.
    let messages: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    // `no-events` among the arguments turns the broker's events off.
    let events = !std::env::args().any(|arg| arg == "no-events");
    let mut broker = setup(events);
    let (exchange, key): (Arc<str>, Arc<str>) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    let (mut delivered, mut acked) = (0, 0);
    for _ in 0..messages {
        let publish = Command::BasicPublish {
            exchange: exchange.clone(),
            routing_key: key.clone(),
            mandatory: false,
            immediate: false,
            properties: Arc::new(Properties::default()),
            body: body.clone(),
        };
        command(&mut broker, 1, publish);
        delivered += drain(&mut broker);
        if delivered - acked >= 100 {
            command(
                &mut broker,
                2,
                Command::BasicAck {
                    delivery_tag: delivered,
                    multiple: true,
                },
            );
            acked = delivered;
            drain(&mut broker);
        }
    }
    assert_eq!(delivered, messages, "every message was delivered");
}
