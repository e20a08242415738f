//! Access control (`Config::access`): each command needs configure, write
//! or read on the exchanges and queues it names, by RabbitMQ's
//! access-control table, and a refusal closes the channel with 403
//! ACCESS_REFUSED in RabbitMQ's words. Off by default.

mod support;

use brokerlab_core::{Access, CloseScope, Command, Config, FieldTable, Permissions, ReplyCode};
use support::{declare, Harness};

/// A broker where `guest` has these patterns on "/", with queue `q`
/// declared (by the driver, before access control applies to anyone) and
/// bound to amq.direct; connection 1 is open as guest.
fn restricted(configure: &str, write: &str, read: &str) -> Harness {
    let mut access = Access::default();
    let permissions = Permissions::new(configure, write, read).expect("valid patterns");
    access.grant("guest", "/", permissions);
    access.grant("admin", "/", Permissions::all());
    let mut broker = Harness::new(Config {
        access: Some(access),
        ..Config::default()
    });
    broker.input(brokerlab_core::Input::Connect {
        conn: brokerlab_core::ConnectionId(9),
        user: "admin".into(),
        vhost: "/".into(),
        channel_max: u16::MAX,
    });
    broker.open(9, 1).assert_ok();
    broker.declare(9, 1, "q", FieldTable::new()).assert_ok();
    broker.bind(9, 1, "q", "amq.direct", "k").assert_ok();
    broker.connect(1);
    broker
}

/// Asserts the step closed the channel with 403 and RabbitMQ's text.
fn assert_refused(step: &support::Step, kind: &str, name: &str) {
    let expected =
        format!("ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user 'guest'");
    assert_eq!(
        step.close(),
        Some((CloseScope::Channel, ReplyCode::AccessRefused, expected))
    );
}

#[test]
fn without_access_control_every_user_may_do_everything() {
    let mut broker = Harness::default();
    broker.connect(1);
    broker
        .declare(1, 1, "anything", FieldTable::new())
        .assert_ok();
}

#[test]
fn declaring_a_queue_needs_configure_on_its_name() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    broker
        .declare(1, 1, "app.jobs", FieldTable::new())
        .assert_ok();
    let step = broker.declare(1, 1, "billing", FieldTable::new());
    assert_refused(&step, "queue", "billing");
}

#[test]
fn a_passive_declare_needs_no_permission() {
    let mut broker = restricted("", "", "");
    broker.send(1, 1, support::passive_declare("q")).assert_ok();
}

#[test]
fn a_server_named_queue_is_checked_under_the_name_it_would_get() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    let step = broker.send(1, 1, declare("", FieldTable::new()));
    let name = match step.close() {
        Some((_, ReplyCode::AccessRefused, text)) => text,
        other => panic!("a generated name is not app.*: {other:?}"),
    };
    assert!(name.contains("queue 'amq.gen-"), "{name}");
}

#[test]
fn publishing_needs_write_on_the_exchange() {
    let mut broker = restricted(".*", "^amq\\.direct$", ".*");
    broker
        .publish(1, 1, "amq.direct", "k", "allowed")
        .assert_ok();
    let step = broker.publish(1, 1, "amq.fanout", "", "refused");
    assert_refused(&step, "exchange", "amq.fanout");
}

#[test]
fn binding_needs_write_on_the_queue_and_read_on_the_exchange() {
    let mut broker = restricted(".*", "^q$", "^amq\\.direct$");
    broker.bind(1, 1, "q", "amq.direct", "other").assert_ok();
    let step = broker.bind(1, 1, "q", "amq.topic", "k");
    assert_refused(&step, "exchange", "amq.topic");
    broker.open(1, 2).assert_ok();
    broker.declare(9, 1, "r", FieldTable::new()).assert_ok();
    let step = broker.bind(1, 2, "r", "amq.direct", "k");
    assert_refused(&step, "queue", "r");
}

#[test]
fn consuming_getting_and_purging_need_read_on_the_queue() {
    let mut broker = restricted(".*", ".*", "^nothing$");
    let step = broker.consume(1, 1, "q", "c", false);
    assert_refused(&step, "queue", "q");
    broker.open(1, 2).assert_ok();
    let step = broker.get(1, 2, "q", false);
    assert_refused(&step, "queue", "q");
    broker.open(1, 3).assert_ok();
    let purge = Command::QueuePurge { queue: "q".into() };
    assert_refused(&broker.send(1, 3, purge), "queue", "q");
}

#[test]
fn an_empty_pattern_allows_nothing() {
    // RabbitMQ 3.10: set_permissions with "" for configure refuses every declare.
    let mut broker = restricted("", ".*", ".*");
    let step = broker.declare(1, 1, "x", FieldTable::new());
    assert_refused(&step, "queue", "x");
}

#[test]
fn a_user_without_an_entry_for_the_vhost_may_do_nothing() {
    let mut access = Access::default();
    access.grant("someone-else", "/", Permissions::all());
    let mut broker = Harness::new(Config {
        access: Some(access),
        ..Config::default()
    });
    broker.connect(1);
    let step = broker.declare(1, 1, "x", FieldTable::new());
    assert_refused(&step, "queue", "x");
}

#[test]
fn a_refusal_closes_only_its_channel() {
    let mut broker = restricted("^app\\.", ".*", ".*");
    broker.declare(1, 1, "billing", FieldTable::new());
    broker.open(1, 2).assert_ok();
    broker
        .declare(1, 2, "app.ok", FieldTable::new())
        .assert_ok();
}

/// Stream connections (Kafka's clients) once authenticated: `kafka` may
/// configure `own.*`, write `own.*` and `in.*`, and read `own.*`, `out.*`
/// and its group `mine`. Connection 2 never authenticates (served
/// anonymously) and created `in.t` and `out.t`; connection 1 is `kafka`'s.
mod streams_access {
    use super::support::streams::{batch, fetch_command, memory};
    use super::support::{Harness, Step};
    use brokerlab_core::group::{ErrorCode, GroupReply, GroupRequest, Heartbeat};
    use brokerlab_core::stream::{Acks, StreamError};
    use brokerlab_core::{Access, Config, Permissions, StreamCommand, StreamReply};

    const KAFKA: u64 = 1;
    const ANONYMOUS: u64 = 2;

    fn broker() -> Harness {
        let mut access = Access::default();
        let permissions =
            Permissions::new("^own\\.", "^(own|in)\\.", "^(own|out)\\.|^mine$").expect("valid");
        access.grant("kafka", "/", permissions);
        let mut broker = Harness::new(Config {
            access: Some(access),
            ..Config::default()
        });
        for topic in ["in.t", "out.t"] {
            let step = broker.stream(ANONYMOUS, 1, create(topic));
            assert_eq!(topic_result(&step), Ok(()), "{topic}");
        }
        let step = broker.stream(KAFKA, 1, authenticated("kafka"));
        assert!(step.stream_replies().is_empty(), "not answered");
        broker
    }

    fn authenticated(user: &str) -> StreamCommand {
        StreamCommand::Authenticated { user: user.into() }
    }

    fn create(topic: &str) -> StreamCommand {
        StreamCommand::CreateTopic {
            topic: topic.into(),
            partitions: 1,
            config: memory(),
        }
    }

    fn topic_result(step: &Step) -> Result<(), StreamError> {
        match step.stream_reply() {
            StreamReply::TopicCreated { result, .. } => result,
            other => panic!("expected TopicCreated, got {other:?}"),
        }
    }

    fn produce(broker: &mut Harness, topic: &str) -> Result<(), StreamError> {
        let command = StreamCommand::Produce {
            topic: topic.into(),
            partition: 0,
            acks: Acks::Appended,
            batch: batch(&["v"]),
        };
        match broker.stream(KAFKA, 2, command).stream_reply() {
            StreamReply::Produced { result, .. } => result.map(|_| ()),
            other => panic!("expected Produced, got {other:?}"),
        }
    }

    fn metadata(
        broker: &mut Harness,
        topics: Option<&[&str]>,
    ) -> Vec<(String, Result<u32, StreamError>)> {
        let command = StreamCommand::Metadata {
            topics: topics.map(|names| names.iter().map(|name| (*name).to_owned()).collect()),
            create_partitions: Some(1),
        };
        // A topic Metadata creates is durable: answered once synced.
        let mut step = broker.stream(KAFKA, 4, command);
        step.extend(broker.sync());
        match step.stream_reply() {
            StreamReply::Metadata { topics } => topics,
            other => panic!("expected Metadata, got {other:?}"),
        }
    }

    #[test]
    fn an_authenticated_stream_user_needs_configure_on_a_topic_to_create_it() {
        let mut broker = broker();
        assert_eq!(
            topic_result(&broker.stream(KAFKA, 1, create("own.t"))),
            Ok(())
        );
        let refused = topic_result(&broker.stream(KAFKA, 1, create("in.new")));
        assert_eq!(refused, Err(StreamError::TopicAuthorizationFailed));
        assert_eq!(StreamError::TopicAuthorizationFailed.code(), 29);
        let anonymous = topic_result(&broker.stream(ANONYMOUS, 1, create("in.new")));
        assert_eq!(anonymous, Ok(()), "an anonymous connection is not checked");
    }

    #[test]
    fn an_authenticated_stream_user_needs_write_to_produce_and_read_to_fetch() {
        let mut broker = broker();
        assert_eq!(produce(&mut broker, "in.t"), Ok(()));
        assert_eq!(
            produce(&mut broker, "out.t"),
            Err(StreamError::TopicAuthorizationFailed)
        );
        let mut both = fetch_command("in.t", 0, 0, 500, 1);
        let StreamCommand::Fetch { partitions, .. } = &mut both else {
            unreachable!("a fetch")
        };
        let mut out = partitions[0].clone();
        out.topic = "out.t".into();
        partitions.push(out);
        let step = broker.stream(KAFKA, 3, both);
        let StreamReply::Fetched { partitions } = step.stream_reply() else {
            panic!("expected Fetched at once, got {step:?}");
        };
        assert_eq!(
            partitions[0].result.as_ref().err(),
            Some(&StreamError::TopicAuthorizationFailed),
            "in.t is write-only"
        );
        assert!(
            partitions[1].result.is_ok(),
            "out.t is read at once: {partitions:?}"
        );
    }

    #[test]
    fn metadata_lists_only_readable_topics_and_creates_only_configurable_ones() {
        let mut broker = broker();
        let listed: Vec<String> = metadata(&mut broker, None)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(listed, ["out.t"], "in.t is not readable");
        let named = metadata(&mut broker, Some(&["in.t"]));
        assert_eq!(
            named,
            [(
                "in.t".to_owned(),
                Err(StreamError::TopicAuthorizationFailed)
            )]
        );
        let missing = metadata(&mut broker, Some(&["out.new"]));
        assert_eq!(
            missing,
            [(
                "out.new".to_owned(),
                Err(StreamError::UnknownTopicOrPartition)
            )],
            "readable, but not created without configure"
        );
        let created = metadata(&mut broker, Some(&["own.new"]));
        assert_eq!(created, [("own.new".to_owned(), Ok(1))]);
    }

    #[test]
    fn an_authenticated_stream_user_needs_read_on_a_group() {
        let mut broker = broker();
        let heartbeat = |group: &str| {
            StreamCommand::Group(GroupRequest::Heartbeat(Heartbeat {
                group: group.into(),
                generation: 1,
                member_id: "m".into(),
                group_instance_id: None,
            }))
        };
        let refused = broker.stream(KAFKA, 5, heartbeat("theirs")).stream_reply();
        let denied = ErrorCode::GROUP_AUTHORIZATION_FAILED;
        assert_eq!(
            refused,
            StreamReply::Group(GroupReply::Heartbeat { error: denied })
        );
        assert_eq!(denied.0, 30);
        let allowed = broker.stream(KAFKA, 5, heartbeat("mine")).stream_reply();
        assert_ne!(
            allowed,
            StreamReply::Group(GroupReply::Heartbeat { error: denied })
        );
    }
}
