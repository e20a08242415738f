//! The discrete-event queue: what happens next, in (time, sequence) order.
//!
//! Two events due at the same time run in the order they were scheduled (the
//! sequence number breaks the tie), so the order never depends on anything
//! but the run's own choices. The simulated clock jumps from one event's time
//! to the next: nothing sleeps.

use std::collections::BTreeMap;

/// Most events pending at once; a run that schedules more is broken.
pub const PENDING_MAX: usize = 1_000_000;

/// Pending events, earliest first.
#[derive(Clone, Debug)]
pub struct EventQueue<E> {
    pending: BTreeMap<(u64, u64), E>,
    next_sequence: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            pending: BTreeMap::new(),
            next_sequence: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    #[must_use]
    pub fn new() -> EventQueue<E> {
        EventQueue::default()
    }

    /// Schedules `event` at `at_ns`.
    pub fn push(&mut self, at_ns: u64, event: E) {
        assert!(
            self.pending.len() < PENDING_MAX,
            "event queue bound reached"
        );
        self.pending.insert((at_ns, self.next_sequence), event);
        self.next_sequence += 1;
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pending
            .pop_first()
            .map(|((at_ns, _), event)| (at_ns, event))
    }

    /// Events pending.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_by_scheduling_order() {
        let mut queue = EventQueue::new();
        queue.push(20, "late");
        queue.push(10, "first");
        queue.push(10, "second");
        assert_eq!(queue.pop(), Some((10, "first")));
        assert_eq!(queue.pop(), Some((10, "second")));
        assert_eq!(queue.pop(), Some((20, "late")));
        assert_eq!(queue.pop(), None);
    }
}
