use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, FieldTable, Input, Instant, Output,
    Properties, PublishProperties, Reply,
};
use std::sync::Arc;

let mut broker = Broker::new(Config::default());
let (conn, channel) = (ConnectionId(1), ChannelId(1));
let mut log = Vec::new(); // the driver's store
let mut replies = Vec::new(); // what would go to the client

// Drains the outputs, as the calling protocol asks after every input.
let drain = |broker: &mut Broker, log: &mut Vec<_>, replies: &mut Vec<_>| {
    while let Some(output) = broker.poll_output() {
        match output {
            Output::Reply { reply, .. } => replies.push(reply),
            Output::Persist(record) => log.push(*record), // append; sync later
            Output::Pause { .. } => {} // stop or resume reading that connection
            Output::Stream { .. } => {} // a stream reply, to its connection in request order
            Output::PubSub { .. } => {} // a Pub/Sub answer or delivery, to its connection
            Output::Sqs { .. } => {} // an SQS answer, to its request
            Output::PubSubPublished { .. } => {} // a publish's deliveries, to each receiver
        }
    }
    broker.drain_events(|_event| {}); // checkers, metrics, tracing
};

let now = Instant(1_000_000);
let user = "guest".to_owned();
let (vhost, channel_max) = ("/".to_owned(), 2047); // as tune-ok agreed
broker.handle(now, Input::Connect { conn, user, vhost, channel_max });
let commands = [
    Command::ChannelOpen,
    Command::ConfirmSelect,
    Command::QueueDeclare {
        queue: "jobs".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    },
    Command::BasicPublish {
        exchange: "".into(),
        routing_key: "jobs".into(),
        mandatory: false,
        immediate: false,
        properties: PublishProperties::Given(Arc::new(Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        })),
        body: "hello".into(),
    },
];
for command in commands {
    broker.handle(now, Input::Command { conn, channel, command });
    drain(&mut broker, &mut log, &mut replies);
}
assert!(!replies.iter().any(|reply| matches!(reply, Reply::ConfirmAck { .. })));

// The store made the records durable: now the confirm goes out.
let upto = log.last().map_or(0, |record| record.lsn);
broker.handle(now, Input::Synced { upto });
drain(&mut broker, &mut log, &mut replies);
assert!(matches!(replies.last(), Some(Reply::ConfirmAck { delivery_tag: 1, .. })));

// Sleep until the next deadline (or the next input), then wake the broker.
if let Some(at) = broker.poll_timeout() {
    broker.handle(at, Input::Timeout);
    drain(&mut broker, &mut log, &mut replies);
}
broker.check_invariants(); // what the lab does after every step
