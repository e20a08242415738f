//! Access control: whether a user may run a command on the exchanges and
//! queues it names, by the configure/write/read patterns of its vhost, as
//! RabbitMQ's access-control table says.
//!
//! The decision is the server's policy (users and their permissions are its
//! configuration); the core carries it out through `Input::Refused`, which
//! closes the channel with 403 ACCESS_REFUSED like any failed command. The
//! broker task checks each command just before handing it to the core, so
//! a queue named by the empty name resolves to the channel's last declared
//! queue exactly as the command itself would (`Broker::queue_named`).

use crate::users::{Operation, Permissions};
use brokerlab_core::{Broker, ChannelId, Command, ConnectionId};

/// A resource a command touches, and how.
struct Use {
    operation: Operation,
    kind: &'static str,
    name: String,
}

/// The refusal text if `user`, with these `permissions` on `vhost` (none:
/// nothing is allowed), may not run `command`.
#[must_use]
pub fn refusal(
    broker: &Broker,
    permissions: Option<&Permissions>,
    (user, vhost): (&str, &str),
    (conn, channel): (ConnectionId, ChannelId),
    command: &Command,
) -> Option<String> {
    let queue = |name: &str| {
        broker
            .queue_named(conn, channel, name)
            .map(|q| q.to_string())
    };
    let uses = uses(command, queue, &broker.next_server_named_queue());
    let denied = uses.into_iter().find(|used| {
        !permissions.is_some_and(|permissions| permissions.allows(used.operation, &used.name))
    })?;
    Some(format!(
        "ACCESS_REFUSED - access to {} '{}' in vhost '{vhost}' refused for user '{user}'",
        denied.kind, denied.name
    ))
}

/// What `command` configures, writes and reads, as RabbitMQ's table lists it.
/// A queue name that does not resolve is left out: the command fails on it
/// anyway. A server-named queue is checked under the name the declare will
/// give it, `server_named`, as RabbitMQ checks the generated name.
fn uses(command: &Command, queue: impl Fn(&str) -> Option<String>, server_named: &str) -> Vec<Use> {
    let exchange = |operation, name: &str| Use {
        operation,
        kind: "exchange",
        name: name.to_owned(),
    };
    let on_queue = |operation, name: Option<String>| {
        name.map(|name| Use {
            operation,
            kind: "queue",
            name,
        })
    };
    match command {
        Command::ExchangeDeclare {
            exchange: name,
            passive: false,
            ..
        }
        | Command::ExchangeDelete { exchange: name, .. } => {
            vec![exchange(Operation::Configure, name)]
        }
        Command::QueueDeclare {
            queue: name,
            passive: false,
            ..
        } => {
            let name = if name.is_empty() { server_named } else { name };
            vec![Use {
                operation: Operation::Configure,
                kind: "queue",
                name: name.to_owned(),
            }]
        }
        Command::QueueDelete { queue: name, .. } => on_queue(Operation::Configure, queue(name))
            .into_iter()
            .collect(),
        Command::QueueBind {
            queue: name,
            exchange: source,
            ..
        }
        | Command::QueueUnbind {
            queue: name,
            exchange: source,
            ..
        } => on_queue(Operation::Write, queue(name))
            .into_iter()
            .chain([exchange(Operation::Read, source)])
            .collect(),
        Command::ExchangeBind {
            destination,
            source,
            ..
        }
        | Command::ExchangeUnbind {
            destination,
            source,
            ..
        } => vec![
            exchange(Operation::Write, destination),
            exchange(Operation::Read, source),
        ],
        Command::BasicPublish { exchange: name, .. } => vec![exchange(Operation::Write, name)],
        Command::QueuePurge { queue: name, .. }
        | Command::BasicConsume { queue: name, .. }
        | Command::BasicGet { queue: name, .. } => {
            on_queue(Operation::Read, queue(name)).into_iter().collect()
        }
        _ => Vec::new(),
    }
}
