//! What a queued message costs in heap: counted by this test binary's own
//! allocator, so the figure is exact (`reports/memory-vs-rabbitmq.md`
//! measures the server's RSS, which also holds the allocator's slack).
//! One test only: the count is the whole process's.

mod support;

use brokerlab_core::{Config, FieldTable, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes it holds.
struct Counting;

static HELD_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        HELD_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        System.dealloc(pointer, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A queued 16-byte message is one allocation of 56 bytes (its id, a
/// pointer to the envelope its publisher's run of messages shares, and the
/// body inline) plus its 32-byte entry in the queue: 88 bytes, where RabbitMQ
/// 3.10's classic queue holds about 970.
#[test]
fn a_queued_16_byte_message_takes_one_allocation_and_88_bytes_of_heap() {
    let mut broker = support::Harness::new(Config::default());
    broker.connect(1);
    broker.declare(1, 1, "q", FieldTable::new()).assert_ok();
    // Up to 64 queued, then up to 1,024: the queue's ring doubles from one
    // capacity to the other, so its counted growth is exactly 32 bytes per
    // queued message.
    let before_count = 64;
    let after_count = 1024;
    for index in 0..before_count {
        broker.publish(1, 1, "", "q", &format!("{index:016}"));
    }
    let (bytes_before, allocations_before) = (
        HELD_BYTES.load(Ordering::SeqCst),
        ALLOCATIONS.load(Ordering::SeqCst),
    );
    for index in before_count..after_count {
        broker.publish(1, 1, "", "q", &format!("{index:016}"));
    }
    let queued = (after_count - before_count) as f64;
    let bytes = (HELD_BYTES.load(Ordering::SeqCst) - bytes_before) as f64 / queued;
    let allocations = (ALLOCATIONS.load(Ordering::SeqCst) - allocations_before) as f64 / queued;
    assert_eq!(
        std::mem::size_of::<Message>() + 8,
        56,
        "the message with its count"
    );
    // The broker's other bookkeeping, spread over the messages, adds under a byte.
    assert!(bytes < 89.0, "{bytes} bytes per queued message");
    assert!(
        allocations <= 1.0,
        "{allocations} allocations per queued message"
    );
}
