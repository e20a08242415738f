//! Pushing a value that is built where it lands.
//!
//! `deque.push_back(value)` evaluates `value` first and then checks for room;
//! the check's slow path is a call, so the compiler keeps the value on the
//! stack across it, written field by field, and copies it into the slot with
//! wider loads. A wide load of a value written piecewise a moment before
//! cannot be served from the store buffer and waits for the stores to land
//! (a store-forwarding stall, some ten cycles each), and on the message path
//! these copies were a tenth of its time (`perf annotate` on `publish_loop`).
//! Making room before the value is built leaves no call between building and
//! storing, and the fields are written straight into the slot.

use std::collections::VecDeque;

/// Pushes what `make` builds onto the back of `deque`, built in its slot.
#[inline(always)]
pub(crate) fn push_back<T>(deque: &mut VecDeque<T>, make: impl FnOnce() -> T) {
    if deque.len() == deque.capacity() {
        deque.reserve(1);
    }
    // The branch tells the compiler what `reserve` did: within it, the
    // push's own check for room is known to pass and its slow path is gone.
    assert!(deque.len() < deque.capacity(), "room was made");
    deque.push_back(make());
}

/// Pushes what `make` builds onto the end of `vec`, built in its slot.
#[inline(always)]
pub(crate) fn push<T>(vec: &mut Vec<T>, make: impl FnOnce() -> T) {
    if vec.len() == vec.capacity() {
        vec.reserve(1);
    }
    assert!(vec.len() < vec.capacity(), "room was made");
    vec.push(make());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_built_in_place_lands_at_the_back_in_order() {
        let mut deque = VecDeque::new();
        let mut vec = Vec::new();
        for i in 0..100 {
            push_back(&mut deque, || i);
            push(&mut vec, || i);
        }
        assert!(deque.iter().copied().eq(0..100));
        assert_eq!(vec, (0..100).collect::<Vec<_>>());
    }
}
