//! The generator of structured runs: steps over the model's small universe,
//! valid and invalid commands mixed (unknown delivery tags, missing queues
//! and exchanges, unopened or closed channels, reused consumer tags, closed
//! connections, bad arguments), weighted so that most runs keep channels and
//! consumers alive long enough for messages to flow.

use super::steps::{Arg, Args, Cmd, Step, Tag};
use brokerlab_core::args::QueueArgs;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

/// Queue names: three plain ones, the "last declared" shortcut, and two
/// server-generated names (reserved `amq.` names).
const QUEUES: [&str; 6] = ["q0", "q1", "q2", "", "amq.gen-1", "amq.gen-2"];
const QUEUE_WEIGHTS: [u32; 6] = [10, 8, 4, 2, 1, 1];

/// One of `values`, with the matching weight.
fn pick(values: &'static [&'static str], weights: &'static [u32]) -> BoxedStrategy<&'static str> {
    let arms = values
        .iter()
        .zip(weights)
        .map(|(value, weight)| (*weight, Just(*value).boxed()))
        .collect();
    Union::new_weighted(arms).boxed()
}

/// A queue name for the commands that use a queue.
fn queue() -> BoxedStrategy<&'static str> {
    pick(&QUEUES, &QUEUE_WEIGHTS)
}

/// Queue names for declares: the plain names more often, so that queues exist.
fn declared_queue() -> BoxedStrategy<&'static str> {
    pick(&QUEUES, &[8, 6, 3, 3, 1, 1])
}

/// One of the two connections.
fn conn() -> BoxedStrategy<u64> {
    (1..=2u64).boxed()
}

/// Channels 1 and 2 (opened at the start), rarely 0 (the connection's own,
/// never a channel) or 3 (never opened): those two close the connection.
fn channel() -> BoxedStrategy<u16> {
    prop_oneof![100 => Just(1u16), 80 => Just(2u16), 1 => Just(0u16), 1 => Just(3u16)].boxed()
}

/// An `x-message-ttl` value, sometimes negative or of the wrong type.
fn ttl() -> BoxedStrategy<Arg> {
    prop_oneof![
        3 => select(vec![0i64, 10, 20, 50]).prop_map(Arg::Int),
        1 => Just(Arg::Int(-1)),
        1 => Just(Arg::Text("10")),
    ]
    .boxed()
}

/// An integer argument, usually one of `valid`.
fn small_int(valid: Vec<i64>, invalid: Vec<i64>) -> BoxedStrategy<Arg> {
    prop_oneof![
        4 => select(valid).prop_map(Arg::Int),
        1 => select(invalid).prop_map(Arg::Int),
    ]
    .boxed()
}

/// A string argument.
fn text(values: Vec<&'static str>) -> BoxedStrategy<Arg> {
    select(values).prop_map(Arg::Text).boxed()
}

/// Any combination of the modelled arguments, invalid values included.
fn random_args() -> BoxedStrategy<Args> {
    (
        proptest::option::weighted(0.3, ttl()),
        proptest::option::weighted(0.3, small_int(vec![0, 1, 2], vec![-1])),
        proptest::option::weighted(
            0.25,
            text(vec![
                "drop-head",
                "reject-publish",
                "reject-publish-dlx",
                "bogus",
            ]),
        ),
        proptest::option::weighted(0.25, small_int(vec![0, 2, 5], vec![300])),
        proptest::option::weighted(
            0.3,
            text(vec!["", "amq.direct", "amq.fanout", "amq.topic", "nope"]),
        ),
        proptest::option::weighted(0.2, text(vec!["q0", "q1", "q2", "a", "a.b"])),
        proptest::option::weighted(0.2, small_int(vec![0, 1, 2], vec![-2])),
        proptest::bool::weighted(0.1),
    )
        .prop_map(
            |(ttl, max_length, overflow, max_priority, dlx, dlrk, limit, unknown)| Args {
                ttl,
                max_length,
                overflow,
                max_priority,
                dead_letter_exchange: dlx,
                dead_letter_routing_key: dlrk,
                delivery_limit: limit,
                unknown,
            },
        )
        .boxed()
}

/// A few fixed argument sets, so that redeclares are often equivalent and
/// the interesting queue kinds (TTL with dead-lettering, bounded, priority,
/// delivery-limited) come up in most runs.
fn preset_args() -> BoxedStrategy<Args> {
    let none = Args::default();
    let presets = vec![
        none.clone(),
        none.clone(),
        none.clone(),
        Args {
            ttl: Some(Arg::Int(20)),
            dead_letter_exchange: Some(Arg::Text("amq.fanout")),
            ..none.clone()
        },
        Args {
            ttl: Some(Arg::Int(0)),
            dead_letter_exchange: Some(Arg::Text("")),
            dead_letter_routing_key: Some(Arg::Text("q2")),
            ..none.clone()
        },
        Args {
            max_length: Some(Arg::Int(1)),
            dead_letter_exchange: Some(Arg::Text("amq.topic")),
            ..none.clone()
        },
        Args {
            max_length: Some(Arg::Int(1)),
            overflow: Some(Arg::Text("reject-publish")),
            ..none.clone()
        },
        Args {
            max_length: Some(Arg::Int(2)),
            overflow: Some(Arg::Text("reject-publish-dlx")),
            dead_letter_exchange: Some(Arg::Text("amq.fanout")),
            ..none.clone()
        },
        Args {
            max_priority: Some(Arg::Int(5)),
            ..none.clone()
        },
        Args {
            delivery_limit: Some(Arg::Int(1)),
            dead_letter_exchange: Some(Arg::Text("amq.direct")),
            dead_letter_routing_key: Some(Arg::Text("a")),
            ..none.clone()
        },
        Args {
            ttl: Some(Arg::Int(50)),
            max_priority: Some(Arg::Int(2)),
            dead_letter_exchange: Some(Arg::Text("amq.fanout")),
            ..none
        },
    ];
    select(presets).boxed()
}

/// How a queue name is declared: flags and arguments.
#[derive(Clone, Debug)]
struct Profile {
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    args: Args,
}

/// A queue's profile for a run; its arguments are valid (the ad-hoc
/// declares bring the invalid ones).
fn profile() -> BoxedStrategy<Profile> {
    let valid = random_args()
        .prop_filter("valid arguments", |args| {
            QueueArgs::parse(&args.table(), "q", "/").is_ok()
        })
        .boxed();
    (
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.15),
        proptest::bool::weighted(0.15),
        prop_oneof![4 => preset_args(), 1 => valid],
    )
        .prop_map(|(durable, exclusive, auto_delete, args)| Profile {
            durable,
            exclusive,
            auto_delete,
            args,
        })
        .boxed()
}

fn declare() -> BoxedStrategy<Cmd> {
    let args = prop_oneof![4 => preset_args(), 1 => random_args()];
    (
        declared_queue(),
        proptest::bool::weighted(0.1),
        profile(),
        args,
    )
        .prop_map(|(queue, passive, profile, args)| Cmd::Declare {
            queue,
            passive,
            durable: profile.durable,
            exclusive: profile.exclusive,
            auto_delete: profile.auto_delete,
            args,
        })
        .boxed()
}

/// The step with a declare of q0, q1 or q2 using that name's profile for
/// the run, so that most redeclares are equivalent.
fn with_profile(step: Step, profiles: &[Profile]) -> Step {
    let Step::Send {
        conn,
        channel,
        command:
            Cmd::Declare {
                queue,
                passive: false,
                ..
            },
    } = step
    else {
        return step;
    };
    let Some(index) = ["q0", "q1", "q2"].iter().position(|name| *name == queue) else {
        return step;
    };
    let profile = profiles[index].clone();
    let command = Cmd::Declare {
        queue,
        passive: false,
        durable: profile.durable,
        exclusive: profile.exclusive,
        auto_delete: profile.auto_delete,
        args: profile.args,
    };
    Step::Send {
        conn,
        channel,
        command,
    }
}

const BIND_EXCHANGES: [&str; 6] = [
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "",
    "nope",
];
const BIND_EXCHANGE_WEIGHTS: [u32; 6] = [4, 3, 5, 1, 1, 1];
const BIND_KEYS: [&str; 10] = ["q0", "a", "a.b", "#", "*", "a.*", "a.#", "*.b", "#.b", ""];
const BIND_KEY_WEIGHTS: [u32; 10] = [2, 3, 2, 2, 2, 2, 2, 1, 1, 2];

/// A (queue, exchange, binding key) for bind and unbind.
fn binding() -> BoxedStrategy<(&'static str, &'static str, &'static str)> {
    (
        queue(),
        pick(&BIND_EXCHANGES, &BIND_EXCHANGE_WEIGHTS),
        pick(&BIND_KEYS, &BIND_KEY_WEIGHTS),
    )
        .boxed()
}

const EXCHANGES: [&str; 5] = [
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "nope",
];
const EXCHANGE_WEIGHTS: [u32; 5] = [3, 3, 4, 1, 1];
const KEYS: [&str; 8] = ["a", "a.b", "a.b.c", "b", "", "q0", "q1", "q2"];
const KEY_WEIGHTS: [u32; 8] = [4, 3, 1, 1, 1, 1, 1, 1];

/// An exchange with a routing key: mostly the default exchange with a
/// queue name, else a predeclared (or missing) exchange with a word key.
fn destination() -> BoxedStrategy<(&'static str, &'static str)> {
    prop_oneof![
        5 => (Just(""), pick(&QUEUES, &[8, 6, 4, 1, 1, 1])),
        1 => (Just(""), pick(&KEYS, &KEY_WEIGHTS)),
        4 => (pick(&EXCHANGES, &EXCHANGE_WEIGHTS), pick(&KEYS, &KEY_WEIGHTS)),
    ]
    .boxed()
}

/// A basic.publish, with an expiration (sometimes invalid) and a priority now and then.
fn publish() -> BoxedStrategy<Cmd> {
    let expiration = prop_oneof![
        12 => Just(None),
        6 => select(vec!["0", "5", "20", "100"]).prop_map(Some),
        1 => select(vec!["abc", "-1"]).prop_map(Some),
    ];
    let priority = prop_oneof![3 => Just(None), 2 => select(vec![0u8, 1, 3, 9]).prop_map(Some)];
    (
        destination(),
        proptest::bool::weighted(0.3),
        expiration,
        priority,
        select(vec!["a", "bb", "", "ccc"]),
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            |((exchange, key), mandatory, expiration, priority, body, repeat)| Cmd::Publish {
                exchange,
                key,
                mandatory,
                // A repeat carries the channel's last properties, not these.
                expiration: expiration.filter(|_| !repeat),
                priority: priority.filter(|_| !repeat),
                body,
                repeat,
            },
        )
        .boxed()
}

/// Delivery tags: mostly an outstanding one, sometimes 0 (with multiple:
/// every outstanding one) or a literal that may be unknown or settled.
fn delivery_tag() -> BoxedStrategy<Tag> {
    prop_oneof![
        12 => (0..4usize).prop_map(Tag::Outstanding),
        1 => Just(Tag::Literal(0)),
        2 => (1..=9u64).prop_map(Tag::Literal),
    ]
    .boxed()
}

/// Channel, queue and qos commands, with their weights. The channel ones
/// (open, close, close-ok), which close the connection when sent at the
/// wrong time, are the rarest.
fn setup_commands() -> Vec<(u32, BoxedStrategy<Cmd>)> {
    let bind = |(queue, exchange, key)| Cmd::Bind {
        queue,
        exchange,
        key,
    };
    let unbind = |(queue, exchange, key)| Cmd::Unbind {
        queue,
        exchange,
        key,
    };
    let delete = (
        queue(),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(queue, if_unused, if_empty)| Cmd::Delete {
            queue,
            if_unused,
            if_empty,
        });
    let count = prop_oneof![2 => Just(0u16), 4 => Just(1u16), 3 => Just(2u16), 1 => Just(3u16)];
    let qos = (
        prop_oneof![20 => Just(0u32), 1 => Just(1u32)],
        count,
        any::<bool>(),
    )
        .prop_map(|(size, count, global)| Cmd::Qos {
            size,
            count,
            global,
        });
    vec![
        (1, Just(Cmd::Open).boxed()),
        (1, Just(Cmd::Close).boxed()),
        (1, Just(Cmd::CloseOk).boxed()),
        (20, declare()),
        (16, binding().prop_map(bind).boxed()),
        (2, binding().prop_map(unbind).boxed()),
        (2, queue().prop_map(|queue| Cmd::Purge { queue }).boxed()),
        (2, delete.boxed()),
        (8, qos.boxed()),
        (4, Just(Cmd::ConfirmSelect).boxed()),
    ]
}

/// Publish, consume, get and settle commands, with their weights.
fn message_commands() -> Vec<(u32, BoxedStrategy<Cmd>)> {
    let consume = (
        queue(),
        pick(&["", "c1", "c2"], &[2, 3, 2]),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(queue, tag, no_ack, exclusive)| Cmd::Consume {
            queue,
            tag,
            no_ack,
            exclusive,
        });
    let cancel = select(vec!["c1", "c2", "amq.ctag-1", "amq.ctag-2", "x"])
        .prop_map(|tag| Cmd::Cancel { tag });
    let get = (queue(), proptest::bool::weighted(0.3))
        .prop_map(|(queue, no_ack)| Cmd::Get { queue, no_ack });
    let ack = (delivery_tag(), proptest::bool::weighted(0.3))
        .prop_map(|(tag, multiple)| Cmd::Ack { tag, multiple });
    let nack = (delivery_tag(), proptest::bool::weighted(0.3), any::<bool>()).prop_map(
        |(tag, multiple, requeue)| Cmd::Nack {
            tag,
            multiple,
            requeue,
        },
    );
    let reject =
        (delivery_tag(), any::<bool>()).prop_map(|(tag, requeue)| Cmd::Reject { tag, requeue });
    let recover = proptest::bool::weighted(0.9).prop_map(|requeue| Cmd::Recover { requeue });
    vec![
        (32, publish()),
        (10, consume.boxed()),
        (2, cancel.boxed()),
        (6, get.boxed()),
        (12, ack.boxed()),
        (6, nack.boxed()),
        (6, reject.boxed()),
        (2, recover.boxed()),
    ]
}

/// Any command of the universe.
fn command() -> BoxedStrategy<Cmd> {
    let mut arms = setup_commands();
    arms.extend(message_commands());
    Union::new_weighted(arms).boxed()
}

/// One step of a structured run. Reopen and reconnect are there so that a
/// run goes on after the broker closed a channel or a connection.
pub fn step() -> BoxedStrategy<Step> {
    prop_oneof![
        1 => conn().prop_map(Step::Connect),
        1 => conn().prop_map(Step::Disconnect),
        1 => conn().prop_map(Step::Reconnect),
        2 => (conn(), channel()).prop_map(|(conn, channel)| Step::Reopen { conn, channel }),
        6 => Just(Step::Heal),
        5 => select(vec![1u64, 5, 10, 20, 50, 100]).prop_map(Step::Advance),
        60 => (conn(), channel(), command())
            .prop_map(|(conn, channel, command)| Step::Send { conn, channel, command }),
    ]
    .boxed()
}

/// How a run starts: q0, q1 and q2 declared (with the run's profiles), q0
/// bound to amq.topic with `a.#` and q1 to amq.fanout, a consumer on q0, and
/// confirms on c2/ch1, so that messages and dead letters have somewhere to
/// go. Shrinking may drop these steps like any other.
fn opening() -> Vec<(Step, bool)> {
    let send = |conn, channel, command| {
        (
            Step::Send {
                conn,
                channel,
                command,
            },
            true,
        )
    };
    let declare = |queue| Cmd::Declare {
        queue,
        passive: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        args: Args::default(),
    };
    let bind = |queue, exchange, key| Cmd::Bind {
        queue,
        exchange,
        key,
    };
    vec![
        send(1, 1, declare("q0")),
        send(2, 1, declare("q1")),
        send(2, 2, declare("q2")),
        send(1, 1, bind("q0", "amq.topic", "a.#")),
        send(2, 1, bind("q1", "amq.fanout", "")),
        send(
            1,
            1,
            Cmd::Consume {
                queue: "q0",
                tag: "c1",
                no_ack: false,
                exclusive: false,
            },
        ),
        send(2, 1, Cmd::ConfirmSelect),
    ]
}

/// A structured run of up to 60 steps. Each of q0, q1 and q2 gets a profile
/// for the run, which three declares in four use.
pub fn steps() -> BoxedStrategy<Vec<Step>> {
    let steps = proptest::collection::vec((step(), proptest::bool::weighted(0.75)), 1..=53);
    (proptest::collection::vec(profile(), 3), steps)
        .prop_map(move |(profiles, steps)| {
            opening()
                .into_iter()
                .chain(steps)
                .map(|(step, usual)| {
                    if usual {
                        with_profile(step, &profiles)
                    } else {
                        step
                    }
                })
                .collect()
        })
        .boxed()
}
