//! Stream benches: batches produced into a partition and fetched back by
//! one reader, through the broker's inputs and outputs, beside the floor
//! of the same batches pushed into a `Vec` and read back by slice; and the
//! recovery of a partition of 10,000,000 records in 100,000 batches.
//!
//! `cargo bench -p brokerlab-core --bench streams`. Figures and the
//! stream/floor ratio go into reports/bench-streams.md
//! (`scripts/bench-streams.py`).

use brokerlab_core::record::{Change, Record};
use brokerlab_core::stream::{
    Acks, Batch, FetchPartition, ProducedBatch, StreamRecord, TopicConfig,
};
use brokerlab_core::{
    Broker, Config, ConnectionId, Input, Instant, Output, StreamCommand, StreamReply,
};
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::Arc;

/// Records in a batch.
const RECORDS_PER_BATCH: usize = 100;
/// Bytes in a record's value.
const VALUE_BYTES: usize = 100;
/// Batches produced and fetched per measured iteration.
const BATCHES_PER_ITERATION: usize = 10;
/// Batches in the recovered log.
const RECOVERED_BATCHES: usize = 100_000;

static VALUE: [u8; VALUE_BYTES] = [7; VALUE_BYTES];

/// A batch of records as a front end would decode it: values point into
/// the request's buffer (here a static one), so no value is copied.
fn records() -> Vec<StreamRecord> {
    (0..RECORDS_PER_BATCH)
        .map(|index| StreamRecord {
            timestamp_ms: index as i64,
            key: None,
            value: Some(Bytes::from_static(&VALUE)),
            headers: Vec::new(),
        })
        .collect()
}

/// What the reader does with each record it reads.
fn consume(record: &StreamRecord, total: &mut usize) {
    *total += record.value.as_ref().map_or(0, Bytes::len);
}

struct Producer {
    broker: Broker,
    /// The reader's next offset.
    offset: u64,
    request: u64,
}

impl Producer {
    /// A broker with one in-memory partition that keeps its last 64 MiB.
    fn new() -> Producer {
        let mut broker = Broker::new(Config::default());
        let config = TopicConfig {
            durable: false,
            segment_bytes: 1 << 20,
            retention_bytes: Some(64 << 20),
            retention_ms: None,
            ..TopicConfig::default()
        };
        let create = StreamCommand::CreateTopic {
            topic: "t".into(),
            partitions: 1,
            config,
        };
        let mut producer = Producer {
            broker: Broker::new(Config::default()),
            offset: 0,
            request: 0,
        };
        std::mem::swap(&mut producer.broker, &mut broker);
        producer.send(create);
        producer
    }

    fn send(&mut self, command: StreamCommand) {
        self.request += 1;
        let input = Input::Stream {
            conn: ConnectionId(1),
            request: self.request,
            command: Box::new(command),
        };
        self.broker.handle(Instant(1), input);
    }

    /// Produces one batch, fetches from the reader's offset, and reads
    /// every record the fetch returns at or after it.
    fn produce_fetch(&mut self, total: &mut usize) {
        let batch = ProducedBatch::plain(records());
        self.send(StreamCommand::Produce {
            topic: "t".into(),
            partition: 0,
            acks: Acks::Appended,
            batch,
        });
        self.send(StreamCommand::Fetch {
            partitions: vec![FetchPartition {
                topic: "t".into(),
                partition: 0,
                offset: self.offset,
                max_bytes: 1 << 20,
            }],
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1 << 20,
        });
        while let Some(output) = self.broker.poll_output() {
            if let Output::Stream { reply, .. } = output {
                if let StreamReply::Fetched { partitions } = *reply {
                    self.read(partitions, total);
                }
            }
        }
    }

    fn read(
        &mut self,
        partitions: Vec<brokerlab_core::stream::FetchedPartition>,
        total: &mut usize,
    ) {
        for partition in partitions {
            let data = partition.result.expect("the reader's offset is in range");
            for batch in &data.batches {
                let skip = self.offset.saturating_sub(batch.base_offset()) as usize;
                for record in &batch.records()[skip.min(batch.records().len())..] {
                    consume(record, total);
                }
                self.offset = self.offset.max(batch.end_offset());
            }
        }
    }
}

/// The floor: the same batches pushed into a `Vec` and read back by slice.
#[derive(Default)]
struct Floor {
    batches: Vec<Vec<StreamRecord>>,
    read: usize,
}

impl Floor {
    fn append_read(&mut self, total: &mut usize) {
        if self.batches.len() == 4096 {
            self.batches.clear();
            self.read = 0;
        }
        self.batches.push(records());
        for batch in &self.batches[self.read..] {
            for record in batch {
                consume(record, total);
            }
        }
        self.read = self.batches.len();
    }
}

fn bench_produce_fetch(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(
        (RECORDS_PER_BATCH * BATCHES_PER_ITERATION) as u64,
    ));
    group.bench_function("stream/produce_fetch", |b| {
        let mut producer = Producer::new();
        let mut total = 0;
        b.iter(|| {
            for _ in 0..BATCHES_PER_ITERATION {
                producer.produce_fetch(&mut total);
            }
        });
        black_box(total);
        producer.broker.check_invariants();
    });
    group.bench_function("floor/vec_append_slice", |b| {
        let mut floor = Floor::default();
        let mut total = 0;
        b.iter(|| {
            for _ in 0..BATCHES_PER_ITERATION {
                floor.append_read(&mut total);
            }
        });
        black_box(total);
    });
    group.finish();
}

/// The log of one durable partition of `RECOVERED_BATCHES` batches.
fn recovery_log() -> Vec<Record> {
    let config = TopicConfig {
        retention_ms: None,
        ..TopicConfig::default()
    };
    let mut log = vec![Record {
        lsn: 1,
        change: Change::TopicCreated {
            topic: "t".into(),
            partitions: 1,
            config,
        },
    }];
    for index in 0..RECOVERED_BATCHES {
        let base_offset = (index * RECORDS_PER_BATCH) as u64;
        let batch = Batch::new(ProducedBatch::plain(records()), base_offset, Instant(1));
        log.push(Record {
            lsn: index as u64 + 2,
            change: Change::BatchAppended {
                topic: "t".into(),
                partition: 0,
                batch: Arc::new(batch),
            },
        });
    }
    log
}

fn bench_recover(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        (RECORDS_PER_BATCH * RECOVERED_BATCHES) as u64,
    ));
    group.bench_function("stream/recover_10m", |b| {
        let log = recovery_log();
        b.iter_batched(
            || log.clone(),
            |log| {
                let broker = Broker::recover(Config::default(), log);
                let topic = broker.streams().topic("t").expect("recovered");
                assert_eq!(topic.partitions()[0].log_end_offset(), 10_000_000);
                broker
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_produce_fetch, bench_recover);
criterion_main!(benches);
