//! Tests of the topic index: the topic matching rules, checked through
//! `Bindings` and against a reference matcher, and the trie's parts.

use super::*;
use crate::field::FieldTable;
use crate::protocol::ExchangeKind;
use crate::routing::tests::{queues, routed};
use crate::routing::Bindings;

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
    let queue = queues(1)[0];
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    bindings.add(queue, "#.#.#.#.#.#.#.#.#.#.#.#.b", &FieldTable::new());
    let (nodes, positions) = (14, 201);
    assert!(bindings.topic_visits(&key) <= nodes * positions);
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
        let split = words.as_slice().to_vec();
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

#[test]
fn topic_match_cost_does_not_grow_with_unrelated_bindings() {
    // SEMANTICS.md section 1: matching is a trie walk, not a scan of all
    // bindings: 50,000 bindings on other first words add no node to the walk.
    let queue = queues(1)[0];
    let mut bindings = Bindings::new(ExchangeKind::Topic);
    assert!(bindings.add(queue, "k.*", &FieldTable::new()));
    let alone = bindings.topic_visits("k.x");
    for index in 0..50_000 {
        assert!(bindings.add(queue, &format!("w{index}.#"), &FieldTable::new()));
    }
    assert_eq!(bindings.topic_visits("k.x"), alone);
    assert_eq!(routed(&bindings, "k.x", None), [queue]);
}

#[test]
fn word_map_hash_follows_its_entries_not_their_history() {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let words: Vec<String> = (0..100).map(|index| format!("w{index}")).collect();
    let mut forward = WordMap::<u32>::default();
    let mut backward = WordMap::<u32>::default();
    for (value, word) in (0..).zip(&words) {
        *forward.entry(word, word_hash(word)) = value;
    }
    for (value, word) in (0..).zip(&words).collect::<Vec<_>>().into_iter().rev() {
        *backward.entry(word, word_hash(word)) = value;
    }
    // Grown and shrunk again: a different table capacity, the same entries.
    for word in ["extra-1", "extra-2", "extra-3"] {
        *backward.entry(word, word_hash(word)) = 0;
    }
    for word in ["extra-1", "extra-2", "extra-3"] {
        backward.remove(word, word_hash(word));
    }
    let fixed = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    assert_eq!(forward, backward);
    assert_eq!(fixed.hash_one(&forward), fixed.hash_one(&backward));
    *backward.entry("w7", word_hash("w7")) = 1_000;
    assert_ne!(forward, backward);
    assert_ne!(fixed.hash_one(&forward), fixed.hash_one(&backward));
}
