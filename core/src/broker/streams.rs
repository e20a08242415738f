//! The broker's side of the streams: stream commands dispatched to
//! [`Streams`](crate::stream::Streams), their changes logged, their replies
//! sent when their acknowledgement level allows (at once, or once the
//! store synced their record), and their deadlines run.

use super::Broker;
use crate::config::Mutant;
use crate::protocol::{ConnectionId, Output};
use crate::record::Change;
use crate::stream::{
    Acks, Produced, ProducedBatch, StreamCommand, StreamError, StreamReply, TopicConfig,
};

/// A reply, and the record it waits for (when it waits for one).
type Pending = (StreamReply, Option<u64>);

impl Broker {
    /// `Input::Stream`: runs a stream command.
    pub(super) fn stream_command(
        &mut self,
        conn: ConnectionId,
        request: u64,
        command: StreamCommand,
    ) {
        let Some(command) = self.stream_access(conn, request, command) else {
            self.flush_streams();
            return;
        };
        let pending = match command {
            StreamCommand::Authenticated { user } => {
                self.stream_authenticated(conn, &user);
                None
            }
            StreamCommand::DescribeTopic { topic } => {
                let result = (self.streams.topic(&topic))
                    .map(|found| *found.config())
                    .ok_or(StreamError::UnknownTopicOrPartition);
                Some((StreamReply::TopicConfig { topic, result }, None))
            }
            StreamCommand::CreateTopic {
                topic,
                partitions,
                config,
            } => Some(self.create_topic_command(topic, partitions, config)),
            StreamCommand::DeleteTopic { topic } => Some(self.delete_topic_command(topic)),
            StreamCommand::CreatePartitions { topic, count } => {
                Some(self.create_partitions_command(topic, count))
            }
            StreamCommand::Produce {
                topic,
                partition,
                acks,
                batch,
            } => self.produce_command(topic, partition, acks, batch),
            StreamCommand::Fetch {
                partitions,
                max_wait_ms,
                min_bytes,
                max_bytes,
            } => {
                let fetch = crate::stream::FetchRequest {
                    partitions,
                    max_wait_ms,
                    min_bytes,
                    max_bytes,
                };
                self.streams.fetch(self.now, conn, request, fetch);
                None
            }
            StreamCommand::ListOffsets {
                topic,
                partition,
                spec,
            } => {
                let result = self.streams.list_offsets(&topic, partition, spec);
                let reply = StreamReply::Offsets {
                    topic,
                    partition,
                    result,
                };
                Some((reply, None))
            }
            StreamCommand::InitProducerId => {
                let producer_id = self.streams.issue_producer_id();
                let lsn = self.persist(Change::ProducerIdsIssued { upto: producer_id });
                let reply = StreamReply::ProducerIdIssued {
                    producer_id,
                    producer_epoch: 0,
                };
                Some((reply, Some(lsn)))
            }
            StreamCommand::Metadata {
                topics,
                create_partitions,
            } => Some(self.metadata_command(topics, create_partitions)),
            StreamCommand::Group(group_request) => {
                self.group_request(conn, request, group_request);
                None
            }
        };
        if let Some((reply, lsn)) = pending {
            self.stream_reply(conn, request, reply, lsn);
        }
        self.flush_streams();
    }

    fn create_topic_command(
        &mut self,
        topic: String,
        partitions: u32,
        config: TopicConfig,
    ) -> Pending {
        let result = self.streams.create_topic(&topic, partitions, config);
        let lsn = (result.is_ok() && config.durable).then(|| {
            let change = Change::TopicCreated {
                topic: topic.clone(),
                partitions,
                config,
            };
            self.persist(change)
        });
        (StreamReply::TopicCreated { topic, result }, lsn)
    }

    /// Metadata: missing topics named are created first when asked (each
    /// logged as `CreateTopic` would log it), then every topic is listed.
    fn metadata_command(
        &mut self,
        names: Option<Vec<String>>,
        create_partitions: Option<u32>,
    ) -> Pending {
        let Some(names) = names else {
            let topics = (self.streams.topics())
                .map(|(name, topic)| (name.to_owned(), Ok(partition_count(topic))))
                .collect();
            return (StreamReply::Metadata { topics }, None);
        };
        let mut lsn = None;
        let mut topics = Vec::with_capacity(names.len());
        for name in names {
            let created = match (self.streams.topic(&name), create_partitions) {
                (None, Some(partitions)) => {
                    let config = TopicConfig::default();
                    match self.create_topic_command(name.clone(), partitions, config) {
                        (_, Some(created)) => {
                            lsn = Some(created);
                            Ok(())
                        }
                        (StreamReply::TopicCreated { result, .. }, None) => result,
                        (other, None) => unreachable!("a creation answers TopicCreated: {other:?}"),
                    }
                }
                _ => Ok(()),
            };
            // A missing topic is UNKNOWN_TOPIC_OR_PARTITION, or INVALID_TOPIC
            // when no topic could have its name.
            let listed = created.and_then(|()| match self.streams.topic(&name) {
                Some(topic) => Ok(partition_count(topic)),
                None => crate::stream::validate_topic_name(&name)
                    .and(Err(StreamError::UnknownTopicOrPartition)),
            });
            topics.push((name, listed));
        }
        (StreamReply::Metadata { topics }, lsn)
    }

    fn create_partitions_command(&mut self, topic: String, count: u32) -> Pending {
        let result = self.streams.create_partitions(&topic, count);
        let lsn = matches!(result, Ok(true)).then(|| {
            let change = Change::PartitionsCreated {
                topic: topic.clone(),
                count,
            };
            self.persist(change)
        });
        let result = result.map(|_| ());
        (StreamReply::PartitionsCreated { topic, result }, lsn)
    }

    fn delete_topic_command(&mut self, topic: String) -> Pending {
        let result = self.streams.delete_topic(&topic);
        let lsn = matches!(result, Ok(true)).then(|| {
            let change = Change::TopicDeleted {
                topic: topic.clone(),
            };
            self.persist(change)
        });
        let result = result.map(|_| ());
        (StreamReply::TopicDeleted { topic, result }, lsn)
    }

    /// Appends a batch, logs it on a durable topic, and answers as `acks` asks.
    fn produce_command(
        &mut self,
        topic: String,
        partition: u32,
        acks: Acks,
        batch: ProducedBatch,
    ) -> Option<Pending> {
        let (result, lsn) = match self.append_batch(&topic, partition, batch) {
            Err(error) => (Err::<_, StreamError>(error), None),
            Ok((produced, lsn)) => (Ok(produced), lsn),
        };
        // The `ack-before-sync` mutant answers acks after sync at once.
        let early = self.is_mutant(Mutant::AckBeforeSync);
        let wait = match acks {
            Acks::None => return None,
            Acks::Appended => None,
            Acks::Synced => lsn.filter(|_| result.is_ok() && !early),
        };
        let reply = StreamReply::Produced {
            topic,
            partition,
            result,
        };
        Some((reply, wait))
    }

    /// Appends a batch and logs it on a durable topic: where it went, and
    /// the lsn of the record it waits for, if any.
    pub(super) fn append_batch(
        &mut self,
        topic: &str,
        partition: u32,
        batch: ProducedBatch,
    ) -> Result<(Produced, Option<u64>), StreamError> {
        let appended = self.streams.produce(self.now, topic, partition, batch)?;
        let lsn = match (&appended.batch, appended.durable) {
            (Some(batch), true) => {
                let change = Change::BatchAppended {
                    topic: topic.to_owned(),
                    partition,
                    batch: std::sync::Arc::clone(batch),
                };
                let lsn = self.persist(change);
                self.streams
                    .appended_unsynced(lsn, appended.topic, partition, batch);
                Some(lsn)
            }
            // A repeated batch is acknowledged as its original was:
            // after the records logged so far are synced.
            (None, true) => Some(self.last_lsn()),
            (_, false) => None,
        };
        Ok((appended.produced, lsn))
    }

    /// Sends a reply now, or once record `lsn` is synced.
    pub(super) fn stream_reply(
        &mut self,
        conn: ConnectionId,
        request: u64,
        reply: StreamReply,
        lsn: Option<u64>,
    ) {
        match lsn {
            Some(lsn) if lsn > self.synced_lsn => {
                self.streams.reply_after_sync(lsn, (conn, request, reply));
            }
            _ => self.streams.reply((conn, request, reply)),
        }
    }

    /// Moves the streams' outboxes into the outputs: changes to log, then replies.
    pub(super) fn flush_streams(&mut self) {
        if self.streams.outboxes_empty() {
            return;
        }
        let (answers, changes) = self.streams.take_outboxes();
        for change in changes {
            self.persist(change);
        }
        for (conn, request, reply) in answers {
            let reply = self.restrict_reply(conn, request, reply);
            self.outputs.push_back(Output::Stream {
                conn,
                request,
                reply: Box::new(reply),
            });
        }
    }

    /// Runs the streams' deadlines due by now.
    #[inline]
    pub(super) fn fire_stream_timers(&mut self) {
        if self.streams.poll_timeout().is_some_and(|at| at <= self.now) {
            self.streams.fire(self.now);
            self.flush_streams();
        }
    }

    /// The store synced records up to `upto`: stream batches become visible and waiting replies go.
    pub(super) fn synced_streams(&mut self, upto: u64) {
        self.streams.synced(self.now, upto);
        self.flush_streams();
        self.run_stream_queues();
    }
}

/// A topic's partition count, as Metadata gives it.
fn partition_count(topic: &crate::stream::Topic) -> u32 {
    u32::try_from(topic.partitions().len()).expect("a partition count fits a u32")
}
