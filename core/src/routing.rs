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
//! A topic publish splits its key once, hashes each word once, and then looks
//! edges up by hash; the walk visits each trie node at most once per word
//! position (see `TopicMatch`), so patterns with several `#` cost work in
//! proportion to nodes times words rather than exponential backtracking. Binding
//! keys are AMQP short strings (at most 255 bytes), which bounds the trie depth
//! and with it the recursion of a walk.
//!
//! Routing pushes one entry per matching binding: a destination bound several
//! times appears several times, and the caller sorts and deduplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::arena::Id;
use crate::field::{FieldTable, FieldValue};
use crate::protocol::ExchangeKind;

/// The binding argument that selects the headers-exchange matching rule.
const X_MATCH: &str = "x-match";

/// Nested `#` nodes remembered on the stack during one topic match before the
/// memo spills to the heap; few patterns have more than one `#`.
const MEMO_INLINE: usize = 16;

/// Routing-key words split on the stack during one topic match before the
/// split spills to the heap; AMQP keys are at most 255 bytes, and most have a
/// handful of words.
const KEY_WORDS_INLINE: usize = 16;

/// Where a binding leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Destination {
    /// A queue.
    Queue(Id),
    /// Another exchange (RabbitMQ's exchange-to-exchange binding).
    Exchange(Id),
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
            ExchangeKind::Direct => Index::Direct(BTreeMap::new()),
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
        match arguments.get(X_MATCH) {
            None => Ok(()),
            Some(value) if MatchMode::parse(value).is_some() => Ok(()),
            Some(value) => Err(invalid_x_match(value)),
        }
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

    /// How many bindings the exchange has.
    #[allow(
        dead_code,
        reason = "routing API kept for the broker; so far only tests call it"
    )]
    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether any binding leads to `destination`.
    #[allow(
        dead_code,
        reason = "routing API kept for the broker; so far only tests call it"
    )]
    pub(crate) fn has_destination(&self, destination: Destination) -> bool {
        self.bindings_to(destination).next().is_some()
    }

    /// Appends every destination the message matches to `out`, once per
    /// matching binding (the caller sorts and deduplicates). `headers` is the
    /// message's `headers` property; only headers exchanges read it.
    pub(crate) fn route(
        &self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        match &self.index {
            Index::Direct(by_key) => {
                if let Some(destinations) = by_key.get(routing_key) {
                    out.extend_from_slice(destinations);
                }
            }
            Index::Fanout(destinations) => out.extend_from_slice(destinations),
            Index::Topic(root) => TopicMatch::run(root, routing_key, out),
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

/// The words of a topic routing key or pattern: none for the empty key,
/// otherwise the parts between dots, empty ones included (`a..b` is three).
fn topic_words(key: &str) -> impl Iterator<Item = &str> {
    (!key.is_empty())
        .then(|| key.split('.'))
        .into_iter()
        .flatten()
}

/// A node of the topic trie: the patterns that end here and the edges onward.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct TopicNode {
    /// One entry per binding whose pattern ends at this node, sorted.
    destinations: Vec<Destination>,
    /// Edges for literal words.
    literal: WordMap<TopicNode>,
    /// The edge for `*`, which takes exactly one word.
    star: Option<Box<TopicNode>>,
    /// The edge for `#`, which takes zero or more words.
    hash: Option<Box<TopicNode>>,
}

impl TopicNode {
    /// Whether nothing ends at or passes through this node (it can be pruned).
    fn is_empty(&self) -> bool {
        self.destinations.is_empty()
            && self.literal.is_empty()
            && self.star.is_none()
            && self.hash.is_none()
    }

    /// Adds a binding along the path of `words`, creating missing nodes.
    fn add<'k>(&mut self, words: impl Iterator<Item = &'k str>, destination: Destination) {
        let mut node = self;
        for word in words {
            node = match word {
                "*" => node.star.get_or_insert_with(Box::default).as_mut(),
                "#" => node.hash.get_or_insert_with(Box::default).as_mut(),
                _ => node.literal.entry(word, word_hash(word)),
            };
        }
        insert_sorted(&mut node.destinations, destination);
    }

    /// Removes a binding along the path of `words` and prunes the nodes left
    /// empty, so the trie only ever holds paths of live bindings.
    fn remove<'k>(&mut self, mut words: impl Iterator<Item = &'k str>, destination: Destination) {
        const LIVE: &str = "the trie holds the path of every bound pattern";
        match words.next() {
            None => remove_sorted(&mut self.destinations, &destination),
            Some("*") => {
                let child = self.star.as_mut().expect(LIVE);
                child.remove(words, destination);
                if child.is_empty() {
                    self.star = None;
                }
            }
            Some("#") => {
                let child = self.hash.as_mut().expect(LIVE);
                child.remove(words, destination);
                if child.is_empty() {
                    self.hash = None;
                }
            }
            Some(word) => {
                let hash = word_hash(word);
                let child = self.literal.get_mut(word, hash).expect(LIVE);
                child.remove(words, destination);
                if child.is_empty() {
                    self.literal.remove(word, hash);
                }
            }
        }
    }
}

/// Values by word, bucketed by a fixed hash of the word so that a lookup
/// compares integers rather than strings. Canonical: the hash and the order
/// within a bucket depend only on the words.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct WordMap<T> {
    /// Entries by `word_hash`; each bucket is sorted by word and never empty.
    buckets: BTreeMap<u64, Vec<(Box<str>, T)>>,
}

impl<T> Default for WordMap<T> {
    fn default() -> Self {
        WordMap {
            buckets: BTreeMap::new(),
        }
    }
}

impl<T: Default> WordMap<T> {
    /// Whether the map has no entries.
    fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The value for `word`, given its `word_hash`.
    fn get(&self, word: &str, hash: u64) -> Option<&T> {
        let bucket = self.buckets.get(&hash)?;
        let at = bucket
            .binary_search_by(|(entry, _)| (**entry).cmp(word))
            .ok()?;
        Some(&bucket[at].1)
    }

    /// The value for `word`, given its `word_hash`, mutably.
    fn get_mut(&mut self, word: &str, hash: u64) -> Option<&mut T> {
        let bucket = self.buckets.get_mut(&hash)?;
        let at = bucket
            .binary_search_by(|(entry, _)| (**entry).cmp(word))
            .ok()?;
        Some(&mut bucket[at].1)
    }

    /// The value for `word`, given its `word_hash`, inserted as the default
    /// if missing.
    fn entry(&mut self, word: &str, hash: u64) -> &mut T {
        let bucket = self.buckets.entry(hash).or_default();
        let at = match bucket.binary_search_by(|(entry, _)| (**entry).cmp(word)) {
            Ok(at) => at,
            Err(at) => {
                bucket.insert(at, (word.into(), T::default()));
                at
            }
        };
        &mut bucket[at].1
    }

    /// Removes the entry for `word`, given its `word_hash`; it must exist.
    fn remove(&mut self, word: &str, hash: u64) {
        let bucket = self.buckets.get_mut(&hash).expect("the word is in the map");
        let at = bucket
            .binary_search_by(|(entry, _)| (**entry).cmp(word))
            .expect("the word is in its bucket");
        bucket.remove(at);
        if bucket.is_empty() {
            self.buckets.remove(&hash);
        }
    }
}

/// An incremental word hash: FxHash's mixing over little-endian 8-byte lanes,
/// with the length folded in last. It is fixed (the same on every run and
/// platform), so the index stays deterministic, and costs one multiply per
/// eight bytes. Collisions are harmless: such words only share a bucket.
#[derive(Clone, Copy)]
struct WordHasher {
    /// The mixed full lanes.
    hash: u64,
    /// The bytes of the lane being filled.
    lane: u64,
    /// How many bits of `lane` are filled.
    shift: u32,
}

impl WordHasher {
    /// FxHash's multiplier.
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

    /// A hasher that has seen no bytes.
    const fn new() -> WordHasher {
        WordHasher {
            hash: 0,
            lane: 0,
            shift: 0,
        }
    }

    /// Mixes a value into a hash.
    fn mix(hash: u64, value: u64) -> u64 {
        (hash.rotate_left(5) ^ value).wrapping_mul(Self::MULTIPLIER)
    }

    /// Adds the next byte of the word.
    fn push(&mut self, byte: u8) {
        self.lane |= u64::from(byte) << self.shift;
        self.shift += 8;
        if self.shift == 64 {
            self.hash = Self::mix(self.hash, self.lane);
            self.lane = 0;
            self.shift = 0;
        }
    }

    /// The hash of the bytes pushed so far.
    fn finish(self) -> u64 {
        Self::mix(Self::mix(self.hash, self.lane), u64::from(self.shift))
    }
}

/// The hash of a whole word, as `KeyWords` computes it byte by byte.
fn word_hash(word: &str) -> u64 {
    let mut hasher = WordHasher::new();
    word.bytes().for_each(|byte| hasher.push(byte));
    hasher.finish()
}

/// The words of one routing key with their hashes, split once per publish;
/// on the stack for keys of up to `KEY_WORDS_INLINE` words.
struct KeyWords<'k> {
    /// The words while they fit.
    inline: [(&'k str, u64); KEY_WORDS_INLINE],
    /// All the words, once there are more than fit inline.
    spill: Vec<(&'k str, u64)>,
    /// How many words the key has.
    len: usize,
}

impl<'k> KeyWords<'k> {
    /// Splits `key` into words as `topic_words` does and hashes them as
    /// `word_hash` does, in one pass over the bytes: this runs per publish.
    fn new(key: &'k str) -> KeyWords<'k> {
        let mut words = KeyWords {
            inline: [("", 0); KEY_WORDS_INLINE],
            spill: Vec::new(),
            len: 0,
        };
        if key.is_empty() {
            return words;
        }
        let mut start = 0;
        let mut hasher = WordHasher::new();
        for (at, &byte) in key.as_bytes().iter().enumerate() {
            if byte == b'.' {
                words.push(&key[start..at], hasher.finish());
                start = at + 1;
                hasher = WordHasher::new();
            } else {
                hasher.push(byte);
            }
        }
        words.push(&key[start..], hasher.finish());
        words
    }

    /// Appends a word and its hash.
    fn push(&mut self, word: &'k str, hash: u64) {
        if self.len < KEY_WORDS_INLINE {
            self.inline[self.len] = (word, hash);
        } else {
            if self.len == KEY_WORDS_INLINE {
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push((word, hash));
        }
        self.len += 1;
    }

    /// The word at `index` (below `len`) and its hash.
    fn get(&self, index: usize) -> (&'k str, u64) {
        if self.len <= KEY_WORDS_INLINE {
            self.inline[index]
        } else {
            self.spill[index]
        }
    }
}

/// One walk of the topic trie for one routing key.
///
/// A position is the index of the next key word to match, from 0 to the word
/// count (every word taken); positions only grow along a walk. Each trie node
/// is visited at most once per position: a node with no `#` above it can only
/// be reached at one position, and a `#` node below another `#` remembers the
/// lowest position it was entered at, since entering at a position covers every
/// later one. That bounds the work by nodes times words, where plain
/// backtracking is exponential in the number of `#`s, and means each matching
/// binding is pushed exactly once.
struct TopicMatch<'t, 'o> {
    /// The routing key's words.
    words: KeyWords<'t>,
    /// Where matching destinations go.
    out: &'o mut Vec<Destination>,
    /// Entry positions of nested `#` nodes.
    memo: HashMemo,
}

impl<'t> TopicMatch<'t, '_> {
    /// Pushes the destinations of every pattern in the trie at `root` that
    /// matches `key`.
    fn run(root: &'t TopicNode, key: &'t str, out: &mut Vec<Destination>) {
        let mut walk = TopicMatch {
            words: KeyWords::new(key),
            out,
            memo: HashMemo::new(),
        };
        walk.visit(root, 0, false);
    }

    /// Matches the key words from `position` on against the patterns below
    /// `node`; `under_hash` says whether a `#` edge leads to `node`.
    fn visit(&mut self, node: &'t TopicNode, position: usize, under_hash: bool) {
        if position == self.words.len {
            self.out.extend_from_slice(&node.destinations);
        } else {
            let (word, hash) = self.words.get(position);
            if let Some(child) = node.literal.get(word, hash) {
                self.visit(child, position + 1, under_hash);
            }
            if let Some(child) = &node.star {
                self.visit(child, position + 1, under_hash);
            }
        }
        if let Some(child) = &node.hash {
            self.visit_hash(child, position, under_hash);
        }
    }

    /// Enters the `#` node `hash` at `position`: the `#` takes zero words, then
    /// one, and so on up to all of the rest.
    fn visit_hash(&mut self, hash: &'t TopicNode, position: usize, under_hash: bool) {
        // A `#` with no `#` above it is entered once, so it needs no memo.
        let stop = if under_hash {
            match self.memo.enter(hash, position) {
                Some(stop) => stop,
                None => return,
            }
        } else {
            usize::MAX
        };
        for at in position..stop.min(self.words.len + 1) {
            self.visit(hash, at, true);
        }
    }
}

/// The lowest position each nested `#` node was entered at during one walk,
/// on the stack while few, so a typical publish does not allocate.
struct HashMemo {
    /// The first entries, `inline_len` of them live.
    inline: [(*const TopicNode, usize); MEMO_INLINE],
    /// How many `inline` entries are live.
    inline_len: usize,
    /// The entries beyond the inline ones.
    spill: BTreeMap<*const TopicNode, usize>,
}

impl HashMemo {
    /// An empty memo.
    fn new() -> HashMemo {
        HashMemo {
            inline: [(std::ptr::null(), 0); MEMO_INLINE],
            inline_len: 0,
            spill: BTreeMap::new(),
        }
    }

    /// Records entering `node` at `position`. Returns the position the walk
    /// must stop before (the previous lowest entry, whose walk covered all
    /// later positions), or None when an earlier entry already covered this one.
    fn enter(&mut self, node: &TopicNode, position: usize) -> Option<usize> {
        let node: *const TopicNode = node;
        let live = &mut self.inline[..self.inline_len];
        if let Some(entry) = live.iter_mut().find(|(seen, _)| *seen == node) {
            return lower_entry(&mut entry.1, position);
        }
        if let Some(lowest) = self.spill.get_mut(&node) {
            return lower_entry(lowest, position);
        }
        if self.inline_len < MEMO_INLINE {
            self.inline[self.inline_len] = (node, position);
            self.inline_len += 1;
        } else {
            self.spill.insert(node, position);
        }
        Some(usize::MAX)
    }
}

/// Lowers a memo entry to `position`; see [`HashMemo::enter`].
fn lower_entry(lowest: &mut usize, position: usize) -> Option<usize> {
    (position < *lowest).then(|| std::mem::replace(lowest, position))
}

/// The headers-exchange rule of one binding, parsed once at bind time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct HeadersBinding {
    /// Where a match leads.
    destination: Destination,
    /// `all`/`all-with-x` (every criterion) rather than `any`/`any-with-x` (one).
    require_all: bool,
    /// The arguments compared with the headers: never `x-match`, and `x-`
    /// arguments only in the `-with-x` modes.
    criteria: FieldTable,
}

impl HeadersBinding {
    /// Parses a binding's arguments.
    fn new(destination: Destination, arguments: &FieldTable) -> HeadersBinding {
        // RabbitMQ treats an unknown x-match as `all` (bindings from before it
        // validated); ours are validated, so this only matters in principle.
        let mode = arguments
            .get(X_MATCH)
            .and_then(MatchMode::parse)
            .unwrap_or(MatchMode::All);
        let with_x = matches!(mode, MatchMode::AllWithX | MatchMode::AnyWithX);
        let criteria = arguments
            .iter()
            .filter(|(name, _)| *name != X_MATCH && (with_x || !name.starts_with("x-")))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let require_all = matches!(mode, MatchMode::All | MatchMode::AllWithX);
        HeadersBinding {
            destination,
            require_all,
            criteria,
        }
    }

    /// Whether a message with these headers matches: `all` with no criteria
    /// matches everything, `any` with none matches nothing.
    fn matches(&self, headers: &FieldTable) -> bool {
        let mut criteria = self.criteria.iter();
        if self.require_all {
            criteria.all(|(name, expected)| header_matches(headers.get(name), expected))
        } else {
            criteria.any(|(name, expected)| header_matches(headers.get(name), expected))
        }
    }
}

/// Whether a header satisfies one criterion: a void criterion asks only that
/// the header be present; any other needs the same type and the same value.
fn header_matches(header: Option<&FieldValue>, expected: &FieldValue) -> bool {
    match header {
        None => false,
        Some(_) if *expected == FieldValue::Void => true,
        Some(actual) => same_value(actual, expected),
    }
}

/// Whether two header values are equal as RabbitMQ compares them (Erlang's
/// `==` on the values without their AMQP types, since RabbitMQ 3.6): integers
/// of any width and timestamps compare by number, integers and floats
/// numerically, long strings and byte arrays by bytes; anything else must be
/// the same variant with the same content. A string never equals a number.
fn same_value(actual: &FieldValue, expected: &FieldValue) -> bool {
    match (number(actual), number(expected)) {
        (Some(Number::Integer(a)), Some(Number::Integer(b))) => return a == b,
        (Some(a), Some(b)) => return a.as_f64() == b.as_f64(),
        _ => {}
    }
    match (actual, expected) {
        (
            FieldValue::LongString(a) | FieldValue::ByteArray(a),
            FieldValue::LongString(b) | FieldValue::ByteArray(b),
        ) => a == b,
        _ => actual == expected,
    }
}

/// A numeric header value.
#[derive(Clone, Copy)]
enum Number {
    Integer(i128),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            // Header integers are at most 64 bits wide, which f64 holds approximately, as Erlang compares them.
            Number::Integer(value) => value as f64,
            Number::Float(value) => value,
        }
    }
}

fn number(value: &FieldValue) -> Option<Number> {
    match *value {
        FieldValue::Timestamp(seconds) => Some(Number::Integer(i128::from(seconds))),
        FieldValue::F32(bits) => Some(Number::Float(f64::from(f32::from_bits(bits)))),
        FieldValue::F64(bits) => Some(Number::Float(f64::from_bits(bits))),
        _ => value.as_integer().map(Number::Integer),
    }
}

/// The `x-match` modes of a headers binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchMode {
    /// Every non-`x-` argument must match.
    All,
    /// At least one non-`x-` argument must match.
    Any,
    /// Every argument but `x-match` must match.
    AllWithX,
    /// At least one argument but `x-match` must match.
    AnyWithX,
}

impl MatchMode {
    /// The mode an `x-match` value names, if it is a valid one.
    fn parse(value: &FieldValue) -> Option<MatchMode> {
        match value {
            FieldValue::LongString(text) => match text.as_ref() {
                b"all" => Some(MatchMode::All),
                b"any" => Some(MatchMode::Any),
                b"all-with-x" => Some(MatchMode::AllWithX),
                b"any-with-x" => Some(MatchMode::AnyWithX),
                _ => None,
            },
            _ => None,
        }
    }
}

/// RabbitMQ's 406 reply text for an invalid `x-match`, the value written as
/// Erlang's `~p` writes it.
fn invalid_x_match(value: &FieldValue) -> String {
    match value {
        FieldValue::LongString(text) => format!(
            "PRECONDITION_FAILED - Invalid x-match field value {}; \
             expected all, any, all-with-x, or any-with-x",
            erlang_binary(text)
        ),
        other => format!(
            "PRECONDITION_FAILED - Invalid x-match field type {} (value {}); expected longstr",
            erlang_type(other),
            erlang_term(other)
        ),
    }
}

/// The type name RabbitMQ's table parser gives a value.
fn erlang_type(value: &FieldValue) -> &'static str {
    match value {
        FieldValue::Bool(_) => "bool",
        FieldValue::I8(_) => "byte",
        FieldValue::U8(_) => "unsignedbyte",
        FieldValue::I16(_) => "short",
        FieldValue::U16(_) => "unsignedshort",
        FieldValue::I32(_) => "signedint",
        FieldValue::U32(_) => "unsignedint",
        FieldValue::I64(_) => "long",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal { .. } => "decimal",
        FieldValue::LongString(_) => "longstr",
        FieldValue::Array(_) => "array",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Table(_) => "table",
        FieldValue::ByteArray(_) => "binary",
        FieldValue::Void => "void",
    }
}

/// A value as Erlang's `~p` prints RabbitMQ's parsed form of it (for short
/// values; `~p` also breaks long terms across lines, which this does not).
fn erlang_term(value: &FieldValue) -> String {
    match value {
        FieldValue::Bool(flag) => flag.to_string(),
        FieldValue::F32(bits) => erlang_float(f64::from(f32::from_bits(*bits))),
        FieldValue::F64(bits) => erlang_float(f64::from_bits(*bits)),
        FieldValue::Decimal { scale, value } => format!("{{{scale},{value}}}"),
        FieldValue::LongString(bytes) | FieldValue::ByteArray(bytes) => erlang_binary(bytes),
        FieldValue::Timestamp(seconds) => seconds.to_string(),
        FieldValue::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("{{{},{}}}", erlang_type(item), erlang_term(item)))
                .collect();
            format!("[{}]", items.join(","))
        }
        FieldValue::Table(table) => {
            let fields: Vec<String> = table
                .iter()
                .map(|(name, item)| {
                    let name = erlang_binary(name.as_bytes());
                    format!("{{{name},{},{}}}", erlang_type(item), erlang_term(item))
                })
                .collect();
            format!("[{}]", fields.join(","))
        }
        FieldValue::Void => "undefined".to_owned(),
        integer => integer
            .as_integer()
            .expect("every other variant is an integer")
            .to_string(),
    }
}

/// A binary as `~p` prints it: as a quoted string when every byte is
/// printable ASCII, otherwise as a list of byte values.
fn erlang_binary(bytes: &[u8]) -> String {
    if bytes.iter().all(|byte| (b' '..=b'~').contains(byte)) {
        let mut text = String::from("<<\"");
        for &byte in bytes {
            if byte == b'"' || byte == b'\\' {
                text.push('\\');
            }
            text.push(char::from(byte));
        }
        text.push_str("\">>");
        text
    } else {
        let bytes: Vec<String> = bytes.iter().map(u8::to_string).collect();
        format!("<<{}>>", bytes.join(","))
    }
}

/// A float as Erlang/OTP 24+ `~p` prints it (`io_lib_format:insert_decimal`):
/// the shortest digits that read back the same, in fixed notation unless
/// scientific is shorter (or the value is beyond 2^53), always with a digit
/// after the point.
fn erlang_float(value: f64) -> String {
    if !value.is_finite() {
        // AMQP can carry these but Erlang has no such floats (RabbitMQ fails
        // to decode them), so there is no Erlang text to follow.
        return value.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Erlang.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i64 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let length = i64::try_from(digits.len()).expect("an f64 has at most 17 digits");
    // Erlang's `Place`: the power of ten of the last digit.
    let place = exponent - length + 1;
    let exponent_cost = i64::try_from(exponent.to_string().len()).expect("short") + 2;
    let text = if place < 0 && exponent >= 0 {
        let (whole, fraction) = digits.split_at(usize::try_from(exponent + 1).expect("positive"));
        format!("{whole}.{fraction}")
    } else if place < 0 && 2 - place - length <= exponent_cost {
        let zeros = usize::try_from(-place - length).expect("a negative exponent");
        format!("0.{}{digits}", "0".repeat(zeros))
    } else if place >= 0
        && exponent_cost + i64::from(length == 1) >= place + 2
        && value.abs() < 9_007_199_254_740_992.0
    {
        let zeros = usize::try_from(place).expect("checked non-negative");
        format!("{digits}{}.0", "0".repeat(zeros))
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{first}.{rest}e{exponent}")
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::Arena;

    /// `count` distinct queue destinations.
    fn queues(count: usize) -> Vec<Destination> {
        let mut arena = Arena::default();
        (0..count)
            .map(|_| Destination::Queue(arena.insert(())))
            .collect()
    }

    /// A field table from name/value pairs.
    fn table(fields: &[(&str, FieldValue)]) -> FieldTable {
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    /// The sorted destinations a message reaches, duplicates kept.
    fn routed(bindings: &Bindings, key: &str, headers: Option<&FieldTable>) -> Vec<Destination> {
        let mut out = Vec::new();
        bindings.route(key, headers, &mut out);
        out.sort();
        out
    }

    /// Whether a topic binding `pattern` matches `key`.
    fn topic_matches(pattern: &str, key: &str) -> bool {
        let queue = queues(1)[0];
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        assert!(bindings.add(queue, pattern, &FieldTable::new()));
        let out = routed(&bindings, key, None);
        assert!(
            out.len() <= 1,
            "{pattern:?} pushed {key:?} {} times",
            out.len()
        );
        out == [queue]
    }

    /// Checks a table of (pattern, key, matches) cases.
    fn check_topic_cases(cases: &[(&str, &str, bool)]) {
        for &(pattern, key, expected) in cases {
            assert_eq!(
                topic_matches(pattern, key),
                expected,
                "pattern {pattern:?} key {key:?}"
            );
        }
    }

    /// Whether a headers binding with `arguments` matches a message with `headers`.
    fn headers_match(arguments: &FieldTable, headers: &FieldTable) -> bool {
        let queue = queues(1)[0];
        let mut bindings = Bindings::new(ExchangeKind::Headers);
        assert!(bindings.add(queue, "", arguments));
        routed(&bindings, "", Some(headers)) == [queue]
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
            assert_eq!(bindings.len(), 2);
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
    fn topic_hash_matches_every_key_including_empty() {
        check_topic_cases(&[
            ("#", "", true),
            ("#", "a", true),
            ("#", "a.b.c", true),
            ("#", ".", true),
            ("#", "a..b", true),
            ("#.#", "", true),
            ("#.#.#", "", true),
            ("#.#", "a.b.c", true),
        ]);
    }

    #[test]
    fn topic_star_matches_exactly_one_word() {
        check_topic_cases(&[
            ("*", "", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("*.b", "a.b", true),
            ("*.b", "b", false),
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("*.*", "a.b", true),
            ("*.*", "a", false),
            ("*.#", "", false),
            ("*.#", "oneword", true),
            ("*.#", "a.b.c", true),
            ("#.*", "", false),
            ("#.*", "a.b", true),
        ]);
    }

    #[test]
    fn topic_hash_matches_zero_or_more_words() {
        check_topic_cases(&[
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("a.#", "b.a", false),
            ("#.a", "a", true),
            ("#.a", "x.y.a", true),
            ("#.a", "a.x", false),
            ("a.#.b", "a.b", true),
            ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y", false),
            ("#.*.#", "oneword", true),
            ("#.*.#", "", false),
            ("#.b.#", "a.b", true),
            ("#.b.#", "a.b.c", true),
            ("#.b.#", "b.b.c", true),
            ("#.b.#", "a.c", false),
            ("a.#.#.b", "a.b", true),
            ("a.#.*.#.b", "a.b", false),
            ("a.#.*.#.b", "a.x.y.z.b", true),
        ]);
    }

    #[test]
    fn topic_empty_binding_matches_only_empty_key() {
        check_topic_cases(&[
            ("", "", true),
            ("", "a", false),
            ("", ".", false),
            ("", "#", false),
        ]);
    }

    #[test]
    fn topic_double_dot_key_has_an_empty_word() {
        check_topic_cases(&[
            ("a.*.b", "a..b", true),
            ("a.b", "a..b", false),
            ("*.*.*", "a..b", true),
            ("a..b", "a..b", true),
            ("a..b", "a.b", false),
            ("*.*", ".", true),
            ("*", ".", false),
            ("a.*", "a.", true),
            ("a", "a.", false),
            ("*.a", ".a", true),
        ]);
    }

    #[test]
    fn topic_wildcard_characters_inside_a_word_are_literal() {
        check_topic_cases(&[
            ("a*", "ab", false),
            ("a*", "a*", true),
            ("#a", "a", false),
            ("#a", "#a", true),
            ("a.*", "a.*", true),
        ]);
    }

    #[test]
    fn topic_many_hashes_stay_cheap_on_long_keys() {
        // Plain backtracking takes about C(words + hashes, hashes) steps here,
        // far beyond any test timeout; the memo makes it nodes times words.
        let key = vec!["a"; 200].join(".");
        check_topic_cases(&[
            (&["#"; 12].join("."), &key, true),
            ("#.a.#.a.#.a.#.a.#.a.#.a.#", &key, true),
            ("#.a.#.a.#.a.#.a.#.a.#.a.#.b", &key, false),
            ("#.#.#.#.#.#.#.#.#.#.#.#.b", &key, false),
        ]);
    }

    #[test]
    fn topic_memo_spills_past_its_inline_entries_correctly() {
        // Each `#.wN.#` puts a `#` node under another, so one walk meets more
        // nested `#` nodes than the memo holds on the stack.
        let count = MEMO_INLINE * 3;
        let open = queues(count);
        let closed = queues(count);
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        for index in 0..count {
            bindings.add(open[index], &format!("#.w{index}.#"), &FieldTable::new());
            bindings.add(
                closed[index],
                &format!("#.w{index}.#.end"),
                &FieldTable::new(),
            );
        }
        let words: Vec<String> = (0..count).map(|index| format!("w{index}")).collect();
        let key = words.join(".");
        let mut expected = open.clone();
        expected.sort();
        assert_eq!(routed(&bindings, &key, None), expected);
        expected.extend_from_slice(&closed);
        expected.sort();
        assert_eq!(routed(&bindings, &format!("{key}.end"), None), expected);
    }

    #[test]
    fn topic_trie_agrees_with_a_reference_matcher() {
        // Every topic rule, checked against a direct transcription of the rule
        // over generated patterns and keys, all bound in one trie so that
        // shared prefixes and pruning are exercised too.
        let mut lcg = Lcg(0x5eed);
        let patterns: Vec<String> = (0..300)
            .map(|_| lcg.key(&["a", "b", "", "*", "#"]))
            .collect();
        let keys: Vec<String> = (0..100)
            .map(|_| lcg.key(&["a", "b", "", "*", "#"]))
            .collect();
        let destinations = queues(patterns.len());
        let mut bindings = Bindings::new(ExchangeKind::Topic);
        for (pattern, &destination) in patterns.iter().zip(&destinations) {
            assert!(bindings.add(destination, pattern, &FieldTable::new()));
        }
        for key in &keys {
            let key_words: Vec<&str> = topic_words(key).collect();
            let mut expected: Vec<Destination> = patterns
                .iter()
                .zip(&destinations)
                .filter(|(pattern, _)| {
                    let pattern_words: Vec<&str> = topic_words(pattern).collect();
                    reference_match(&pattern_words, &key_words)
                })
                .map(|(_, &destination)| destination)
                .collect();
            expected.sort();
            assert_eq!(routed(&bindings, key, None), expected, "key {key:?}");
        }
        for (pattern, &destination) in patterns.iter().zip(&destinations) {
            assert!(bindings.remove(destination, pattern, &FieldTable::new()));
        }
        assert_eq!(bindings, Bindings::new(ExchangeKind::Topic));
    }

    /// The topic rule, word by word, with backtracking.
    fn reference_match(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|taken| reference_match(rest, &key[taken..])),
            Some((&"*", rest)) => !key.is_empty() && reference_match(rest, &key[1..]),
            Some((word, rest)) => key.first() == Some(word) && reference_match(rest, &key[1..]),
        }
    }

    /// A tiny deterministic generator (Knuth's MMIX LCG).
    struct Lcg(u64);

    impl Lcg {
        /// The next value below `bound`.
        fn below(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let high = usize::try_from(self.0 >> 33).expect("31 bits fit a usize");
            high % bound
        }

        /// A key of zero to four words from `alphabet`.
        fn key(&mut self, alphabet: &[&str]) -> String {
            let words: Vec<&str> = (0..self.below(5))
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect();
            words.join(".")
        }
    }

    #[test]
    fn headers_all_requires_every_criterion() {
        let arguments = table(&[
            ("x-match", FieldValue::string("all")),
            ("format", FieldValue::string("pdf")),
            ("type", FieldValue::string("report")),
        ]);
        let both = table(&[
            ("format", FieldValue::string("pdf")),
            ("type", FieldValue::string("report")),
        ]);
        let extra = table(&[
            ("format", FieldValue::string("pdf")),
            ("type", FieldValue::string("report")),
            ("other", FieldValue::I32(7)),
        ]);
        let one = table(&[("format", FieldValue::string("pdf"))]);
        let wrong = table(&[
            ("format", FieldValue::string("pdf")),
            ("type", FieldValue::string("log")),
        ]);
        assert!(headers_match(&arguments, &both));
        assert!(headers_match(&arguments, &extra));
        assert!(!headers_match(&arguments, &one));
        assert!(!headers_match(&arguments, &wrong));
        let mut implicit = arguments.clone();
        implicit.remove("x-match");
        assert!(headers_match(&implicit, &both), "all is the default");
        assert!(!headers_match(&implicit, &one), "all is the default");
    }

    #[test]
    fn headers_any_requires_one_criterion() {
        let arguments = table(&[
            ("x-match", FieldValue::string("any")),
            ("format", FieldValue::string("pdf")),
            ("type", FieldValue::string("report")),
        ]);
        let one = table(&[("format", FieldValue::string("pdf"))]);
        let wrong = table(&[
            ("format", FieldValue::string("zip")),
            ("type", FieldValue::string("log")),
        ]);
        let unrelated = table(&[("other", FieldValue::string("pdf"))]);
        assert!(headers_match(&arguments, &one));
        assert!(!headers_match(&arguments, &wrong));
        assert!(!headers_match(&arguments, &unrelated));
    }

    #[test]
    fn headers_x_arguments_are_ignored_unless_with_x() {
        let headers = table(&[("format", FieldValue::string("pdf"))]);
        let all = table(&[
            ("format", FieldValue::string("pdf")),
            ("x-tenant", FieldValue::string("acme")),
        ]);
        assert!(
            headers_match(&all, &headers),
            "x-tenant is not a criterion under all"
        );
        let any = table(&[
            ("x-match", FieldValue::string("any")),
            ("x-tenant", FieldValue::string("acme")),
        ]);
        let with_tenant = table(&[("x-tenant", FieldValue::string("acme"))]);
        assert!(
            !headers_match(&any, &with_tenant),
            "any has no criteria left"
        );
    }

    #[test]
    fn headers_with_x_modes_compare_x_arguments() {
        let tenant = table(&[("x-tenant", FieldValue::string("acme"))]);
        let format = table(&[("format", FieldValue::string("pdf"))]);
        let both = table(&[
            ("x-tenant", FieldValue::string("acme")),
            ("format", FieldValue::string("pdf")),
        ]);
        let all = table(&[
            ("x-match", FieldValue::string("all-with-x")),
            ("x-tenant", FieldValue::string("acme")),
            ("format", FieldValue::string("pdf")),
        ]);
        assert!(headers_match(&all, &both));
        assert!(!headers_match(&all, &format));
        assert!(!headers_match(&all, &tenant));
        let mut any = all.clone();
        any.insert("x-match".to_owned(), FieldValue::string("any-with-x"));
        assert!(headers_match(&any, &tenant));
        assert!(headers_match(&any, &format));
        assert!(!headers_match(
            &any,
            &table(&[("x-tenant", FieldValue::string("other"))])
        ));
    }

    #[test]
    fn headers_x_match_is_never_a_criterion() {
        let no_x_match = FieldTable::new();
        let with_x_match = table(&[("x-match", FieldValue::string("all-with-x"))]);
        let only_all = table(&[("x-match", FieldValue::string("all-with-x"))]);
        let only_any = table(&[("x-match", FieldValue::string("any-with-x"))]);
        for headers in [&no_x_match, &with_x_match] {
            assert!(headers_match(&only_all, headers));
            assert!(!headers_match(&only_any, headers));
        }
        let any_mirror = table(&[("x-match", FieldValue::string("any-with-x"))]);
        assert!(
            !headers_match(&any_mirror, &any_mirror),
            "a header named x-match matches nothing"
        );
    }

    #[test]
    fn headers_void_criterion_means_header_present() {
        for mode in ["all", "any"] {
            let arguments = table(&[
                ("x-match", FieldValue::string(mode)),
                ("trace", FieldValue::Void),
            ]);
            for value in [
                FieldValue::string("on"),
                FieldValue::I64(0),
                FieldValue::Void,
            ] {
                assert!(
                    headers_match(&arguments, &table(&[("trace", value)])),
                    "{mode}"
                );
            }
            assert!(
                !headers_match(&arguments, &table(&[("other", FieldValue::Void)])),
                "{mode}"
            );
        }
        let valued = table(&[("trace", FieldValue::string("on"))]);
        assert!(
            !headers_match(&valued, &table(&[("trace", FieldValue::Void)])),
            "void is not any value"
        );
    }

    #[test]
    fn headers_values_compare_as_rabbitmq_compares_them() {
        let cases = [
            (FieldValue::string("1"), FieldValue::string("1"), true),
            (FieldValue::string("1"), FieldValue::I32(1), false),
            (FieldValue::I32(1), FieldValue::I32(1), true),
            (FieldValue::I32(1), FieldValue::I32(2), false),
            (FieldValue::I32(1), FieldValue::I64(1), true),
            (FieldValue::U8(1), FieldValue::I8(1), true),
            (FieldValue::I64(1), FieldValue::F64(1.0f64.to_bits()), true),
            (FieldValue::I64(1), FieldValue::F64(1.5f64.to_bits()), false),
            (FieldValue::Bool(true), FieldValue::Bool(true), true),
            (FieldValue::Bool(true), FieldValue::U8(1), false),
            (
                FieldValue::string("a"),
                FieldValue::ByteArray("a".into()),
                true,
            ),
            (FieldValue::Timestamp(5), FieldValue::I64(5), true),
            (
                FieldValue::F64(1.5f64.to_bits()),
                FieldValue::F64(1.5f64.to_bits()),
                true,
            ),
        ];
        for (bound, sent, expected) in cases {
            let arguments = table(&[("h", bound.clone())]);
            let headers = table(&[("h", sent.clone())]);
            assert_eq!(
                headers_match(&arguments, &headers),
                expected,
                "bound {bound:?} sent {sent:?}"
            );
        }
    }

    #[test]
    fn headers_all_without_criteria_matches_everything_and_any_nothing() {
        let some = table(&[("format", FieldValue::string("pdf"))]);
        let empty = FieldTable::new();
        let cases = [
            (FieldTable::new(), true),
            (table(&[("x-match", FieldValue::string("all"))]), true),
            (
                table(&[
                    ("x-match", FieldValue::string("all")),
                    ("x-other", FieldValue::I32(1)),
                ]),
                true,
            ),
            (table(&[("x-match", FieldValue::string("any"))]), false),
            (
                table(&[
                    ("x-match", FieldValue::string("any")),
                    ("x-other", FieldValue::I32(1)),
                ]),
                false,
            ),
        ];
        for (arguments, expected) in cases {
            for headers in [&some, &empty] {
                assert_eq!(
                    headers_match(&arguments, headers),
                    expected,
                    "{arguments:?} {headers:?}"
                );
            }
        }
    }

    #[test]
    fn headers_absent_property_is_an_empty_table() {
        let q = queues(2);
        let mut bindings = Bindings::new(ExchangeKind::Headers);
        bindings.add(q[0], "", &FieldTable::new());
        bindings.add(q[1], "", &table(&[("format", FieldValue::Void)]));
        assert_eq!(routed(&bindings, "", None), [q[0]]);
    }

    #[test]
    fn headers_ignore_the_routing_key() {
        let q = queues(1)[0];
        let mut bindings = Bindings::new(ExchangeKind::Headers);
        bindings.add(q, "bound.key", &FieldTable::new());
        assert_eq!(routed(&bindings, "other.key", None), [q]);
    }

    #[test]
    fn invalid_x_match_is_rejected_with_rabbitmq_text() {
        let cases = [
            (
                FieldValue::string("foo"),
                "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; \
                 expected all, any, all-with-x, or any-with-x",
            ),
            (
                FieldValue::string("ALL"),
                "PRECONDITION_FAILED - Invalid x-match field value <<\"ALL\">>; \
                 expected all, any, all-with-x, or any-with-x",
            ),
            (
                FieldValue::LongString(vec![0, 200].into()),
                "PRECONDITION_FAILED - Invalid x-match field value <<0,200>>; \
                 expected all, any, all-with-x, or any-with-x",
            ),
            (
                FieldValue::I8(1),
                "PRECONDITION_FAILED - Invalid x-match field type byte (value 1); expected longstr",
            ),
            (
                FieldValue::I32(23),
                "PRECONDITION_FAILED - Invalid x-match field type signedint (value 23); \
                 expected longstr",
            ),
            (
                FieldValue::ByteArray("all".into()),
                "PRECONDITION_FAILED - Invalid x-match field type binary (value <<\"all\">>); \
                 expected longstr",
            ),
            (
                FieldValue::Void,
                "PRECONDITION_FAILED - Invalid x-match field type void (value undefined); \
                 expected longstr",
            ),
            (
                FieldValue::Array(vec![FieldValue::string("all")]),
                "PRECONDITION_FAILED - Invalid x-match field type array \
                 (value [{longstr,<<\"all\">>}]); expected longstr",
            ),
        ];
        for (value, text) in cases {
            let arguments = table(&[("x-match", value.clone())]);
            let result = Bindings::validate_arguments(ExchangeKind::Headers, &arguments);
            assert_eq!(result, Err(text.to_owned()), "{value:?}");
        }
    }

    #[test]
    fn valid_x_match_and_other_exchange_types_are_accepted() {
        for mode in ["all", "any", "all-with-x", "any-with-x"] {
            let arguments = table(&[("x-match", FieldValue::string(mode))]);
            assert_eq!(
                Bindings::validate_arguments(ExchangeKind::Headers, &arguments),
                Ok(())
            );
        }
        assert_eq!(
            Bindings::validate_arguments(ExchangeKind::Headers, &FieldTable::new()),
            Ok(())
        );
        let bogus = table(&[("x-match", FieldValue::string("foo"))]);
        for kind in [
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Topic,
        ] {
            assert_eq!(
                Bindings::validate_arguments(kind, &bogus),
                Ok(()),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn erlang_float_text_follows_otp() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (100.0, "100.0"),
            (123.0, "123.0"),
            (1000.0, "1.0e3"),
            (0.5, "0.5"),
            (0.001, "0.001"),
            (0.0001, "1.0e-4"),
            (1.0e-5, "1.0e-5"),
            (1.25e-7, "1.25e-7"),
            (9.007_199_254_740_992e15, "9.007199254740992e15"),
        ];
        for (value, text) in cases {
            assert_eq!(erlang_float(value), text, "{value:?}");
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
            assert_eq!(bindings.len(), 1);
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
            assert_eq!(bindings.len(), mixed.len());
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
    fn topic_remove_prunes_the_nodes_only_it_needed() {
        let q = queues(2);
        let mut expected = Bindings::new(ExchangeKind::Topic);
        expected.add(q[0], "a.b", &FieldTable::new());
        let mut bindings = expected.clone();
        bindings.add(q[1], "a.b.#.*.c", &FieldTable::new());
        bindings.add(q[1], "a.*", &FieldTable::new());
        bindings.remove(q[1], "a.b.#.*.c", &FieldTable::new());
        bindings.remove(q[1], "a.*", &FieldTable::new());
        assert_eq!(bindings, expected);
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
            assert!(bindings.has_destination(queue));
            assert_eq!(
                bindings.remove_destination(queue),
                mixed_bindings(&[queue; 3]).len()
            );
            assert!(!bindings.has_destination(queue), "{kind:?}");
            assert!(bindings.has_destination(kept) && bindings.has_destination(exchange));
            assert_eq!(bindings, expected, "{kind:?}");
            assert_eq!(bindings.remove_destination(queue), 0);
        }
    }

    #[test]
    fn key_words_split_and_hash_as_topic_words_do() {
        let long = vec!["w"; KEY_WORDS_INLINE + 3].join(".");
        for key in [
            "",
            "a",
            "a.b",
            "a..b",
            ".",
            "a.",
            ".a",
            "word.longer-than-eight-bytes",
            &long,
        ] {
            let words = KeyWords::new(key);
            let expected: Vec<(&str, u64)> = topic_words(key)
                .map(|word| (word, word_hash(word)))
                .collect();
            let split: Vec<(&str, u64)> = (0..words.len).map(|index| words.get(index)).collect();
            assert_eq!(split, expected, "key {key:?}");
        }
    }

    #[test]
    fn word_map_keeps_colliding_words_apart() {
        // Every word under one hash, as if they all collided.
        const SAME: u64 = 7;
        let mut forward = WordMap::<u32>::default();
        let mut backward = WordMap::<u32>::default();
        for (value, word) in (0..).zip(["b", "a", "c"]) {
            *forward.entry(word, SAME) = value;
        }
        for (value, word) in (0..)
            .zip(["b", "a", "c"])
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            *backward.entry(word, SAME) = value;
        }
        assert_eq!(forward, backward, "order within a bucket is canonical");
        assert_eq!(forward.get("a", SAME), Some(&1));
        assert_eq!(forward.get("c", SAME), Some(&2));
        assert_eq!(forward.get("d", SAME), None);
        forward.remove("a", SAME);
        assert_eq!(forward.get("a", SAME), None);
        assert_eq!(forward.get("b", SAME), Some(&0));
        forward.remove("b", SAME);
        forward.remove("c", SAME);
        assert!(forward.is_empty());
        assert_eq!(forward, WordMap::default());
    }
}
