//! Routing: the bindings of one exchange and the matching rule of its type.
//!
//! A binding is identified, as in RabbitMQ, by its destination, its routing key
//! and its arguments, whatever the exchange type: two bindings that differ only
//! in arguments are two bindings. `Bindings` keeps that canonical set and,
//! beside it, an index shaped for the exchange type, and updates both together:
//!
//! - direct: destinations by exact routing key;
//! - fanout: every destination;
//! - topic: a trie over the dot-separated words of the binding patterns, with
//!   `*` and `#` as edges of their own, so a publish walks only the branches its
//!   words can take instead of testing every binding;
//! - headers: the parsed `x-match` rule and criteria of each binding, scanned in
//!   full on every publish, as RabbitMQ does.
//!
//! The index is canonical: it depends only on the set of bindings, never on the
//! order they were added or removed in (lists are kept sorted, trie nodes that
//! no binding needs are pruned), so two exchanges with the same bindings compare
//! equal and hash alike, which the model checker relies on.
//!
//! Routing pushes one entry per matching binding: a destination bound several
//! times appears several times, and the caller sorts and deduplicates.

mod headers;
mod topic;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::arena::{Arena, Id};
use crate::field::FieldTable;
use crate::protocol::ExchangeKind;

use headers::HeadersBinding;
use topic::{topic_words, TopicMatch, TopicNode};

/// How a publish is matched against bindings: the rules as they are
/// (`Default`), or with one deliberately broken for a mutant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteRules {
    /// A topic `#` takes one or more words (the `topic-hash-needs-a-word`
    /// mutant), not zero or more.
    pub(crate) hash_needs_a_word: bool,
    /// A publish to a fanout exchange reaches only the first of its
    /// queues (the `fanout-to-one-queue` mutant; applied by the broker,
    /// which sees the queues an exchange's bindings lead to).
    pub(crate) fanout_to_one_queue: bool,
}

/// A topic exchange's bindings on their own: the trie the broker routes
/// every topic publish through, without the broker around it. For benches
/// that time routing alone, and for embedders who want AMQP topic matching.
#[derive(Clone, Debug)]
pub struct TopicRouter {
    bindings: Bindings,
    /// The caller's destination numbers, as the trie's destinations.
    ids: Arena<u32>,
    by_number: BTreeMap<u32, Id>,
    scratch: Vec<Destination>,
}

impl Default for TopicRouter {
    fn default() -> TopicRouter {
        TopicRouter::new()
    }
}

impl TopicRouter {
    /// No bindings.
    #[must_use]
    pub fn new() -> TopicRouter {
        TopicRouter {
            bindings: Bindings::new(ExchangeKind::Topic),
            ids: Arena::default(),
            by_number: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Binds `pattern` (words split by `.`, `*` one word, `#` zero or more)
    /// to destination `to`, a number of the caller's choosing; false if
    /// that binding existed.
    pub fn bind(&mut self, pattern: &str, to: u32) -> bool {
        let ids = &mut self.ids;
        let id = *self.by_number.entry(to).or_insert_with(|| ids.insert(to));
        self.bindings
            .add(Destination::Queue(id), pattern, &FieldTable::new())
    }

    /// Replaces `out` with the destinations `routing_key` matches, sorted,
    /// each once: what the broker computes for a publish to a topic exchange.
    pub fn route(&mut self, routing_key: &str, out: &mut Vec<u32>) {
        self.scratch.clear();
        self.bindings
            .route(routing_key, None, &mut self.scratch, RouteRules::default());
        out.clear();
        out.extend(self.scratch.iter().map(|destination| match destination {
            Destination::Queue(id) | Destination::Exchange(id) => self.ids[*id],
        }));
        out.sort_unstable();
        out.dedup();
    }
}

/// Where a binding leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Destination {
    /// A queue.
    Queue(Id),
    /// Another exchange (RabbitMQ's exchange-to-exchange binding).
    Exchange(Id),
}

/// Which exchanges have bindings to each destination, and how many: the
/// reverse of every exchange's [`Bindings`], so that deleting a queue or an
/// exchange visits only the exchanges bound to it, not every exchange of
/// its vhost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct BindingSources(BTreeMap<Destination, BTreeMap<Id, u32>>);

impl BindingSources {
    /// `source` gained a binding to `destination`.
    pub(crate) fn bound(&mut self, source: Id, destination: Destination) {
        *self
            .0
            .entry(destination)
            .or_default()
            .entry(source)
            .or_default() += 1;
    }

    /// `source` lost `count` bindings to `destination`.
    pub(crate) fn unbound(&mut self, source: Id, destination: Destination, count: u32) {
        let sources = self
            .0
            .get_mut(&destination)
            .expect("an unbound destination had bindings");
        let bindings = sources
            .get_mut(&source)
            .expect("an unbound source had bindings");
        assert!(
            *bindings >= count,
            "a source loses no more bindings than it had"
        );
        *bindings -= count;
        if *bindings == 0 {
            sources.remove(&source);
            if sources.is_empty() {
                self.0.remove(&destination);
            }
        }
    }

    /// Forgets `destination` (it is being deleted); returns the exchanges
    /// that had bindings to it and how many, in id order.
    pub(crate) fn take(&mut self, destination: Destination) -> BTreeMap<Id, u32> {
        self.0.remove(&destination).unwrap_or_default()
    }

    /// Every (destination, source, count) in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Destination, Id, u32)> + '_ {
        self.0.iter().flat_map(|(&destination, sources)| {
            sources
                .iter()
                .map(move |(&source, &count)| (destination, source, count))
        })
    }
}

/// The bindings of one exchange, indexed for its type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bindings {
    /// Every binding, as the client named it.
    all: BTreeSet<Binding>,
    /// The same bindings, shaped for routing by the exchange type.
    index: Index,
}

/// One binding's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Binding {
    /// Where it leads; first, so the bindings of one destination are adjacent.
    destination: Destination,
    /// The binding key (a pattern for topic exchanges).
    routing_key: String,
    /// The binding arguments.
    arguments: FieldTable,
}

/// The routing index of one exchange type. Every list is sorted and holds one
/// entry per binding, so it is a canonical multiset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Index {
    /// Destinations by exact routing key; no key maps to an empty list.
    Direct(BTreeMap<String, Vec<Destination>>),
    /// Every destination.
    Fanout(Vec<Destination>),
    /// The root of the pattern trie.
    Topic(TopicNode),
    /// The parsed rule of every binding.
    Headers(Vec<HeadersBinding>),
}

impl Bindings {
    /// An exchange of `kind` with no bindings.
    pub(crate) fn new(kind: ExchangeKind) -> Bindings {
        let index = match kind {
            // A saga exchange routes nothing; its bindings are kept as a
            // direct exchange's.
            ExchangeKind::Direct | ExchangeKind::Saga => Index::Direct(BTreeMap::new()),
            ExchangeKind::Fanout => Index::Fanout(Vec::new()),
            ExchangeKind::Topic => Index::Topic(TopicNode::default()),
            ExchangeKind::Headers => Index::Headers(Vec::new()),
        };
        Bindings {
            all: BTreeSet::new(),
            index,
        }
    }

    /// Checks binding arguments for this exchange type: for headers, `x-match`
    /// must be absent or a string among all, any, all-with-x, any-with-x; the
    /// error is RabbitMQ's 406 reply text.
    pub(crate) fn validate_arguments(
        kind: ExchangeKind,
        arguments: &FieldTable,
    ) -> Result<(), String> {
        if kind != ExchangeKind::Headers {
            return Ok(());
        }
        headers::validate_arguments(arguments)
    }

    /// Adds a binding; false if an identical binding (destination, key,
    /// arguments) existed. The arguments must have passed `validate_arguments`.
    pub(crate) fn add(
        &mut self,
        destination: Destination,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> bool {
        debug_assert!(
            Self::validate_arguments(self.kind(), arguments).is_ok(),
            "binding arguments are validated before they are added"
        );
        let binding = Binding {
            destination,
            routing_key: routing_key.to_owned(),
            arguments: arguments.clone(),
        };
        if self.all.contains(&binding) {
            return false;
        }
        self.index.add(&binding);
        self.all.insert(binding);
        true
    }

    /// Removes a binding; false if there was none.
    pub(crate) fn remove(
        &mut self,
        destination: Destination,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> bool {
        let binding = Binding {
            destination,
            routing_key: routing_key.to_owned(),
            arguments: arguments.clone(),
        };
        if !self.all.remove(&binding) {
            return false;
        }
        self.index.remove(&binding);
        true
    }

    /// Removes every binding to `destination` (its queue or exchange was
    /// deleted); returns how many.
    pub(crate) fn remove_destination(&mut self, destination: Destination) -> usize {
        let doomed: Vec<Binding> = self.bindings_to(destination).cloned().collect();
        for binding in &doomed {
            let removed = self.all.remove(binding);
            assert!(removed, "a binding just listed is in the set");
            self.index.remove(binding);
        }
        doomed.len()
    }

    /// Whether the exchange has no bindings.
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The trie nodes a topic publish with `routing_key` visits (0 for other types).
    #[cfg(test)]
    pub(crate) fn topic_visits(&self, routing_key: &str) -> usize {
        match &self.index {
            Index::Topic(root) => TopicMatch::run(root, routing_key, &mut Vec::new(), 0),
            _ => 0,
        }
    }

    /// Appends every destination the message matches to `out`, once per
    /// matching binding (the caller sorts and deduplicates). `headers` is the
    /// message's `headers` property; only headers exchanges read it.
    pub(crate) fn route(
        &self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
        rules: RouteRules,
    ) {
        match &self.index {
            Index::Direct(by_key) => {
                if let Some(destinations) = by_key.get(routing_key) {
                    out.extend_from_slice(destinations);
                }
            }
            Index::Fanout(destinations) => out.extend_from_slice(destinations),
            Index::Topic(root) => {
                let hash_min = usize::from(rules.hash_needs_a_word);
                TopicMatch::run(root, routing_key, out, hash_min);
            }
            Index::Headers(rules) => {
                let empty = FieldTable::new();
                let headers = headers.unwrap_or(&empty);
                out.extend(
                    rules
                        .iter()
                        .filter(|rule| rule.matches(headers))
                        .map(|rule| rule.destination),
                );
            }
        }
    }

    /// The exchange type this index serves.
    fn kind(&self) -> ExchangeKind {
        match self.index {
            Index::Direct(_) => ExchangeKind::Direct,
            Index::Fanout(_) => ExchangeKind::Fanout,
            Index::Topic(_) => ExchangeKind::Topic,
            Index::Headers(_) => ExchangeKind::Headers,
        }
    }

    /// The bindings to `destination`, which are adjacent in the set because
    /// the destination orders first.
    /// Every binding, as (destination, routing key, arguments), in a fixed order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Destination, &str, &FieldTable)> {
        self.all.iter().map(|binding| {
            (
                binding.destination,
                binding.routing_key.as_str(),
                &binding.arguments,
            )
        })
    }

    fn bindings_to(&self, destination: Destination) -> impl Iterator<Item = &Binding> {
        // The empty key and the empty table are the smallest of their types, so
        // this is the first possible binding to `destination`.
        let first = Binding {
            destination,
            routing_key: String::new(),
            arguments: FieldTable::new(),
        };
        self.all
            .range((Bound::Included(first), Bound::Unbounded))
            .take_while(move |binding| binding.destination == destination)
    }
}

impl Index {
    /// Indexes a binding that is not yet in the canonical set.
    fn add(&mut self, binding: &Binding) {
        let destination = binding.destination;
        match self {
            Index::Direct(by_key) => {
                insert_sorted(
                    by_key.entry(binding.routing_key.clone()).or_default(),
                    destination,
                );
            }
            Index::Fanout(destinations) => insert_sorted(destinations, destination),
            Index::Topic(root) => root.add(topic_words(&binding.routing_key), destination),
            Index::Headers(rules) => {
                insert_sorted(rules, HeadersBinding::new(destination, &binding.arguments));
            }
        }
    }

    /// Unindexes a binding that was in the canonical set, pruning what it
    /// alone needed.
    fn remove(&mut self, binding: &Binding) {
        let destination = binding.destination;
        match self {
            Index::Direct(by_key) => {
                let key = binding.routing_key.as_str();
                let destinations = by_key
                    .get_mut(key)
                    .expect("a bound key is in the direct index");
                remove_sorted(destinations, &destination);
                if destinations.is_empty() {
                    by_key.remove(key);
                }
            }
            Index::Fanout(destinations) => remove_sorted(destinations, &destination),
            Index::Topic(root) => root.remove(topic_words(&binding.routing_key), destination),
            Index::Headers(rules) => {
                remove_sorted(rules, &HeadersBinding::new(destination, &binding.arguments));
            }
        }
    }
}

/// Inserts `item` into a sorted list that may hold equal items.
fn insert_sorted<T: Ord>(list: &mut Vec<T>, item: T) {
    let at = list.partition_point(|existing| *existing <= item);
    list.insert(at, item);
}

/// Removes one `item` from a sorted list; the index mirrors the canonical set,
/// so a binding being removed is always there.
fn remove_sorted<T: Ord>(list: &mut Vec<T>, item: &T) {
    let at = list
        .binary_search(item)
        .expect("the index holds every binding of the set");
    list.remove(at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::Arena;
    use crate::field::FieldValue;

    /// `count` distinct queue destinations.
    pub(super) fn queues(count: usize) -> Vec<Destination> {
        let mut arena = Arena::default();
        (0..count)
            .map(|_| Destination::Queue(arena.insert(())))
            .collect()
    }

    /// A field table from name/value pairs.
    pub(super) fn table(fields: &[(&str, FieldValue)]) -> FieldTable {
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    /// The sorted destinations a message reaches, duplicates kept.
    pub(super) fn routed(
        bindings: &Bindings,
        key: &str,
        headers: Option<&FieldTable>,
    ) -> Vec<Destination> {
        let mut out = Vec::new();
        bindings.route(key, headers, &mut out, RouteRules::default());
        out.sort();
        out
    }

    /// Whether any binding of `bindings` leads to `destination`.
    fn binds_to(bindings: &Bindings, destination: Destination) -> bool {
        bindings.bindings_to(destination).next().is_some()
    }

    #[test]
    fn direct_routes_on_the_exact_key_only() {
        let q = queues(3);
        let mut bindings = Bindings::new(ExchangeKind::Direct);
        bindings.add(q[0], "a.b", &FieldTable::new());
        bindings.add(q[1], "a", &FieldTable::new());
        bindings.add(q[2], "", &FieldTable::new());
        assert_eq!(routed(&bindings, "a.b", None), [q[0]]);
        assert_eq!(routed(&bindings, "a", None), [q[1]]);
        assert_eq!(routed(&bindings, "", None), [q[2]]);
        for key in ["A.B", "a.*", "a.#", "#", "a.b.c", "b"] {
            assert_eq!(routed(&bindings, key, None), [], "key {key:?}");
        }
    }

    #[test]
    fn direct_key_routes_to_every_destination_bound_with_it() {
        let q = queues(2);
        let mut bindings = Bindings::new(ExchangeKind::Direct);
        bindings.add(q[1], "k", &FieldTable::new());
        bindings.add(q[0], "k", &FieldTable::new());
        assert_eq!(routed(&bindings, "k", None), [q[0], q[1]]);
    }

    #[test]
    fn bindings_differing_only_in_arguments_are_distinct() {
        let q = queues(1)[0];
        let other = table(&[("x-any", FieldValue::I32(1))]);
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
        ] {
            let mut bindings = Bindings::new(kind);
            assert!(bindings.add(q, "k", &FieldTable::new()));
            assert!(bindings.add(q, "k", &other));
            assert_eq!(bindings.all.len(), 2);
            assert_eq!(routed(&bindings, "k", None), [q, q], "{kind:?}");
            assert!(bindings.remove(q, "k", &other));
            assert_eq!(routed(&bindings, "k", None), [q], "{kind:?}");
        }
    }

    #[test]
    fn fanout_ignores_the_routing_key() {
        let q = queues(2);
        let mut bindings = Bindings::new(ExchangeKind::Fanout);
        bindings.add(q[0], "", &FieldTable::new());
        bindings.add(q[1], "some.key", &FieldTable::new());
        for key in ["", "some.key", "other", "#"] {
            assert_eq!(routed(&bindings, key, None), [q[0], q[1]], "key {key:?}");
        }
    }

    #[test]
    fn add_reports_duplicates_and_remove_reports_missing_bindings() {
        let q = queues(2);
        let arguments = table(&[("x-match", FieldValue::string("any"))]);
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
            ExchangeKind::Headers,
        ] {
            let mut bindings = Bindings::new(kind);
            assert!(bindings.is_empty());
            assert!(bindings.add(q[0], "a.b", &arguments));
            assert!(!bindings.add(q[0], "a.b", &arguments), "{kind:?}");
            assert_eq!(bindings.all.len(), 1);
            assert!(!bindings.remove(q[1], "a.b", &arguments), "{kind:?}");
            assert!(!bindings.remove(q[0], "a.c", &arguments), "{kind:?}");
            assert!(
                !bindings.remove(q[0], "a.b", &FieldTable::new()),
                "{kind:?}"
            );
            assert!(bindings.remove(q[0], "a.b", &arguments));
            assert!(!bindings.remove(q[0], "a.b", &arguments), "{kind:?}");
            assert!(bindings.is_empty());
        }
    }

    /// A mix of bindings that shares keys, prefixes and destinations.
    fn mixed_bindings(q: &[Destination]) -> Vec<(Destination, &'static str, FieldTable)> {
        let any = table(&[
            ("x-match", FieldValue::string("any")),
            ("h", FieldValue::I32(1)),
        ]);
        let all = table(&[("h", FieldValue::Void)]);
        vec![
            (q[0], "a.b.c", FieldTable::new()),
            (q[1], "a.b", FieldTable::new()),
            (q[1], "a.*.c", all.clone()),
            (q[2], "a.#", any.clone()),
            (q[2], "#.c", FieldTable::new()),
            (q[0], "", FieldTable::new()),
            (q[1], "#.#", FieldTable::new()),
            (q[2], "a..b", all),
            (q[0], "*", any),
        ]
    }

    #[test]
    fn removing_every_binding_restores_the_empty_structure() {
        let q = queues(3);
        let mixed = mixed_bindings(&q);
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
            ExchangeKind::Headers,
        ] {
            let mut bindings = Bindings::new(kind);
            for (destination, key, arguments) in &mixed {
                assert!(bindings.add(*destination, key, arguments));
            }
            assert_eq!(bindings.all.len(), mixed.len());
            for (destination, key, arguments) in mixed.iter().rev() {
                assert!(bindings.remove(*destination, key, arguments));
            }
            assert_eq!(bindings, Bindings::new(kind), "{kind:?}");
        }
    }

    #[test]
    fn structure_depends_only_on_the_set_of_bindings() {
        let q = queues(3);
        let mixed = mixed_bindings(&q);
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
            ExchangeKind::Headers,
        ] {
            let mut forward = Bindings::new(kind);
            let mut backward = Bindings::new(kind);
            for (destination, key, arguments) in &mixed {
                forward.add(*destination, key, arguments);
            }
            // Backward also passes through an extra binding, added then removed.
            backward.add(q[0], "a.b.c.d", &FieldTable::new());
            for (destination, key, arguments) in mixed.iter().rev() {
                backward.add(*destination, key, arguments);
            }
            backward.remove(q[0], "a.b.c.d", &FieldTable::new());
            assert_eq!(forward, backward, "{kind:?}");
        }
    }

    #[test]
    fn remove_destination_removes_every_binding_to_it() {
        let mut arena = Arena::default();
        let queue = Destination::Queue(arena.insert(()));
        let exchange = Destination::Exchange(arena.insert(()));
        let kept = Destination::Queue(arena.insert(()));
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
            ExchangeKind::Headers,
        ] {
            let mut bindings = Bindings::new(kind);
            let mut expected = Bindings::new(kind);
            for (index, (_, key, arguments)) in mixed_bindings(&[queue; 3]).iter().enumerate() {
                bindings.add(queue, key, arguments);
                let survivor = if index % 2 == 0 { kept } else { exchange };
                bindings.add(survivor, key, arguments);
                expected.add(survivor, key, arguments);
            }
            assert!(binds_to(&bindings, queue));
            assert_eq!(
                bindings.remove_destination(queue),
                mixed_bindings(&[queue; 3]).len()
            );
            assert!(!binds_to(&bindings, queue), "{kind:?}");
            assert!(binds_to(&bindings, kept) && binds_to(&bindings, exchange));
            assert_eq!(bindings, expected, "{kind:?}");
            assert_eq!(bindings.remove_destination(queue), 0);
        }
    }
}
