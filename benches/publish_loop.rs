//! A fixed publish → deliver → ack loop with no timing of its own, for
//! instruction counts under callgrind: `scripts/instructions-per-message.sh`
//! runs it for N and 2N messages and reports the difference per message, a
//! figure that does not move with the neighbours on a shared machine.
//!
//! Usage: `publish_loop MESSAGES [no-events | topic]`, MESSAGES a multiple of
//! 100 for the direct traffic, which ends on an ack (the same traffic as
//! `core/publish_deliver_ack/direct`, `.../direct_no_events`, or with `topic`
//! as `core/route/topic_10k`: publishes to 10,000 topic bindings).

use brokerlab_core::{Broker, Config, Name};
use bytes::Bytes;

mod support;

use support::{
    bind, command, connect, consume, declare, direct_setup, drain, publish_deliver_ack,
    transient_publish, Words,
};

/// `route/topic_10k`: 10,000 bindings on `amq.topic` over 10 queues with
/// no-ack consumers, and `messages` publishes cycling through 1,024 keys.
fn topic(messages: u64) {
    let mut broker = Broker::new(Config {
        events: true,
        ..Config::default()
    });
    connect(&mut broker, 1);
    let mut words = Words(42);
    for queue in 0..10 {
        command(&mut broker, 1, declare(&format!("q{queue}")));
        command(&mut broker, 1, consume(&format!("q{queue}"), true));
    }
    for binding in 0..10_000 {
        let pattern = words.pattern();
        command(
            &mut broker,
            1,
            bind(&format!("q{}", binding % 10), "amq.topic", &pattern),
        );
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
    let mut broker = direct_setup(events);
    let (exchange, key): (Name, Name) = ("amq.direct".into(), "k".into());
    let body = Bytes::from_static(&[7; 16]);
    let mut acked = 0;
    publish_deliver_ack(&mut broker, &exchange, &key, &body, &mut acked, messages);
    assert_eq!(acked, messages, "every message was delivered and acked");
}
