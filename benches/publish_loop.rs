//! A fixed publish → deliver → ack loop with no timing of its own, for
//! instruction counts under callgrind: `scripts/instructions-per-message.sh`
//! runs it for N and 2N messages and reports the difference per message, a
//! figure that does not move with the neighbours on a shared machine.
//!
//! Usage: `publish_loop MESSAGES [no-events | topic]` (the same traffic as
//! `core/publish_deliver_ack/direct`, `.../direct_no_events`, or with `topic`
//! as `core/route/topic_10k`: publishes to 10,000 topic bindings).

use brokerlab_core::Name;
use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output, Reply,
};
use bytes::Bytes;

mod support;

use support::{transient_publish, Words};

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

/// `route/topic_10k`: 10,000 bindings on `amq.topic` over 10 queues with
/// no-ack consumers, and `messages` publishes cycling through 1,024 keys.
fn topic(messages: u64) {
    let mut broker = Broker::new(Config::default());
    let connect = Input::Connect {
        conn: ConnectionId(1),
        user: "guest".into(),
        vhost: "/".into(),
    };
    broker.handle(Instant(0), connect);
    command(&mut broker, 1, Command::ChannelOpen);
    let mut words = Words(42);
    for queue in 0..10 {
        let declare = Command::QueueDeclare {
            queue: format!("q{queue}"),
            passive: false,
            durable: false,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
        };
        command(&mut broker, 1, declare);
        let consume = Command::BasicConsume {
            queue: format!("q{queue}"),
            consumer_tag: String::new(),
            no_ack: true,
            exclusive: false,
            arguments: FieldTable::new(),
        };
        command(&mut broker, 1, consume);
    }
    for binding in 0..10_000 {
        let bind = Command::QueueBind {
            queue: format!("q{}", binding % 10),
            exchange: "amq.topic".into(),
            routing_key: words.pattern(),
            arguments: FieldTable::new(),
        };
        command(&mut broker, 1, bind);
    }
    drain(&mut broker);
    let keys: Vec<Name> = (0..1024).map(|_| words.key().into()).collect();
    let exchange: Name = "amq.topic".into();
    let body = Bytes::from_static(&[7; 16]);
    let mut delivered = 0;
    let publishes = usize::try_from(messages).expect("a message count fits in usize");
    for key in keys.iter().cycle().take(publishes) {
        command(&mut broker, 1, transient_publish(&exchange, key, &body));
        delivered += drain(&mut broker);
    }
    assert!(delivered > 0, "some keys match");
}

fn main() {
    // `cargo bench` passes `--bench`; the message count is the first number.
    let messages: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    if std::env::args().any(|arg| arg == "topic") {
        topic(messages);
        return;
    }
    // `no-events` among the arguments turns the broker's events off.
    let events = !std::env::args().any(|arg| arg == "no-events");
    let mut broker = setup(events);
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    let (mut delivered, mut acked) = (0, 0);
    for _ in 0..messages {
        command(&mut broker, 1, transient_publish(&exchange, &key, &body));
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
