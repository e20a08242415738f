//! The topic exchange's index: a trie over the dot-separated words of the
//! binding patterns, with `*` and `#` as edges of their own.
//!
//! A topic publish splits its key once, hashes each word once, and then looks
//! edges up by hash; the walk visits each trie node at most once per word
//! position (see `TopicMatch`), so patterns with several `#` cost work in
//! proportion to nodes times words rather than exponential backtracking. Binding
//! keys are AMQP short strings (at most 255 bytes), which bounds the trie depth
//! and with it the recursion of a walk.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::{insert_sorted, remove_sorted, Destination};

/// Nested `#` nodes remembered on the stack during one topic match before the
/// memo spills to the heap; few patterns have more than one `#`.
const MEMO_INLINE: usize = 16;

/// Routing-key words split on the stack during one topic match before the
/// split spills to the heap; AMQP keys are at most 255 bytes, and most have a
/// handful of words.
const KEY_WORDS_INLINE: usize = 16;

/// The words of a topic routing key or pattern: none for the empty key,
/// otherwise the parts between dots, empty ones included (`a..b` is three).
pub(super) fn topic_words(key: &str) -> impl Iterator<Item = &str> {
    (!key.is_empty())
        .then(|| key.split('.'))
        .into_iter()
        .flatten()
}

/// A node of the topic trie: the patterns that end here and the edges onward.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct TopicNode {
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

    /// Whether no edge leaves this node: only a key with no words left can match here.
    fn is_leaf(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.hash.is_none()
    }

    /// Adds a binding along the path of `words`, creating missing nodes.
    pub(super) fn add<'k>(
        &mut self,
        words: impl Iterator<Item = &'k str>,
        destination: Destination,
    ) {
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
    pub(super) fn remove<'k>(
        &mut self,
        mut words: impl Iterator<Item = &'k str>,
        destination: Destination,
    ) {
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
/// compares integers rather than strings, in a hash table: the trie's big
/// nodes (the root of 10,000 patterns has a thousand first words) are looked
/// up on every publish, where a B-tree walked a dozen keys per level.
/// Deterministic: the table's hasher is fixed, so the layout follows the
/// history of the map; and canonical where it matters: equality and `Hash`
/// depend only on the entries (see the `Hash` impl), and the order within a
/// bucket only on the words.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WordMap<T> {
    /// Entries by `word_hash`; each bucket is sorted by word and never empty.
    buckets: HashMap<u64, Bucket<T>, BuildHasherDefault<BucketHasher>>,
}

/// The words of a `WordMap` that share one hash, with their values.
type Bucket<T> = Vec<(Box<str>, T)>;

impl<T> Default for WordMap<T> {
    fn default() -> Self {
        WordMap {
            buckets: HashMap::default(),
        }
    }
}

/// Independent of the table's iteration order, as equality is: the sum of a
/// fixed hash of each entry.
impl<T: Hash> Hash for WordMap<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let sum = self.buckets.iter().fold(0u64, |sum, entry| {
            let mut hasher = EntryHasher::default();
            entry.hash(&mut hasher);
            sum.wrapping_add(hasher.finish())
        });
        state.write_usize(self.buckets.len());
        state.write_u64(sum);
    }
}

/// The table's hasher: its keys are `word_hash`es, whose bits are already
/// spread, so it passes them through.
#[derive(Default)]
struct BucketHasher(u64);

impl Hasher for BucketHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = WordHasher::mix(self.0, u64::from(byte));
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A fixed hasher for one entry of a `WordMap`'s `Hash`: FxHash's mixing
/// over the bytes it is fed, the same on every run and platform.
#[derive(Default)]
struct EntryHasher(u64);

impl Hasher for EntryHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut lane = [0u8; 8];
            lane[..chunk.len()].copy_from_slice(chunk);
            self.0 = WordHasher::mix(self.0, u64::from_le_bytes(lane));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl<T: Default> WordMap<T> {
    /// Whether the map has no entries.
    fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The value for `word`, given its `word_hash`.
    fn get(&self, word: &str, hash: u64) -> Option<&T> {
        // Most nodes have no literal edge: skip hashing for them.
        if self.buckets.is_empty() {
            return None;
        }
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

    /// The hash of the bytes pushed so far, with every bit spread by a
    /// SplitMix64 finalizer: `WordMap`'s table indexes by the low bits, where
    /// FxHash's multiply alone leaves them weak. Mixing here, once per key
    /// word, spares doing it on every table lookup.
    fn finish(self) -> u64 {
        let mut x = Self::mix(Self::mix(self.hash, self.lane), u64::from(self.shift));
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
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

    /// The words and their hashes, in key order.
    fn as_slice(&self) -> &[(&'k str, u64)] {
        if self.len <= KEY_WORDS_INLINE {
            &self.inline[..self.len]
        } else {
            &self.spill
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
pub(super) struct TopicMatch<'t, 'o> {
    /// The routing key's words with their hashes.
    words: &'o [(&'t str, u64)],
    /// Where matching destinations go.
    out: &'o mut Vec<Destination>,
    /// Entry positions of nested `#` nodes.
    memo: HashMemo,
    /// Trie nodes visited: the walk's cost, which follows the key and the
    /// patterns that share its words, never the number of bindings.
    visits: usize,
    /// The fewest words a `#` takes: 0 by the rule, 1 for the
    /// `topic-hash-needs-a-word` mutant.
    hash_min: usize,
}

impl<'t> TopicMatch<'t, '_> {
    /// Pushes the destinations of every pattern in the trie at `root` that
    /// matches `key`, each `#` taking at least `hash_min` words (0 by the
    /// rule); returns how many trie nodes the walk visited.
    pub(super) fn run(
        root: &'t TopicNode,
        key: &'t str,
        out: &mut Vec<Destination>,
        hash_min: usize,
    ) -> usize {
        let words = KeyWords::new(key);
        let mut walk = TopicMatch {
            words: words.as_slice(),
            out,
            memo: HashMemo::new(),
            visits: 0,
            hash_min,
        };
        walk.visit(root, 0, false);
        walk.visits
    }

    /// Matches the key words from `position` on against the patterns below
    /// `node`; `under_hash` says whether a `#` edge leads to `node`.
    fn visit(&mut self, node: &'t TopicNode, position: usize, under_hash: bool) {
        self.visits += 1;
        if position == self.words.len() {
            self.out.extend_from_slice(&node.destinations);
        } else {
            let (word, hash) = self.words[position];
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
        let end = stop.min(self.words.len() + 1);
        let first = position + self.hash_min;
        if hash.is_leaf() {
            // A trailing `#` (`a.#`) matches once it may take every remaining
            // word: only the last position can reach its destinations.
            if (first..end).contains(&self.words.len()) {
                self.visit(hash, self.words.len(), true);
            }
            return;
        }
        for at in first..end {
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

#[cfg(test)]
mod tests;
