//! The generator for the no-panic property: nearly anything the `Input`
//! type can hold (any command, exchange and transaction ones included, odd
//! names, over-long names, argument values of every type, huge tags and
//! bodies, unknown connections and channels) and clock moves long enough to
//! reach the default 30-minute consumer timeout. No model is involved.

use brokerlab_core::{
    ChannelId, Command, ConnectionId, FieldTable, FieldValue, Input, Properties, PublishProperties,
};
use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::Arc;

/// An input, or a clock move in ms.
#[derive(Clone, Debug)]
pub enum Wide {
    /// Feed this input.
    Input(Input),
    /// Move the clock forward by this many ms, firing each deadline on the way.
    Advance(u64),
}

/// A name or key: common ones, odd ones, and one over 255 bytes.
fn wide_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => select(vec![
            "", "q0", "q1", "x", "amq.direct", "amq.fanout", "amq.topic", "amq.headers",
            "amq.match", "amq.gen-1", "amq.ctag-1", "e1", "e2", "a.b", "#", "*",
        ])
        .prop_map(str::to_owned),
        1 => Just("n".repeat(256)),
        1 => "[a-z.#*]{0,6}",
    ]
    .boxed()
}

/// A field value of any type.
fn wide_value() -> BoxedStrategy<FieldValue> {
    prop_oneof![
        4 => (-3i64..400).prop_map(FieldValue::I64),
        1 => any::<i32>().prop_map(FieldValue::I32),
        1 => any::<u8>().prop_map(FieldValue::U8),
        1 => any::<bool>().prop_map(FieldValue::Bool),
        3 => select(vec![
            "drop-head", "reject-publish", "reject-publish-dlx", "all", "any", "all-with-x",
            "any-with-x", "bogus", "", "amq.fanout", "e1",
        ])
        .prop_map(FieldValue::string),
        1 => Just(FieldValue::Void),
        1 => any::<u64>().prop_map(FieldValue::F64),
        1 => Just(FieldValue::Array(vec![FieldValue::I64(1)])),
        1 => Just(FieldValue::Timestamp(1)),
    ]
    .boxed()
}

/// An argument table over the known arguments and a few others.
fn wide_table() -> BoxedStrategy<FieldTable> {
    let names = select(vec![
        "x-message-ttl",
        "x-expires",
        "x-max-length",
        "x-max-length-bytes",
        "x-overflow",
        "x-max-priority",
        "x-single-active-consumer",
        "x-delivery-limit",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-match",
        "h1",
        "x-other",
    ]);
    proptest::collection::btree_map(names.prop_map(str::to_owned), wide_value(), 0..4).boxed()
}

/// Properties with odd expirations, any priority, and headers.
fn wide_properties() -> BoxedStrategy<Properties> {
    (
        proptest::option::of(select(vec![
            "0",
            "1",
            "30",
            "abc",
            "-5",
            "+7",
            "99999999999999",
        ])),
        proptest::option::of(any::<u8>()),
        proptest::option::of(wide_table()),
        proptest::option::of(1u8..=2),
    )
        .prop_map(
            |(expiration, priority, headers, delivery_mode)| Properties {
                expiration: expiration.map(str::to_owned),
                priority,
                headers: headers.map(std::sync::Arc::new),
                delivery_mode,
                ..Properties::default()
            },
        )
        .boxed()
}

/// A delivery tag, small or huge.
fn wide_tag() -> BoxedStrategy<u64> {
    prop_oneof![6 => 0..12u64, 1 => Just(u64::MAX)].boxed()
}

/// exchange.declare, delete, bind and unbind.
fn wide_exchange_commands() -> BoxedStrategy<Command> {
    let kind =
        select(vec!["direct", "fanout", "topic", "headers", "bogus"]).prop_map(str::to_owned);
    prop_oneof![
        (wide_name(), kind, any::<[bool; 4]>(), wide_table()).prop_map(
            |(exchange, kind, [passive, durable, auto_delete, internal], arguments)| {
                Command::ExchangeDeclare {
                    exchange,
                    kind,
                    passive,
                    durable,
                    auto_delete,
                    internal,
                    arguments,
                }
            }
        ),
        (wide_name(), any::<bool>()).prop_map(|(exchange, if_unused)| Command::ExchangeDelete {
            exchange,
            if_unused
        }),
        (
            wide_name(),
            wide_name(),
            wide_name(),
            wide_table(),
            any::<bool>()
        )
            .prop_map(
                |(destination, source, routing_key, arguments, bind)| if bind {
                    Command::ExchangeBind {
                        destination,
                        source,
                        routing_key,
                        arguments,
                    }
                } else {
                    Command::ExchangeUnbind {
                        destination,
                        source,
                        routing_key,
                        arguments,
                    }
                }
            ),
    ]
    .boxed()
}

/// queue.declare, bind, unbind, purge and delete.
fn wide_queue_commands() -> BoxedStrategy<Command> {
    prop_oneof![
        (wide_name(), any::<[bool; 4]>(), wide_table()).prop_map(
            |(queue, [passive, durable, exclusive, auto_delete], arguments)| {
                Command::QueueDeclare {
                    queue,
                    passive,
                    durable,
                    exclusive,
                    auto_delete,
                    arguments,
                }
            }
        ),
        (
            wide_name(),
            wide_name(),
            wide_name(),
            wide_table(),
            any::<bool>()
        )
            .prop_map(|(queue, exchange, routing_key, arguments, bind)| if bind {
                Command::QueueBind {
                    queue,
                    exchange,
                    routing_key,
                    arguments,
                }
            } else {
                Command::QueueUnbind {
                    queue,
                    exchange,
                    routing_key,
                    arguments,
                }
            }),
        wide_name().prop_map(|queue| Command::QueuePurge { queue }),
        (wide_name(), any::<bool>(), any::<bool>()).prop_map(|(queue, if_unused, if_empty)| {
            Command::QueueDelete {
                queue,
                if_unused,
                if_empty,
            }
        }),
    ]
    .boxed()
}

/// The basic.* commands.
fn wide_basic_commands() -> BoxedStrategy<Command> {
    let body = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(Bytes::from),
        1 => Just(Bytes::from(vec![0u8; 70_000])),
    ];
    prop_oneof![
        4 => (wide_name(), wide_name(), any::<bool>(), proptest::bool::weighted(0.05), wide_properties(), body, proptest::bool::weighted(0.2))
            .prop_map(|(exchange, routing_key, mandatory, immediate, properties, body, repeat)| {
                Command::BasicPublish {
                    exchange: exchange.into(),
                    routing_key: routing_key.into(),
                    mandatory,
                    immediate,
                    properties: match repeat {
                        true => PublishProperties::Repeated,
                        false => Arc::new(properties).into(),
                    },
                    body,
                }
            }),
        2 => (wide_name(), wide_name(), any::<bool>(), any::<bool>()).prop_map(
            |(queue, consumer_tag, no_ack, exclusive)| Command::BasicConsume {
                queue,
                consumer_tag,
                no_ack,
                exclusive,
                arguments: FieldTable::new(),
            }
        ),
        1 => wide_name().prop_map(|consumer_tag| Command::BasicCancel { consumer_tag }),
        2 => (wide_name(), any::<bool>()).prop_map(|(queue, no_ack)| Command::BasicGet { queue, no_ack }),
        1 => (prop_oneof![9 => Just(0u32), 1 => any::<u32>()], 0..4u16, any::<bool>()).prop_map(
            |(prefetch_size, prefetch_count, global)| Command::BasicQos {
                prefetch_size,
                prefetch_count,
                global,
            }
        ),
        2 => (wide_tag(), any::<bool>())
            .prop_map(|(delivery_tag, multiple)| Command::BasicAck { delivery_tag, multiple }),
        1 => (wide_tag(), any::<bool>(), any::<bool>()).prop_map(
            |(delivery_tag, multiple, requeue)| Command::BasicNack {
                delivery_tag,
                multiple,
                requeue,
            }
        ),
        1 => (wide_tag(), any::<bool>())
            .prop_map(|(delivery_tag, requeue)| Command::BasicReject { delivery_tag, requeue }),
        1 => any::<bool>().prop_map(|requeue| Command::BasicRecover { requeue }),
    ]
    .boxed()
}

/// Channel, confirm and transaction commands.
fn wide_session_commands() -> BoxedStrategy<Command> {
    select(vec![
        Command::ChannelOpen,
        Command::ChannelOpen,
        Command::ChannelClose,
        Command::ChannelCloseOk,
        Command::ConfirmSelect,
        Command::TxSelect,
        Command::TxCommit,
        Command::TxRollback,
    ])
    .boxed()
}

/// Nearly anything an `Input` can hold, and clock moves long enough to reach
/// the default 30-minute consumer timeout.
pub fn wide_inputs() -> BoxedStrategy<Vec<Wide>> {
    let conn = prop_oneof![8 => 0..3u64, 1 => Just(u64::MAX)].prop_map(ConnectionId);
    let channel =
        prop_oneof![12 => 0..4u16, 1 => Just(2048u16), 1 => Just(u16::MAX)].prop_map(ChannelId);
    let command = prop_oneof![
        3 => wide_session_commands(),
        2 => wide_exchange_commands(),
        4 => wide_queue_commands(),
        8 => wide_basic_commands(),
    ];
    let wide = prop_oneof![
        2 => (conn.clone(), prop_oneof![6 => Just("/"), 1 => Just("other")]).prop_map(
            |(conn, vhost)| Wide::Input(Input::Connect {
                conn,
                user: "guest".to_owned(),
                vhost: vhost.to_owned(),
                channel_max: u16::MAX,
            })
        ),
        1 => conn.clone().prop_map(|conn| Wide::Input(Input::Disconnect { conn })),
        1 => Just(Wide::Input(Input::Timeout)),
        2 => prop_oneof![4 => 0..200u64, 1 => Just(1_900_000u64), 1 => Just(u64::from(u32::MAX))]
            .prop_map(Wide::Advance),
        20 => (conn, channel, command).prop_map(|(conn, channel, command)| {
            Wide::Input(Input::Command { conn, channel, command })
        }),
    ];
    proptest::collection::vec(wide, 1..=80).boxed()
}
