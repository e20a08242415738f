//! The streams' part of the log: replaying their changes into a fresh
//! [`Streams`], and the snapshot of the live durable topics.
//!
//! Replay appends the logged batches again, so segments roll where they
//! rolled, and producer windows are rebuilt from the batches; a snapshot
//! also writes each window out, since retention may have deleted the
//! batches it was built from. Everything recovered was synced, so the high
//! watermark is the log end.

use super::partition::Partition;
use super::Streams;
use crate::record::Change;
use crate::time::Instant;

impl Streams {
    /// Applies one logged change; changes about topics the log no longer
    /// holds, and partition counts beyond the limit, are ignored. Returns `false` for a change that is not the streams'.
    pub(crate) fn replay(&mut self, change: &Change) -> bool {
        match change {
            Change::TopicCreated {
                topic,
                partitions,
                config,
            } => {
                let in_bounds = (1..=self.limits.partitions_per_topic_max).contains(partitions);
                if !self.names.contains_key(topic) && in_bounds {
                    self.insert_topic(topic, *partitions, *config);
                }
            }
            Change::TopicDeleted { topic } => {
                if let Some(id) = self.names.remove(topic) {
                    self.topics.remove(&id);
                }
            }
            Change::PartitionsCreated { topic, count } => {
                let count = (*count).min(self.limits.partitions_per_topic_max);
                if let Some((_, state)) = self.named_mut(topic) {
                    let count = (count as usize).max(state.partitions.len());
                    state.partitions.resize(count, Partition::default());
                }
            }
            Change::BatchAppended {
                topic,
                partition,
                batch,
            } => self.replay_batch(topic, *partition, batch),
            Change::LogStartMoved {
                topic,
                partition,
                log_start_offset,
            } => {
                if let Some(log) = self.replayed_partition(topic, *partition) {
                    log.move_log_start(*log_start_offset);
                }
            }
            Change::ProducerIdsIssued { upto } => {
                self.next_producer_id = self.next_producer_id.max(upto.saturating_add(1));
            }
            Change::ProducerState {
                topic,
                partition,
                producer_id,
                window,
            } => {
                if let Some(log) = self.replayed_partition(topic, *partition) {
                    log.producers.restore(*producer_id, window.clone());
                }
            }
            _ => return false,
        }
        true
    }

    fn replay_batch(&mut self, topic: &str, index: u32, batch: &std::sync::Arc<super::Batch>) {
        let producers_max = self.limits.producers_per_partition_max;
        let Some((_, state)) = self.named_mut(topic) else {
            return;
        };
        let segment_bytes = state.config.segment_bytes;
        let Some(log) = state.partitions.get_mut(index as usize) else {
            return;
        };
        if batch.records().is_empty() || batch.base_offset() < log.log_end_offset {
            return;
        }
        if batch.base_offset() > log.log_end_offset {
            if !log.segments.is_empty() {
                return;
            }
            log.move_log_start(batch.base_offset());
        }
        log.append(std::sync::Arc::clone(batch), segment_bytes);
        log.high_watermark = log.log_end_offset;
        if batch.producer_id() >= 0 {
            log.producers.record(batch, producers_max);
        }
        self.next_producer_id = self
            .next_producer_id
            .max(batch.producer_id().saturating_add(1));
    }

    fn named_mut(&mut self, topic: &str) -> Option<&mut (String, super::Topic)> {
        let id = self.names.get(topic)?;
        self.topics.get_mut(id)
    }

    fn replayed_partition(&mut self, topic: &str, index: u32) -> Option<&mut Partition> {
        let (_, state) = self.named_mut(topic)?;
        state.partitions.get_mut(index as usize)
    }

    /// Starts the recovered streams' age retention from `now`.
    pub(crate) fn recovered(&mut self, now: Instant) {
        self.arm_retention(now);
    }

    /// The live durable topics as changes that recover them.
    pub(crate) fn snapshot(&self, changes: &mut Vec<Change>) {
        if self.next_producer_id > 0 {
            changes.push(Change::ProducerIdsIssued {
                upto: self.next_producer_id - 1,
            });
        }
        for (name, topic) in self.topics() {
            if !topic.config.durable {
                continue;
            }
            changes.push(Change::TopicCreated {
                topic: name.to_owned(),
                partitions: topic.partitions.len() as u32,
                config: topic.config,
            });
            for (index, log) in topic.partitions.iter().enumerate() {
                snapshot_partition(name, index as u32, log, changes);
            }
        }
    }
}

fn snapshot_partition(name: &str, index: u32, log: &Partition, changes: &mut Vec<Change>) {
    if log.log_start_offset > 0 {
        changes.push(Change::LogStartMoved {
            topic: name.to_owned(),
            partition: index,
            log_start_offset: log.log_start_offset,
        });
    }
    for batch in log.batches() {
        changes.push(Change::BatchAppended {
            topic: name.to_owned(),
            partition: index,
            batch: std::sync::Arc::clone(batch),
        });
    }
    for (producer_id, window) in log.producers.iter() {
        changes.push(Change::ProducerState {
            topic: name.to_owned(),
            partition: index,
            producer_id,
            window: window.clone(),
        });
    }
}
