//! Fetches, and the long poll: a fetch that finds fewer than `min_bytes`
//! waits (parks) until enough become visible or its deadline passes, and
//! is then read again and answered. Parked fetches are indexed by the
//! partitions they read, so a batch becoming visible wakes only its readers.

use super::command::{FetchPartition, FetchedPartition, StreamReply};
use super::error::StreamError;
use super::partition::FetchedData;
use super::Streams;
use crate::config::Mutant;
use crate::protocol::ConnectionId;
use crate::time::Instant;

/// A fetch waiting for bytes or its deadline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ParkedFetch {
    pub(crate) conn: ConnectionId,
    pub(crate) request: u64,
    pub(crate) deadline: Instant,
    pub(crate) min_bytes: u64,
    pub(crate) max_bytes: u64,
    pub(crate) partitions: Vec<FetchPartition>,
    /// The (topic id, partition) of each partition it reads that exists.
    pub(crate) watched: Vec<(u64, u32)>,
    /// Bytes it could be served now, as counted when it parked and since.
    pub(crate) bytes_ready: u64,
}

/// A fetch as the command gives it.
pub(crate) struct FetchRequest {
    pub(crate) partitions: Vec<FetchPartition>,
    pub(crate) max_wait_ms: u64,
    pub(crate) min_bytes: u64,
    pub(crate) max_bytes: u64,
}

impl Streams {
    /// Reads now and answers, or parks the fetch when it found fewer than
    /// `min_bytes`, may wait, and the parking limits allow it.
    pub(crate) fn fetch(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        request: u64,
        fetch: FetchRequest,
    ) {
        if fetch.partitions.len() > self.limits.fetch_partitions_max {
            let partitions = fetch
                .partitions
                .into_iter()
                .map(|asked| FetchedPartition {
                    topic: asked.topic,
                    partition: asked.partition,
                    result: Err(StreamError::InvalidRequest),
                })
                .collect();
            self.reply((conn, request, StreamReply::Fetched { partitions }));
            return;
        }
        let read = self.read(&fetch.partitions, fetch.max_bytes);
        let bytes: u64 = read
            .iter()
            .filter_map(|partition| partition.result.as_ref().ok())
            .flat_map(|data| data.batches.iter())
            .map(|batch| batch.size_bytes())
            .sum();
        let failed = read.iter().any(|partition| partition.result.is_err());
        let parked_here = self.parked_per_connection.get(&conn).copied().unwrap_or(0);
        let may_park = parked_here < self.limits.parked_fetches_per_connection_max
            && self.parked.len() < self.limits.parked_fetches_max;
        let wait_ms = fetch.max_wait_ms.min(self.limits.fetch_wait_ms_max);
        if failed || bytes >= fetch.min_bytes || wait_ms == 0 || !may_park {
            self.reply((conn, request, StreamReply::Fetched { partitions: read }));
            return;
        }
        self.park(now.plus_ms(wait_ms), conn, request, fetch, bytes);
    }

    fn park(
        &mut self,
        deadline: Instant,
        conn: ConnectionId,
        request: u64,
        fetch: FetchRequest,
        bytes_ready: u64,
    ) {
        let id = self.next_fetch_id;
        self.next_fetch_id += 1;
        let watched: Vec<(u64, u32)> = fetch
            .partitions
            .iter()
            .filter_map(|asked| Some((*self.names.get(&asked.topic)?, asked.partition)))
            .collect();
        for key in &watched {
            self.watchers.entry(*key).or_default().insert(id);
        }
        *self.parked_per_connection.entry(conn).or_default() += 1;
        self.fetch_deadlines.insert((deadline, id));
        let parked = ParkedFetch {
            conn,
            request,
            deadline,
            min_bytes: fetch.min_bytes,
            max_bytes: fetch.max_bytes,
            partitions: fetch.partitions,
            watched,
            bytes_ready,
        };
        self.parked.insert(id, parked);
        assert!(
            self.parked.len() <= self.limits.parked_fetches_max,
            "parked fetches are bounded"
        );
    }

    /// Takes a parked fetch out of every index.
    pub(crate) fn unpark(&mut self, id: u64) -> ParkedFetch {
        let parked = self.parked.remove(&id).expect("a parked fetch to unpark");
        for key in &parked.watched {
            let readers = self
                .watchers
                .get_mut(key)
                .expect("a watched partition is indexed");
            readers.remove(&id);
            if readers.is_empty() {
                self.watchers.remove(key);
            }
        }
        let count = self
            .parked_per_connection
            .get_mut(&parked.conn)
            .expect("a parked fetch is counted");
        *count -= 1;
        if *count == 0 {
            self.parked_per_connection.remove(&parked.conn);
        }
        let removed = self.fetch_deadlines.remove(&(parked.deadline, id));
        assert!(removed, "a parked fetch has its deadline");
        parked
    }

    /// Answers a parked fetch with what it reads now.
    pub(crate) fn complete_fetch(&mut self, id: u64) {
        let parked = self.unpark(id);
        let partitions = self.read(&parked.partitions, parked.max_bytes);
        self.reply((
            parked.conn,
            parked.request,
            StreamReply::Fetched { partitions },
        ));
    }

    /// Reads each partition asked now, within the fetch's budget: for a
    /// fetch answered at once whatever it finds.
    pub(crate) fn read_now(
        &self,
        asked: &[FetchPartition],
        max_bytes: u64,
    ) -> Vec<FetchedPartition> {
        self.read(asked, max_bytes)
    }

    /// Reads each partition asked, within its budget and the fetch's;
    /// the first batch of the fetch is served whatever its size.
    fn read(&self, asked: &[FetchPartition], max_bytes: u64) -> Vec<FetchedPartition> {
        let mut left_bytes = max_bytes;
        let mut served_any = false;
        let mut answers = Vec::with_capacity(asked.len());
        for asked in asked {
            let result = self
                .topic(&asked.topic)
                .and_then(|topic| topic.partitions.get(asked.partition as usize))
                .ok_or(StreamError::UnknownTopicOrPartition)
                .and_then(|partition| {
                    let budget = asked.max_bytes.min(left_bytes);
                    partition.fetch(asked.offset, budget, !served_any)
                })
                .map(|data| self.mutated(asked.offset, data));
            if let Ok(data) = &result {
                let bytes: u64 = data.batches.iter().map(|batch| batch.size_bytes()).sum();
                left_bytes = left_bytes.saturating_sub(bytes);
                served_any |= !data.batches.is_empty();
            }
            answers.push(FetchedPartition {
                topic: asked.topic.clone(),
                partition: asked.partition,
                result,
            });
        }
        answers
    }

    /// What a read hands out: the data as read, but the
    /// `fetch-skips-batch-tail` mutant drops a first batch of several
    /// records whose last record is the offset asked for.
    fn mutated(&self, offset: u64, mut data: FetchedData) -> FetchedData {
        if self.is_mutant(Mutant::FetchSkipsBatchTail) {
            let tail = data
                .batches
                .first()
                .is_some_and(|batch| batch.records().len() > 1 && batch.last_offset() == offset);
            if tail {
                data.batches.remove(0);
            }
        }
        data
    }

    /// Makes a partition's records up to `end_offset` visible; the batch
    /// that ends there (`size_bytes`) counts for each reader at an offset
    /// below its end, and readers that now have `min_bytes` are answered.
    pub(crate) fn advance_high_watermark(
        &mut self,
        topic: u64,
        index: u32,
        end_offset: u64,
        size_bytes: u64,
    ) {
        let (name, state) = self.topics.get_mut(&topic).expect("a live topic");
        let partition = &mut state.partitions[index as usize];
        assert!(
            end_offset <= partition.log_end_offset,
            "only appended records become visible"
        );
        partition.high_watermark = partition.high_watermark.max(end_offset);
        let Some(readers) = self.watchers.get(&(topic, index)) else {
            return;
        };
        let name = name.clone();
        let mut ready = Vec::new();
        for &id in readers {
            let parked = self.parked.get_mut(&id).expect("a watcher is parked");
            let reads_it = parked.partitions.iter().any(|asked| {
                asked.topic == name && asked.partition == index && asked.offset < end_offset
            });
            if reads_it {
                parked.bytes_ready += size_bytes;
            }
            if parked.bytes_ready >= parked.min_bytes {
                ready.push(id);
            }
        }
        for id in ready {
            self.complete_fetch(id);
        }
    }
}
