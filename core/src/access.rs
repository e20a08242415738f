//! Access control: whether a connection's user may run a command on the
//! exchanges and queues it names, by the configure, write and read patterns
//! the user holds on the connection's vhost, as RabbitMQ's access-control
//! table says (declare and delete configure; publish and the queue end of a
//! binding write; consume, get, purge and the source of a binding read).
//!
//! Who the user is (the password) is the driver's to check; what the user
//! may do is the broker's rule, so the simulator and the models can check a
//! refusal like any other reply. A refused command closes its channel with
//! 403 ACCESS_REFUSED, worded as RabbitMQ words it.

use crate::broker::REPLY_QUEUE;
use crate::protocol::Command;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The pattern that admits every resource; a user with it for all three
/// operations needs no check at all.
const ALL_RESOURCES: &str = ".*";

/// What an operation does to a resource, in RabbitMQ's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Create, delete or change (declare, delete).
    Configure,
    /// Put messages in (publish to an exchange, bind a queue: its destination).
    Write,
    /// Take messages out (consume, get, purge, the source of a binding).
    Read,
}

/// A permission pattern: a regular expression, matched unanchored as
/// RabbitMQ matches it, and compared by its text.
#[derive(Clone)]
struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    fn new(source: &str) -> Result<Pattern, PatternError> {
        let regex = regex::Regex::new(source).map_err(|error| PatternError(error.to_string()))?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// The empty pattern admits nothing, as in RabbitMQ (an empty regular
    /// expression would match every name).
    fn admits(&self, name: &str) -> bool {
        self.source == ALL_RESOURCES || (!self.source.is_empty() && self.regex.is_match(name))
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Hash for Pattern {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

/// A permission pattern that is not a regular expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

/// A user's configure, write and read patterns on one vhost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Permissions {
    configure: Pattern,
    write: Pattern,
    read: Pattern,
}

impl Permissions {
    /// Permissions from RabbitMQ's three regular expressions.
    pub fn new(configure: &str, write: &str, read: &str) -> Result<Permissions, PatternError> {
        Ok(Permissions {
            configure: Pattern::new(configure)?,
            write: Pattern::new(write)?,
            read: Pattern::new(read)?,
        })
    }

    /// `.*` for all three: everything is allowed.
    #[must_use]
    pub fn all() -> Permissions {
        Permissions::new(ALL_RESOURCES, ALL_RESOURCES, ALL_RESOURCES)
            .expect("'.*' is a regular expression")
    }

    /// Empty patterns: nothing is allowed (a user without an entry).
    #[must_use]
    pub fn none() -> Permissions {
        Permissions::new("", "", "").expect("'' is a regular expression")
    }

    /// Whether `operation` on the resource `name` is allowed (an exchange or
    /// a queue: RabbitMQ's patterns do not tell them apart).
    #[must_use]
    pub fn allows(&self, operation: Operation, name: &str) -> bool {
        match operation {
            Operation::Configure => self.configure.admits(name),
            Operation::Write => self.write.admits(name),
            Operation::Read => self.read.admits(name),
        }
    }

    /// Whether all three patterns are `.*`: nothing needs checking.
    #[must_use]
    pub fn admits_everything(&self) -> bool {
        [&self.configure, &self.write, &self.read]
            .iter()
            .all(|pattern| pattern.source == ALL_RESOURCES)
    }
}

/// Who may do what where: each user's permissions on each vhost. A user
/// without an entry for a vhost may do nothing there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access {
    grants: BTreeMap<(String, String), Permissions>,
}

impl Access {
    /// Gives `user` these permissions on `vhost`.
    pub fn grant(&mut self, user: &str, vhost: &str, permissions: Permissions) {
        self.grants
            .insert((user.to_owned(), vhost.to_owned()), permissions);
    }

    /// `user`'s permissions on `vhost`, if it has an entry there.
    #[must_use]
    pub fn permissions(&self, user: &str, vhost: &str) -> Option<&Permissions> {
        self.grants.get(&(user.to_owned(), vhost.to_owned()))
    }
}

/// A resource a command touches, and how.
pub(crate) struct Use<'a> {
    pub(crate) operation: Operation,
    pub(crate) kind: &'static str,
    pub(crate) name: &'a str,
}

/// What `command` configures, writes and reads, as RabbitMQ's table lists
/// it. `queue` resolves a queue name as the command would (the empty name
/// is the channel's last declared queue); a name that does not resolve is
/// left out, since the command fails on it anyway. A server-named queue is
/// checked under the name the declare will give it, `server_named`, as
/// RabbitMQ checks the generated name.
pub(crate) fn uses<'a>(
    command: &'a Command,
    queue: Option<&'a str>,
    server_named: &'a str,
) -> [Option<Use<'a>>; 2] {
    let on = |operation, kind, name| {
        Some(Use {
            operation,
            kind,
            name,
        })
    };
    let on_queue = |operation| queue.and_then(|queue| on(operation, "queue", queue));
    match command {
        Command::ExchangeDeclare {
            exchange,
            passive: false,
            ..
        }
        | Command::ExchangeDelete { exchange, .. } => {
            [on(Operation::Configure, "exchange", exchange), None]
        }
        // Direct reply-to's names are no queues: RabbitMQ checks no
        // permission to declare them (every such declare is passive) or to
        // consume from the pseudo-queue.
        Command::QueueDeclare { queue: name, .. } if name.starts_with(REPLY_QUEUE) => [None, None],
        Command::BasicConsume { .. } if queue == Some(REPLY_QUEUE) => [None, None],
        Command::QueueDeclare {
            queue: name,
            passive: false,
            ..
        } => {
            let name = if name.is_empty() { server_named } else { name };
            [on(Operation::Configure, "queue", name), None]
        }
        Command::QueueDelete { .. } => [on_queue(Operation::Configure), None],
        Command::QueueBind { exchange, .. } | Command::QueueUnbind { exchange, .. } => [
            on_queue(Operation::Write),
            on(Operation::Read, "exchange", exchange),
        ],
        Command::ExchangeBind {
            destination,
            source,
            ..
        }
        | Command::ExchangeUnbind {
            destination,
            source,
            ..
        } => [
            on(Operation::Write, "exchange", destination),
            on(Operation::Read, "exchange", source),
        ],
        Command::BasicPublish { exchange, .. } => {
            [on(Operation::Write, "exchange", exchange), None]
        }
        Command::QueuePurge { .. } | Command::BasicConsume { .. } | Command::BasicGet { .. } => {
            [on_queue(Operation::Read), None]
        }
        _ => [None, None],
    }
}

/// The queue a command names, if it names one.
pub(crate) fn named_queue(command: &Command) -> Option<&str> {
    match command {
        Command::QueueDelete { queue, .. }
        | Command::QueueBind { queue, .. }
        | Command::QueueUnbind { queue, .. }
        | Command::QueuePurge { queue, .. }
        | Command::BasicConsume { queue, .. }
        | Command::BasicGet { queue, .. } => Some(queue),
        _ => None,
    }
}

impl crate::Broker {
    /// The permissions a connection of `user` on `vhost` runs with: `None`
    /// without access control or when they allow everything; nothing at all
    /// for a user without an entry there.
    pub(crate) fn restrictions_of(
        &self,
        user: &str,
        vhost: &str,
    ) -> Option<std::sync::Arc<Permissions>> {
        let access = self.config().access.as_ref()?;
        match access.permissions(user, vhost) {
            Some(permissions) if permissions.admits_everything() => None,
            Some(permissions) => Some(std::sync::Arc::new(permissions.clone())),
            None => Some(std::sync::Arc::new(Permissions::none())),
        }
    }
}
