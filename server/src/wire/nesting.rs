//! A bound on how deeply a frame's field tables and arrays nest, checked
//! before amq-protocol parses the frame.
//!
//! amq-protocol parses a table inside a table by recursion, so a frame
//! nesting tables a few thousand deep (34 KB holds 5,000 levels) would
//! overflow the stack of the task that parses it and abort the whole
//! process. This walk reads the same bytes without allocating and with a
//! recursion depth of at most [`FIELD_NESTING_MAX`], and only where the
//! parser would find a table: the arguments of the methods that carry one
//! and the `headers` property of a content header. Bytes it cannot read
//! (a length past the end, an unknown type) are left for the parser, which
//! refuses them at the same place; so the parser never goes deeper than
//! this walk has gone.

/// The deepest a field table or array may nest, the outermost table
/// counting as one. Real clients nest two or three levels (client
/// properties hold a capabilities table); RabbitMQ sets no limit, but an
/// unbounded one is a stack overflow here.
pub const FIELD_NESTING_MAX: usize = 32;

/// The fields a method carries before its field table.
#[derive(Clone, Copy)]
enum Field {
    Octet,
    Short,
    ShortString,
}

/// The fields before the field table of every method that has one (as
/// amq-protocol's generated parsers read them), or `None`. Flags of up to
/// eight bits are one octet.
fn fields_before_table(class: u16, method: u16) -> Option<&'static [Field]> {
    use Field::{Octet, Short, ShortString};
    Some(match (class, method) {
        // connection.start: version major and minor, then server properties.
        (10, 10) => &[Octet, Octet],
        // connection.start-ok: client properties first.
        (10, 11) => &[],
        // exchange.declare: reserved, exchange, type, flags, arguments.
        (40, 10) => &[Short, ShortString, ShortString, Octet],
        // exchange.bind and unbind: reserved, destination, source, routing key, flags.
        (40, 30) | (40, 40) => &[Short, ShortString, ShortString, ShortString, Octet],
        // queue.declare: reserved, queue, flags.
        (50, 10) => &[Short, ShortString, Octet],
        // queue.bind: reserved, queue, exchange, routing key, flags.
        (50, 20) => &[Short, ShortString, ShortString, ShortString, Octet],
        // queue.unbind: reserved, queue, exchange, routing key (no flags).
        (50, 50) => &[Short, ShortString, ShortString, ShortString],
        // basic.consume: reserved, queue, consumer tag, flags.
        (60, 20) => &[Short, ShortString, ShortString, Octet],
        _ => return None,
    })
}

/// Whether a method frame's payload nests its field table no deeper than
/// [`FIELD_NESTING_MAX`].
#[must_use]
pub fn method_within_limit(payload: &[u8]) -> bool {
    let mut cursor = Cursor(payload);
    let (Some(class), Some(method)) = (cursor.short(), cursor.short()) else {
        return true;
    };
    let Some(fields) = fields_before_table(class, method) else {
        return true;
    };
    for field in fields {
        let skipped = match field {
            Field::Octet => cursor.take(1),
            Field::Short => cursor.take(2),
            Field::ShortString => cursor.short_string(),
        };
        if skipped.is_none() {
            return true;
        }
    }
    cursor.table_within(FIELD_NESTING_MAX)
}

/// Whether a content header frame's payload nests its `headers` property
/// no deeper than [`FIELD_NESTING_MAX`]. amq-protocol reads basic's
/// properties whatever class the header names, so this does too.
#[must_use]
pub fn header_within_limit(payload: &[u8]) -> bool {
    const CONTENT_TYPE: u16 = 1 << 15;
    const CONTENT_ENCODING: u16 = 1 << 14;
    const HEADERS: u16 = 1 << 13;
    let mut cursor = Cursor(payload);
    // Class, weight and body size come before the property flags.
    let (Some(_), Some(flags)) = (cursor.take(2 + 2 + 8), cursor.short()) else {
        return true;
    };
    if flags & HEADERS == 0 {
        return true;
    }
    for flag in [CONTENT_TYPE, CONTENT_ENCODING] {
        if flags & flag != 0 && cursor.short_string().is_none() {
            return true;
        }
    }
    cursor.table_within(FIELD_NESTING_MAX)
}

/// Whether an encoded field table (its length first) nests no deeper than
/// [`FIELD_NESTING_MAX`]; for tables parsed outside a frame, such as
/// AMQPLAIN's credentials.
#[must_use]
pub fn table_within_limit(encoded: &[u8]) -> bool {
    Cursor(encoded).table_within(FIELD_NESTING_MAX)
}

/// Bytes still to read.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(taken)
    }

    fn octet(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    fn short(&mut self) -> Option<u16> {
        self.take(2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn short_string(&mut self) -> Option<&'a [u8]> {
        let length = self.octet()?;
        self.take(length.into())
    }

    /// A long length, then that many bytes.
    fn long_bytes(&mut self) -> Option<&'a [u8]> {
        let length = self.take(4)?;
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        self.take(usize::try_from(length).ok()?)
    }

    /// A table here nests no deeper than `levels` (itself included).
    fn table_within(&mut self, levels: usize) -> bool {
        match self.long_bytes() {
            Some(entries) => levels > 0 && values_within(entries, true, levels - 1),
            None => true,
        }
    }
}

/// Whether the entries of a table (named values) or of an array (values)
/// nest no deeper than `levels` more tables or arrays. The value types are
/// amq-protocol's, which are RabbitMQ's.
fn values_within(entries: &[u8], named: bool, levels: usize) -> bool {
    let mut cursor = Cursor(entries);
    loop {
        if named && cursor.short_string().is_none() {
            return true;
        }
        let Some(kind) = cursor.octet() else {
            return true;
        };
        let fixed = match kind {
            b'V' => 0,
            b't' | b'b' | b'B' => 1,
            b's' | b'U' | b'u' => 2,
            b'I' | b'i' | b'f' => 4,
            b'D' => 5,
            b'l' | b'L' | b'd' | b'T' => 8,
            b'S' | b'x' => {
                if cursor.long_bytes().is_none() {
                    return true;
                }
                continue;
            }
            b'F' | b'A' => {
                let Some(nested) = cursor.long_bytes() else {
                    return true;
                };
                if levels == 0 || !values_within(nested, kind == b'F', levels - 1) {
                    return false;
                }
                continue;
            }
            // The parser stops at a type it does not know, and so do we.
            _ => return true,
        };
        if cursor.take(fixed).is_none() {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::parsing::parse_field_table;

    fn long(bytes: &[u8]) -> Vec<u8> {
        let mut encoded = u32::try_from(bytes.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        encoded.extend_from_slice(bytes);
        encoded
    }

    /// T(0) is an empty table; T(k+1) holds one entry `a` of type `F` holding T(k).
    fn nested_tables(depth: usize) -> Vec<u8> {
        let mut table = long(&[]);
        for _ in 1..depth {
            let mut entry = vec![1, b'a', b'F'];
            entry.extend_from_slice(&table);
            table = long(&entry);
        }
        table
    }

    /// A table holding one array, holding arrays `depth - 2` deep.
    fn nested_arrays(depth: usize) -> Vec<u8> {
        let mut array = long(&[]);
        for _ in 2..depth {
            let mut value = vec![b'A'];
            value.extend_from_slice(&array);
            array = long(&value);
        }
        let mut entry = vec![1, b'a', b'A'];
        entry.extend_from_slice(&array);
        long(&entry)
    }

    #[test]
    fn tables_nested_to_the_limit_pass_and_parse() {
        let table = nested_tables(FIELD_NESTING_MAX);
        assert!(table_within_limit(&table));
        assert!(parse_field_table(table.as_slice()).is_ok());
        assert!(table_within_limit(&nested_arrays(FIELD_NESTING_MAX)));
    }

    #[test]
    fn tables_or_arrays_nested_past_the_limit_are_refused() {
        assert!(!table_within_limit(&nested_tables(FIELD_NESTING_MAX + 1)));
        assert!(!table_within_limit(&nested_arrays(FIELD_NESTING_MAX + 1)));
        assert!(!table_within_limit(&nested_tables(6000)));
        assert!(!table_within_limit(&nested_arrays(10_000)));
    }

    #[test]
    fn a_start_ok_with_deep_client_properties_is_refused() {
        let mut payload = vec![0, 10, 0, 11];
        payload.extend_from_slice(&nested_tables(6000));
        assert!(!method_within_limit(&payload));
    }

    #[test]
    fn deep_arguments_are_refused_after_the_fields_before_them() {
        // queue.declare: reserved, queue "q", flags, then the arguments.
        let mut payload = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
        payload.extend_from_slice(&nested_tables(FIELD_NESTING_MAX + 1));
        assert!(!method_within_limit(&payload));
        // queue.unbind has no flags octet before its arguments.
        let mut payload = vec![0, 50, 0, 50, 0, 0, 1, b'q', 1, b'x', 0];
        payload.extend_from_slice(&nested_tables(FIELD_NESTING_MAX + 1));
        assert!(!method_within_limit(&payload));
        payload.truncate(11);
        payload.extend_from_slice(&nested_tables(FIELD_NESTING_MAX));
        assert!(method_within_limit(&payload));
    }

    #[test]
    fn deep_headers_in_a_content_header_are_refused() {
        // Class 60, weight 0, body size 0, flags: content-type and headers.
        let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0b1010_0000, 0];
        payload.extend_from_slice(&[4, b't', b'e', b'x', b't']);
        payload.extend_from_slice(&nested_tables(FIELD_NESTING_MAX + 1));
        assert!(!header_within_limit(&payload));
    }

    #[test]
    fn deep_headers_in_a_content_header_of_any_class_are_refused() {
        // amq-protocol parses basic's properties whatever the class (the
        // frames fuzz target found class 1988 getting past this check).
        for class in [0u16, 10, 61, 1988, u16::MAX] {
            let mut payload = class.to_be_bytes().to_vec();
            payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0b0010_0000, 0]);
            payload.extend_from_slice(&nested_tables(FIELD_NESTING_MAX + 1));
            assert!(!header_within_limit(&payload), "class {class}");
        }
    }

    #[test]
    fn bytes_the_parser_refuses_anyway_are_left_to_it() {
        // A table whose length runs past the end, and an unknown type.
        assert!(table_within_limit(&[0, 0, 1, 0, 1, b'a']));
        assert!(table_within_limit(&long(&[1, b'a', b'Z', 0, 0])));
        assert!(method_within_limit(&[0, 50]));
    }
}
