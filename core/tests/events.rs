//! The event stream: what `Broker::poll_event` and `Broker::drain_events`
//! give, in what order, and how an event names a queue deleted before the
//! event was drained.

mod support;

use brokerlab_core::{
    Broker, ChannelId, Command, Config, ConnectionId, DropReason, Event, FieldTable, Input,
    Instant, MessageId,
};
use support::{consume, declare, publish};

fn command(broker: &mut Broker, command: Command) {
    broker.handle(
        Instant(0),
        Input::Command {
            conn: ConnectionId(1),
            channel: ChannelId(1),
            command,
        },
    );
    while broker.poll_output().is_some() {}
}

/// A broker with connection 1 and its channel 1 open, its events drained.
/// The default configuration with events on, as a driver that reads them asks.
fn with_events() -> Config {
    Config {
        events: true,
        ..Config::default()
    }
}

fn connected(config: Config) -> Broker {
    let mut broker = Broker::new(config);
    broker.handle(
        Instant(0),
        Input::Connect {
            conn: ConnectionId(1),
            user: "guest".into(),
            vhost: "/".into(),
            channel_max: u16::MAX,
        },
    );
    command(&mut broker, Command::ChannelOpen);
    broker.drain_events(|_| {});
    broker
}

fn delete(queue: &str) -> Command {
    Command::QueueDelete {
        queue: queue.into(),
        if_unused: false,
        if_empty: false,
    }
}

fn publish_to(queue: &str, body: &str) -> Command {
    publish("", queue, body, brokerlab_core::Properties::default())
}

fn poll_all(broker: &mut Broker) -> Vec<Event> {
    std::iter::from_fn(|| broker.poll_event()).collect()
}

/// The work-queue script: publish, consume with acks, ack.
fn work_queue(broker: &mut Broker) {
    command(broker, declare("tasks", FieldTable::new()));
    command(broker, publish_to("tasks", "a"));
    command(broker, consume("tasks", "w", false));
    command(
        broker,
        Command::BasicAck {
            delivery_tag: 1,
            multiple: false,
        },
    );
}

#[test]
fn events_follow_a_message_through_publish_enqueue_delivery_and_ack_in_order() {
    let mut broker = connected(with_events());
    work_queue(&mut broker);
    let events = poll_all(&mut broker);
    let message = MessageId(1);
    assert_eq!(
        events,
        vec![
            Event::Published {
                message,
                conn: ConnectionId(1),
                channel: ChannelId(1),
                confirm_seq: None,
            },
            Event::Enqueued {
                message,
                queue: "tasks".into(),
            },
            Event::Delivered {
                message,
                queue: "tasks".into(),
                conn: ConnectionId(1),
                channel: ChannelId(1),
                delivery_tag: 1,
                redelivered: false,
            },
            Event::Acked {
                message,
                queue: "tasks".into(),
            },
        ]
    );
    assert_eq!(broker.poll_event(), None, "an event is given once");
}

#[test]
fn drain_events_lends_the_events_poll_event_gives() {
    let (mut polled, mut drained) = (connected(with_events()), connected(with_events()));
    work_queue(&mut polled);
    work_queue(&mut drained);
    let mut lent = Vec::new();
    drained.drain_events(|event| lent.push(event.to_owned()));
    assert_eq!(lent, poll_all(&mut polled));
    drained.drain_events(|event| panic!("drained twice: {event:?}"));
}

#[test]
fn events_wait_until_drained_across_inputs() {
    let mut broker = connected(with_events());
    command(&mut broker, declare("q", FieldTable::new()));
    command(&mut broker, publish_to("q", "a"));
    command(&mut broker, publish_to("q", "b"));
    let enqueued: Vec<_> = poll_all(&mut broker)
        .into_iter()
        .filter(|event| matches!(event, Event::Enqueued { .. }))
        .collect();
    assert_eq!(enqueued.len(), 2, "both publishes' events waited");
}

#[test]
fn with_events_off_none_is_recorded() {
    let mut broker = connected(Config {
        events: false,
        ..Config::default()
    });
    work_queue(&mut broker);
    command(&mut broker, delete("tasks"));
    assert_eq!(broker.poll_event(), None);
}

#[test]
fn an_event_still_names_its_queue_when_the_queue_is_deleted_before_the_event_is_drained() {
    let mut broker = connected(with_events());
    command(&mut broker, declare("a", FieldTable::new()));
    command(&mut broker, publish_to("a", "1"));
    command(&mut broker, delete("a"));
    // A new queue may take the deleted queue's place in the broker's tables.
    command(&mut broker, declare("b", FieldTable::new()));
    command(&mut broker, publish_to("b", "2"));
    let named: Vec<(MessageId, Option<String>)> = poll_all(&mut broker)
        .into_iter()
        .filter_map(|event| match event {
            Event::Enqueued { message, queue } => Some((message, Some(queue.to_string()))),
            Event::Dropped {
                message,
                queue,
                reason: DropReason::QueueDeleted,
            } => Some((message, queue.map(|queue| queue.to_string()))),
            _ => None,
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (MessageId(1), Some("a".to_owned())),
            (MessageId(1), Some("a".to_owned())),
            (MessageId(2), Some("b".to_owned())),
        ]
    );
}

#[test]
fn events_polled_one_by_one_keep_their_names_while_later_events_arrive() {
    let mut broker = connected(with_events());
    command(&mut broker, declare("a", FieldTable::new()));
    command(&mut broker, publish_to("a", "1"));
    command(&mut broker, delete("a"));
    // Part of the stream is taken; the rest waits while more is recorded.
    assert!(matches!(broker.poll_event(), Some(Event::Published { .. })));
    command(&mut broker, declare("c", FieldTable::new()));
    command(&mut broker, publish_to("c", "2"));
    command(&mut broker, delete("c"));
    let queues: Vec<String> = poll_all(&mut broker)
        .into_iter()
        .filter_map(|event| match event {
            Event::Enqueued { queue, .. } => Some(format!("enqueued in {queue}")),
            Event::Dropped {
                queue: Some(queue), ..
            } => Some(format!("dropped from {queue}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        queues,
        [
            "enqueued in a",
            "dropped from a",
            "enqueued in c",
            "dropped from c"
        ]
    );
}

#[test]
fn an_ack_after_its_queue_is_deleted_names_the_deleted_queue() {
    let mut broker = connected(with_events());
    command(&mut broker, declare("gone", FieldTable::new()));
    command(&mut broker, publish_to("gone", "m"));
    command(&mut broker, consume("gone", "c", false));
    command(&mut broker, delete("gone"));
    broker.drain_events(|_| {});
    command(
        &mut broker,
        Command::BasicAck {
            delivery_tag: 1,
            multiple: false,
        },
    );
    assert_eq!(
        poll_all(&mut broker),
        vec![Event::Acked {
            message: MessageId(1),
            queue: "gone".into(),
        }]
    );
}

#[test]
fn a_lent_name_reads_as_its_queues_name_in_every_form() {
    let mut broker = connected(with_events());
    command(&mut broker, declare("orders", FieldTable::new()));
    command(&mut broker, publish_to("orders", "m"));
    let mut seen = Vec::new();
    broker.drain_events(|event| {
        if let Event::Enqueued { queue, .. } = event {
            assert_eq!(queue, queue, "a lent name equals itself");
            seen.push((
                queue.get().to_string(),
                queue.to_string(),
                format!("{queue:?}"),
                queue.len(),
            ));
        }
    });
    assert_eq!(
        seen,
        [(
            "orders".to_owned(),
            "orders".to_owned(),
            "\"orders\"".to_owned(),
            6
        )]
    );
}

#[test]
fn a_broker_records_no_events_unless_its_driver_asks_for_them() {
    let mut broker = connected(Config::default());
    for command in [
        Command::ChannelOpen,
        declare("q", FieldTable::new()),
        publish("", "q", "m", Default::default()),
    ] {
        broker.handle(
            Instant(0),
            Input::Command {
                conn: ConnectionId(1),
                channel: ChannelId(1),
                command,
            },
        );
    }
    while broker.poll_output().is_some() {}
    assert_eq!(broker.poll_event(), None, "events are off by default");
}
