//! Redis's glob patterns, as `stringmatchlen` in Redis's `util.c` matches
//! them (case-sensitive, as PSUBSCRIBE and PUBSUB CHANNELS use them).
//!
//! `*` matches any run of bytes, `?` any one byte, `[abc]` one of a set,
//! `[^abc]` one byte outside it, `[a-z]` a range (either way round), and
//! `\x` the byte `x` itself, also inside brackets. A pattern is bytes, not
//! text. Redis reads its patterns as NUL-terminated strings and looks one
//! byte past their end in a few places (an unclosed `[`, a `*` at the
//! end); here that byte reads as NUL, so the odd corners (an
//! unclosed `[abc` matching as if closed, a trailing `\` matching itself)
//! come out as Redis's do.
//!
//! Redis bounds the work of abusive patterns two ways, and so does this:
//! once the rest of a pattern after a `*` failed to match from every
//! position, no earlier `*` tries longer matches; and a match nested more
//! than [`NESTING_MAX`] stars deep fails.

/// The deepest nesting of `*` a match follows before it fails, as Redis's.
pub const NESTING_MAX: usize = 1000;

/// Whether `string` matches the glob `pattern`, as Redis's `stringmatchlen`.
#[must_use]
pub fn matches(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer_matches = false;
    match_from(pattern, string, &mut skip_longer_matches, 0)
}

/// The byte at `index`, or NUL past the end (Redis's strings are NUL-terminated).
fn byte_at(bytes: &[u8], index: usize) -> u8 {
    bytes.get(index).copied().unwrap_or(0)
}

fn match_from(
    mut pattern: &[u8],
    mut string: &[u8],
    skip_longer_matches: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > NESTING_MAX {
        return false;
    }
    while !pattern.is_empty() && !string.is_empty() {
        match pattern[0] {
            b'*' => return match_star(pattern, string, skip_longer_matches, nesting),
            b'?' => string = &string[1..],
            b'[' => {
                let (rest, matched) = match_class(&pattern[1..], string[0]);
                if !matched {
                    return false;
                }
                // `rest` starts at the closing `]` (or the last byte of an
                // unclosed class), which the step below passes.
                pattern = rest;
                string = &string[1..];
            }
            byte => {
                let literal = if byte == b'\\' && pattern.len() >= 2 {
                    pattern = &pattern[1..];
                    pattern[0]
                } else {
                    byte
                };
                if literal != string[0] {
                    return false;
                }
                string = &string[1..];
            }
        }
        pattern = &pattern[1..];
        if string.is_empty() {
            while byte_at(pattern, 0) == b'*' {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && string.is_empty()
}

/// A `*` at the head of `pattern`: the rest of the pattern tried from every
/// position of `string`.
fn match_star(
    mut pattern: &[u8],
    mut string: &[u8],
    skip_longer_matches: &mut bool,
    nesting: usize,
) -> bool {
    while !pattern.is_empty() && byte_at(pattern, 1) == b'*' {
        pattern = &pattern[1..];
    }
    if pattern.len() == 1 {
        return true;
    }
    while !string.is_empty() {
        if match_from(&pattern[1..], string, skip_longer_matches, nesting + 1) {
            return true;
        }
        if *skip_longer_matches {
            return false;
        }
        string = &string[1..];
    }
    // The rest of the pattern matched from no position of the string: an
    // earlier `*` taking more of it cannot help, so none tries.
    *skip_longer_matches = true;
    false
}

/// A bracket class, `pattern` starting after its `[`, against `byte`:
/// the pattern from the class's last byte, and whether `byte` matched.
fn match_class(mut pattern: &[u8], byte: u8) -> (&[u8], bool) {
    let negated = byte_at(pattern, 0) == b'^';
    if negated {
        pattern = &pattern[1..];
    }
    let mut matched = false;
    // Each turn consumes at least one byte of the pattern, so the loop
    // ends; an unclosed class stops at its last byte, as Redis's does.
    loop {
        if byte_at(pattern, 0) == b'\\' && pattern.len() >= 2 {
            pattern = &pattern[1..];
            matched |= pattern[0] == byte;
        } else if byte_at(pattern, 0) == b']' {
            break;
        } else if pattern.is_empty() {
            // Redis steps back onto the last byte; the caller's step
            // passes it again, leaving the pattern empty.
            return (b"]", negated != matched);
        } else if pattern.len() >= 3 && pattern[1] == b'-' {
            let (start, end) = (pattern[0].min(pattern[2]), pattern[0].max(pattern[2]));
            matched |= (start..=end).contains(&byte);
            pattern = &pattern[2..];
        } else {
            matched |= pattern[0] == byte;
        }
        pattern = &pattern[1..];
    }
    (pattern, negated != matched)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[track_caller]
    fn check(pattern: &str, string: &str, expected: bool) {
        assert_eq!(
            matches(pattern.as_bytes(), string.as_bytes()),
            expected,
            "pattern {pattern:?} against {string:?}"
        );
    }

    #[test]
    fn glob_star_matches_any_run_of_a_non_empty_string() {
        // Redis's matcher stops at the empty string before it looks at
        // the pattern: `*` does not match "" (redis-server's
        // `PUBSUB CHANNELS *` leaves out a subscribed channel "").
        check("*", "", false);
        check("*", "anything", true);
        check("news.*", "news.", true);
        check("news.*", "news.tech", true);
        check("news.*", "news", false);
        check("a*b*c", "aXXbYYc", true);
        check("a*b*c", "aXXbYY", false);
        check("**", "x", true);
    }

    #[test]
    fn glob_question_mark_matches_exactly_one_byte() {
        check("h?llo", "hello", true);
        check("h?llo", "hllo", false);
        check("h?llo", "heello", false);
        check("?", "", false);
    }

    #[test]
    fn glob_brackets_match_a_set_a_negated_set_and_ranges() {
        check("h[ae]llo", "hello", true);
        check("h[ae]llo", "hallo", true);
        check("h[ae]llo", "hillo", false);
        check("h[^e]llo", "hallo", true);
        check("h[^e]llo", "hello", false);
        check("h[a-b]llo", "hbllo", true);
        check("h[a-b]llo", "hcllo", false);
        check("h[b-a]llo", "hallo", true);
        check("[^a-c]", "d", true);
        check("[^a-c]", "b", false);
    }

    #[test]
    fn glob_backslash_escapes_a_special_byte() {
        check("a\\*b", "a*b", true);
        check("a\\*b", "axb", false);
        check("\\?", "?", true);
        check("\\?", "x", false);
        check("[\\]]", "]", true);
        check("[\\-]", "-", true);
        check("[\\-]", "a", false);
    }

    /// Each case's answer is what Debian's redis-server 7.0.15 gives for
    /// `KEYS pattern` over the one key `string`.
    #[test]
    fn glob_odd_corners_match_as_redis_does() {
        let cases = [
            ("[]]", "]", false),
            ("[]]", "]]", false),
            ("[abc", "a", true),
            ("[abc", "d", false),
            ("x[abc", "xb", true),
            ("a\\", "a\\", true),
            ("[a-]", "-", false),
            ("[a-]", "a", true),
            ("[\\-]", "-", true),
            ("[\\]]", "]", true),
            ("[", "[", false),
            ("[^", "x", true),
            ("[^", "", false),
            ("*?", "", false),
            ("a*", "a", true),
            ("[a-", "a", true),
            ("[a-", "-", true),
            ("[a-", "b", false),
            ("\\", "\\", true),
            ("[^]", "x", true),
            ("[^]]", "x", false),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, string, expected) in cases {
            check(pattern, string, expected);
        }
    }

    #[test]
    fn glob_patterns_are_bytes_not_text() {
        assert!(matches(b"\xff*", b"\xff\x00\x01"));
        assert!(matches(b"a\x00b", b"a\x00b"));
        assert!(!matches(b"a\x00b", b"a"));
    }

    #[test]
    fn glob_abusive_patterns_end_quickly() {
        let pattern = "a*".repeat(40) + "b";
        let string = "a".repeat(60);
        check(&pattern, &string, false);
        let deep = "*?".repeat(2000);
        assert!(!matches(deep.as_bytes(), "x".repeat(3000).as_bytes()));
    }
}
