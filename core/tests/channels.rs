//! Channels: opening within the connection's agreed channel_max, and the
//! close handshake after the broker closes a channel.

mod support;

use brokerlab_core::{
    ChannelId, Command, Config, ConnectionId, FieldTable, Input, Reply, ReplyCode,
};
use support::{declare, Harness};

/// A harness with connection 1 open, having agreed to `channel_max`.
fn connected(config: Config, channel_max: u16) -> Harness {
    let mut broker = Harness::new(config);
    broker
        .input(Input::Connect {
            conn: ConnectionId(1),
            user: "guest".into(),
            vhost: "/".into(),
            channel_max,
        })
        .assert_ok();
    broker
}

#[test]
fn channels_up_to_the_channel_max_the_connection_agreed_open() {
    let mut broker = connected(Config::default(), 3);
    for number in 1..=3 {
        let step = broker.open(1, number);
        assert_eq!(step.replies(1, number), vec![Reply::ChannelOpenOk]);
    }
}

#[test]
fn a_channel_above_the_channel_max_the_connection_agreed_closes_the_connection_with_530() {
    let mut broker = connected(Config::default(), 3);
    broker
        .open(1, 4)
        .assert_connection_error(ReplyCode::NotAllowed);
}

#[test]
fn a_connection_agreeing_to_more_channels_than_the_broker_offers_gets_the_brokers_channel_max() {
    let config = Config {
        channel_max: 2,
        ..Config::default()
    };
    let mut broker = connected(config, u16::MAX);
    broker.open(1, 2).assert_ok();
    broker
        .open(1, 3)
        .assert_connection_error(ReplyCode::NotAllowed);
}

#[test]
fn channel_0_is_the_connections_and_cannot_be_opened() {
    let mut broker = connected(Config::default(), 3);
    broker
        .open(1, 0)
        .assert_connection_error(ReplyCode::ChannelError);
}

#[test]
fn a_command_on_a_channel_never_opened_closes_the_connection_with_504() {
    let mut broker = connected(Config::default(), 3);
    broker
        .send(1, 2, declare("q", FieldTable::new()))
        .assert_connection_error(ReplyCode::ChannelError);
}

#[test]
fn after_the_broker_closes_a_channel_only_close_and_close_ok_are_heard() {
    let mut broker = connected(Config::default(), 3);
    broker.open(1, 1).assert_ok();
    broker
        .send(1, 1, support::passive_declare("missing"))
        .assert_channel_error(ReplyCode::NotFound);
    let ignored = broker.send(1, 1, declare("q", FieldTable::new()));
    assert!(ignored.outputs.is_empty(), "{ignored:#?}");
    let ignored = broker.open(1, 1);
    assert!(ignored.outputs.is_empty(), "channel.open before close-ok");
    broker.send(1, 1, Command::ChannelCloseOk).assert_ok();
    let reopened = broker.open(1, 1);
    assert_eq!(reopened.replies(1, 1), vec![Reply::ChannelOpenOk]);
}

#[test]
fn a_channel_close_crossing_the_brokers_close_is_answered_close_ok() {
    let mut broker = connected(Config::default(), 3);
    broker.open(1, 1).assert_ok();
    broker
        .send(1, 1, support::passive_declare("missing"))
        .assert_channel_error(ReplyCode::NotFound);
    let crossed = broker.send(1, 1, Command::ChannelClose);
    assert_eq!(crossed.replies(1, 1), vec![Reply::ChannelCloseOk]);
    let reopened = broker.input(Input::Command {
        conn: ConnectionId(1),
        channel: ChannelId(1),
        command: Command::ChannelOpen,
    });
    assert_eq!(reopened.replies(1, 1), vec![Reply::ChannelOpenOk]);
}
