//! Exchanges, queues and bindings (SEMANTICS.md sections 1 and 2): the
//! predeclared exchanges and their matching rules, queue declare (passive,
//! exclusive, auto-delete, server-named), bind and unbind, purge and delete.

use super::{Binding, Fault, Model, Queue};
use brokerlab_core::args::QueueArgs;
use brokerlab_core::{FieldTable, Reply, ReplyCode};

/// The exchanges of the vhost: the predeclared ones, which cannot be deleted,
/// and nothing else (the model does not declare exchanges).
const EXCHANGES: [(&str, Kind); 6] = [
    ("", Kind::Direct),
    ("amq.direct", Kind::Direct),
    ("amq.fanout", Kind::Fanout),
    ("amq.topic", Kind::Topic),
    ("amq.headers", Kind::Headers),
    ("amq.match", Kind::Headers),
];

/// The queue arguments the broker knows; a redeclare compares exactly these.
const KNOWN_ARGUMENTS: [&str; 10] = [
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-single-active-consumer",
    "x-delivery-limit",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

/// The flags of a queue.declare.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
}

/// Whether the topic pattern (split in words) matches the key's words:
/// `*` is exactly one word, `#` zero or more.
fn topic_matches(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => {
            topic_matches(rest, key) || (!key.is_empty() && topic_matches(pattern, &key[1..]))
        }
        Some((&"*", rest)) => !key.is_empty() && topic_matches(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && topic_matches(rest, &key[1..]),
    }
}

/// A topic key's words: split on `.`, and the empty key has none.
fn words(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

fn kind_of(exchange: &str) -> Option<Kind> {
    EXCHANGES
        .iter()
        .find(|(name, _)| *name == exchange)
        .map(|(_, kind)| *kind)
}

/// A redeclare of an existing queue: 405 if it is another connection's
/// exclusive queue or the exclusive flag differs, 406 if another flag or a
/// known argument differs (an argument left out counts as different).
fn check_equivalent(
    queue: &Queue,
    conn: u64,
    flags: Flags,
    arguments: &FieldTable,
) -> Result<(), Fault> {
    match queue.owner {
        Some(owner) if owner != conn => return Err(ReplyCode::ResourceLocked),
        owner if owner.is_some() != flags.exclusive => return Err(ReplyCode::ResourceLocked),
        _ => {}
    }
    // RabbitMQ never makes an exclusive queue durable.
    let durable = flags.durable && !flags.exclusive;
    let equivalent = queue.durable == durable
        && queue.auto_delete == flags.auto_delete
        && KNOWN_ARGUMENTS
            .iter()
            .all(|arg| queue.declared.get(*arg) == arguments.get(*arg));
    if equivalent {
        Ok(())
    } else {
        Err(ReplyCode::PreconditionFailed)
    }
}

impl Model {
    /// Whether the exchange exists.
    pub fn exchange_exists(&self, exchange: &str) -> bool {
        kind_of(exchange).is_some()
    }

    /// The queues a message reaches, each once, in the core's slot order
    /// (the order in which the queues take it is a choice, not a rule).
    pub fn route(&self, exchange: &str, key: &str) -> Vec<u64> {
        let mut targets: Vec<(usize, u64)> = match kind_of(exchange) {
            None => Vec::new(),
            // The default exchange: every queue is bound under its own name.
            Some(_) if exchange.is_empty() => self
                .queues
                .iter()
                .filter(|queue| queue.name == key)
                .map(|queue| (queue.slot, queue.uid))
                .collect(),
            Some(kind) => self
                .bindings
                .iter()
                .filter(|binding| binding.exchange == exchange)
                .filter(|binding| match kind {
                    Kind::Direct => binding.key == key,
                    Kind::Fanout => true,
                    Kind::Topic => topic_matches(&words(&binding.key), &words(key)),
                    // Bindings carry no arguments here: `x-match` defaults to
                    // `all`, and `all` with no criteria matches every message.
                    Kind::Headers => true,
                })
                .map(|binding| (self.queue(binding.queue).unwrap().slot, binding.queue))
                .collect(),
        };
        targets.sort_unstable();
        targets.dedup();
        targets.into_iter().map(|(_, uid)| uid).collect()
    }

    pub fn queue(&self, uid: u64) -> Option<&Queue> {
        self.queues.iter().find(|queue| queue.uid == uid)
    }

    pub fn queue_mut(&mut self, uid: u64) -> &mut Queue {
        self.queues
            .iter_mut()
            .find(|queue| queue.uid == uid)
            .expect("the queue exists")
    }

    fn queue_named(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|queue| queue.name == name)
    }

    /// The queue a command names: empty means the channel's last declared queue.
    pub fn resolve(&self, conn: u64, number: u16, name: &str) -> Result<String, Fault> {
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
        let chan = self.chan(conn, number).expect("the channel is open");
        chan.last_queue.clone().ok_or(ReplyCode::NotFound)
    }

    /// The queue of that name, usable from this connection: 404 if missing,
    /// 405 if another connection's exclusive queue.
    pub fn find_queue(&self, conn: u64, name: &str) -> Result<u64, Fault> {
        let queue = self.queue_named(name).ok_or(ReplyCode::NotFound)?;
        match queue.owner {
            Some(owner) if owner != conn => Err(ReplyCode::ResourceLocked),
            _ => Ok(queue.uid),
        }
    }

    /// `resolve` then `find_queue`.
    pub fn lookup(&self, conn: u64, number: u16, name: &str) -> Result<u64, Fault> {
        let name = self.resolve(conn, number, name)?;
        self.find_queue(conn, &name)
    }

    fn declare_ok(&mut self, conn: u64, number: u16, uid: u64) {
        let queue = self.queue(uid).unwrap();
        let reply = Reply::QueueDeclareOk {
            queue: queue.name.as_str().into(),
            message_count: queue.ready.len() as u32,
            consumer_count: queue.consumers.len() as u32,
        };
        let name = queue.name.clone();
        self.chan_mut(conn, number).last_queue = Some(name);
        self.reply_other(conn, number, reply);
    }

    pub(super) fn declare(
        &mut self,
        conn: u64,
        number: u16,
        name: &str,
        passive: bool,
        flags: Flags,
        arguments: &FieldTable,
    ) -> Result<(), Fault> {
        if passive {
            // A passive declare names its queue literally: RabbitMQ expands an
            // empty name only for bind, unbind, purge, delete, consume and get.
            let uid = self.find_queue(conn, name)?;
            self.declare_ok(conn, number, uid);
            return Ok(());
        }
        // RabbitMQ checks the reserved prefix before it looks for the queue.
        if name.starts_with("amq.") {
            return Err(ReplyCode::AccessRefused);
        }
        // RabbitMQ never makes an exclusive queue durable.
        let durable = flags.durable && !flags.exclusive;
        if let Some(queue) = self.queue_named(name) {
            let uid = queue.uid;
            check_equivalent(queue, conn, flags, arguments)?;
            self.declare_ok(conn, number, uid);
            return Ok(());
        }
        let name = if name.is_empty() {
            self.generate_name("amq.gen-")
        } else {
            name.to_owned()
        };
        let args =
            QueueArgs::parse(arguments, &name, "/").map_err(|_| ReplyCode::PreconditionFailed)?;
        let uid = self.uid();
        let slot = self.allocate_slot();
        let declared = KNOWN_ARGUMENTS
            .iter()
            .filter_map(|arg| Some(((*arg).to_owned(), arguments.get(*arg)?.clone())))
            .collect();
        self.queues.push(Queue {
            uid,
            slot,
            name,
            owner: flags.exclusive.then_some(conn),
            durable,
            auto_delete: flags.auto_delete,
            declared,
            args,
            ready: Vec::new(),
            next_seq: 0,
            consumers: Vec::new(),
            cursor: 0,
        });
        if flags.exclusive {
            let owner = self.conns.iter_mut().find(|c| c.id == conn).unwrap();
            owner.exclusive.push(uid);
        }
        self.declare_ok(conn, number, uid);
        Ok(())
    }

    /// The core keeps queues in slots and reuses the most recently freed one
    /// first; several orders follow the slots (see `route`).
    fn allocate_slot(&mut self) -> usize {
        if let Some(slot) = self.free_slots.pop() {
            return slot;
        }
        self.slots_used += 1;
        self.slots_used - 1
    }

    pub(super) fn bind(
        &mut self,
        conn: u64,
        number: u16,
        queue: &str,
        exchange: &str,
        key: &str,
        bind: bool,
    ) -> Result<(), Fault> {
        // An empty queue name means the last declared queue, and then an
        // empty routing key means that queue's name too.
        let key = if queue.is_empty() && key.is_empty() {
            self.resolve(conn, number, queue)?
        } else {
            key.to_owned()
        };
        let name = self.resolve(conn, number, queue)?;
        if exchange.is_empty() {
            return Err(ReplyCode::AccessRefused);
        }
        if !self.exchange_exists(exchange) {
            return Err(ReplyCode::NotFound);
        }
        let uid = self.find_queue(conn, &name)?;
        let binding = Binding {
            exchange: exchange.to_owned(),
            queue: uid,
            key,
        };
        if bind {
            if !self.bindings.contains(&binding) {
                self.bindings.push(binding);
            }
            self.reply_other(conn, number, Reply::QueueBindOk);
        } else {
            // Unbinding a binding that does not exist is not an error.
            self.bindings.retain(|other| *other != binding);
            self.reply_other(conn, number, Reply::QueueUnbindOk);
        }
        Ok(())
    }

    /// queue.purge: removes the ready messages only.
    pub(super) fn purge(&mut self, conn: u64, number: u16, queue: &str) -> Result<(), Fault> {
        let uid = self.lookup(conn, number, queue)?;
        let ready = std::mem::take(&mut self.queue_mut(uid).ready);
        let reply = Reply::QueuePurgeOk {
            message_count: ready.len() as u32,
        };
        self.reply_other(conn, number, reply);
        Ok(())
    }

    /// queue.delete, with its if-unused and if-empty conditions.
    pub(super) fn delete(
        &mut self,
        conn: u64,
        number: u16,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<(), Fault> {
        let name = self.resolve(conn, number, queue)?;
        // Deleting a missing queue succeeds with a count of 0, as in RabbitMQ 3.x.
        if self.queue_named(&name).is_none() {
            let reply = Reply::QueueDeleteOk { message_count: 0 };
            self.reply_other(conn, number, reply);
            return Ok(());
        }
        let uid = self.find_queue(conn, &name)?;
        let queue = self.queue(uid).unwrap();
        if if_unused && !queue.consumers.is_empty() {
            return Err(ReplyCode::PreconditionFailed);
        }
        if if_empty && !queue.ready.is_empty() {
            return Err(ReplyCode::PreconditionFailed);
        }
        let message_count = self.delete_queue(uid, true);
        self.reply_other(conn, number, Reply::QueueDeleteOk { message_count });
        Ok(())
    }

    /// Deletes a queue: its consumers are cancelled (and told so when
    /// `notify`, in registration order), its ready messages dropped (deletion
    /// never dead-letters), its bindings removed. Returns its ready count.
    pub(super) fn delete_queue(&mut self, uid: u64, notify: bool) -> u32 {
        let consumers = self.queue(uid).unwrap().consumers.clone();
        for consumer in consumers {
            let position = self
                .consumers
                .iter()
                .position(|other| other.uid == consumer)
                .unwrap();
            let removed = self.consumers.remove(position);
            if notify {
                let reply = Reply::Cancel {
                    consumer_tag: removed.tag.as_str().into(),
                };
                self.reply_other(removed.conn, removed.channel, reply);
            }
        }
        let position = self.queues.iter().position(|q| q.uid == uid).unwrap();
        let queue = self.queues.remove(position);
        self.free_slots.push(queue.slot);
        for conn in &mut self.conns {
            conn.exclusive.retain(|other| *other != uid);
        }
        self.bindings.retain(|binding| binding.queue != uid);
        queue.ready.len() as u32
    }
}

impl Queue {
    /// The earliest expiry among the heads of its priority levels: only
    /// heads expire (SEMANTICS.md section 2).
    pub fn head_expiry_ms(&self) -> Option<u64> {
        self.head_positions()
            .filter_map(|index| self.ready[index].expires_at_ms)
            .min()
    }

    /// The position of an expired head at `now_ms`, the highest level first.
    pub fn expired_head(&self, now_ms: u64) -> Option<usize> {
        self.head_positions().find(|&index| {
            self.ready[index]
                .expires_at_ms
                .is_some_and(|at_ms| at_ms <= now_ms)
        })
    }

    /// Positions in `ready` of the head of each priority level, highest first.
    pub fn head_positions(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.ready.len())
            .filter(|&index| index == 0 || self.ready[index - 1].level != self.ready[index].level)
    }

    /// Puts an entry where it belongs: after every higher level and every
    /// earlier message of its level (a requeue goes back where it was).
    pub fn insert(&mut self, entry: super::Entry) {
        let position = self
            .ready
            .iter()
            .position(|other| {
                other.level < entry.level || (other.level == entry.level && other.seq > entry.seq)
            })
            .unwrap_or(self.ready.len());
        self.ready.insert(position, entry);
    }

    /// Ready body bytes.
    pub fn ready_bytes(&self) -> u64 {
        self.ready
            .iter()
            .map(|entry| entry.msg.body.len() as u64)
            .sum()
    }

    /// Over `x-max-length` or `x-max-length-bytes`.
    pub fn is_over_limit(&self) -> bool {
        self.args
            .max_length
            .is_some_and(|max| self.ready.len() as u64 > max)
            || self
                .args
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes() > max)
    }

    /// One more message of `size` bytes would put it over a limit.
    pub fn would_overflow(&self, size: u64) -> bool {
        self.args
            .max_length
            .is_some_and(|max| self.ready.len() as u64 >= max)
            || self
                .args
                .max_length_bytes
                .is_some_and(|max| self.ready_bytes() + size > max)
    }
}

#[test]
fn topic_matcher_holds_the_listed_cases() {
    let cases = [
        ("#", "", true),
        ("#.#", "", true),
        ("#.#.#", "", true),
        ("*", "", false),
        ("*.#", "", false),
        ("*.#", "oneword", true),
        ("#.*.#", "oneword", true),
        ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.y.b", true),
        ("#.b.#", "a.b", true),
        ("#.b.#", "a.b.c", true),
        ("#.b.#", "b.b.c", true),
        ("", "", true),
        ("", "a", false),
        ("a..b", "a..b", true),
        ("a.*.b", "a..b", true),
    ];
    for (pattern, key, expected) in cases {
        assert_eq!(
            topic_matches(&words(pattern), &words(key)),
            expected,
            "{pattern:?} -> {key:?}"
        );
    }
}
