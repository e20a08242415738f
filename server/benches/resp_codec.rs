//! What Redis's protocol costs one publish when redis-protocol reads and
//! writes it, with no server around it: decoding one `PUBLISH` request,
//! encoding its delivery to a subscriber and encoding the publisher's
//! integer answer, the three calls the RESP listener makes for each publish
//! with one subscriber (`src/resp/request.rs`, `src/resp/reply.rs`).
//!
//! `cargo bench -p brokerlab-server --bench resp_codec`;
//! `scripts/bench-resp.py` sets the figure beside redis-server's whole user
//! CPU per publish, measured in the same run, in reports/bench-resp.md.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redis_protocol::resp2::decode::decode_range;
use redis_protocol::resp2::encode::{extend_encode, extend_encode_borrowed};
use redis_protocol::resp2::types::{BorrowedFrame, BytesFrame, RangeFrame};
use std::hint::black_box;

/// The allocator `brokerlab serve` runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Publishes per measured iteration.
const PUBLISHES: usize = 1_000;

/// The request redis-benchmark sends in reports/bench-resp.md's runs.
const REQUEST: &[u8] = b"*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$16\r\n0123456789abcdef\r\n";

fn publish(request: &[u8], out: &mut BytesMut) {
    let Ok(Some((RangeFrame::Array(frames), _))) = decode_range(black_box(request)) else {
        panic!("a PUBLISH request decodes");
    };
    let argument = |index: usize| match frames[index] {
        RangeFrame::BulkString((start, end)) => &request[start..end],
        _ => panic!("a bulk string"),
    };
    let (channel, message) = (argument(1), argument(2));
    let delivery = BorrowedFrame::Array(&[
        BorrowedFrame::BulkString(b"message"),
        BorrowedFrame::BulkString(channel),
        BorrowedFrame::BulkString(message),
    ]);
    extend_encode_borrowed(out, &delivery, false).expect("a delivery encodes");
    extend_encode(out, &BytesFrame::Integer(1), false).expect("an integer encodes");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp/codec");
    group.throughput(Throughput::Elements(PUBLISHES as u64));
    group.bench_function("publish", |b| {
        b.iter_batched_ref(
            || BytesMut::with_capacity(PUBLISHES * 64),
            |out| {
                for _ in 0..PUBLISHES {
                    publish(REQUEST, out);
                }
                black_box(out.len())
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
