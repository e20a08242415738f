//! A stream reader: it owns partitions of a topic and reads them with
//! long polls, tracking its position in each. It owns either fixed
//! partitions, or those its consumer group assigns it (see
//! [`super::membership`]).
//!
//! A reader of fixed partitions starts each at 0; a group member starts
//! each partition it is assigned at the group's committed offset (0 where
//! none is), and commits its positions after the work on each poll. A poll is one fetch of all
//! its partitions that waits up to `wait_ms` for a byte; of what comes back
//! it takes, per partition, the records at or past its position (a fetch
//! hands out whole batches) and at most `max_poll_records` of them (Kafka's
//! `max.poll.records`), so its next position may fall inside a batch. A
//! partition answered with OFFSET_OUT_OF_RANGE (retention moved the log
//! start past its position) is reset by its policy: ListOffsets earliest
//! or latest. Between polls it works for a drawn pause; a slow reader
//! pauses long, and falls behind retention. It keeps its positions across
//! connections and crashes, as an application that stores them does.
//!
//! It stops once no stream producer is left and a poll sent after that
//! found nothing at any of its positions: every acknowledged record was
//! visible before its acknowledgement left the broker, so a reader that
//! stopped then has read all there is. A group member stops only once that
//! poll was of its current assignment and its positions are committed.

use super::membership::{GroupSpec, Membership, Next, Phase};
use super::{stream_value, Context, Outbox};
use crate::history::Entry;
use crate::plan::Span;
use brokerlab_core::group::{GroupReply, GroupRequest};
use brokerlab_core::stream::{
    FetchPartition, FetchedData, OffsetSpec, StreamCommand, StreamError, StreamReply, TopicConfig,
};
use brokerlab_core::ConnectionId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most bytes a poll asks for, per partition and in all.
const FETCH_BYTES_MAX: u64 = 1 << 20;

/// How a stream reader behaves.
#[derive(Clone, Debug)]
pub struct StreamReaderSpec {
    /// The reader's index among the run's readers.
    pub id: usize,
    /// The topic it reads (created on every new connection if missing).
    pub topic: Arc<str>,
    /// The topic's partition count.
    pub partitions: u32,
    /// The topic's configuration.
    pub config: TopicConfig,
    /// The partitions it owns, if it is not a group member.
    pub owned: Arc<[u32]>,
    /// The consumer group it reads in, which assigns it its partitions.
    pub group: Option<GroupSpec>,
    /// Most records it takes from one partition per poll.
    pub max_poll_records: usize,
    /// How long a poll waits at the broker for a byte.
    pub wait_ms: u64,
    /// How long it works between two polls.
    pub pause: Span,
    /// Where it goes on OFFSET_OUT_OF_RANGE: earliest or latest.
    pub reset: OffsetSpec,
}

/// The stream reader state machine.
#[derive(Clone, Debug)]
pub struct StreamReader {
    spec: StreamReaderSpec,
    pub(super) outbox: Outbox,
    conn: Option<ConnectionId>,
    /// The topic is known to exist on this connection.
    ready: bool,
    /// The partitions it owns now.
    owned: Vec<u32>,
    /// Its part in its consumer group, if it reads in one.
    membership: Option<Box<Membership>>,
    /// A poll of its current partitions, sent after the last producer was done, found nothing.
    drained: bool,
    /// Its position in each partition it owns, once it started.
    positions: BTreeMap<u32, u64>,
    /// The poll in flight: its request, and whether it was sent after the last producer was done.
    polling: Option<(u64, bool)>,
    /// Resets in flight: the partition of each ListOffsets request.
    resetting: BTreeMap<u64, u32>,
    next_request: u64,
    next_poll_ns: u64,
    done: bool,
}

impl StreamReader {
    /// A reader that has read nothing yet; one that owns no partition is done.
    #[must_use]
    pub fn new(spec: StreamReaderSpec) -> StreamReader {
        assert!(spec.max_poll_records > 0, "a poll takes a record");
        assert!(
            spec.owned.iter().all(|p| *p < spec.partitions),
            "it owns partitions of the topic"
        );
        assert!(
            matches!(spec.reset, OffsetSpec::Earliest | OffsetSpec::Latest),
            "a reset policy is earliest or latest"
        );
        let membership = (spec.group.clone())
            .map(|group| Box::new(Membership::new(group, spec.topic.clone(), spec.partitions)));
        let owned = match membership {
            Some(_) => Vec::new(),
            None => spec.owned.to_vec(),
        };
        StreamReader {
            done: membership.is_none() && owned.is_empty(),
            spec,
            outbox: Outbox::default(),
            conn: None,
            ready: false,
            owned,
            membership,
            drained: false,
            positions: BTreeMap::new(),
            polling: None,
            resetting: BTreeMap::new(),
            next_request: 0,
            next_poll_ns: 0,
        }
    }

    /// Whether it has read everything and stopped.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub(super) fn handle_open(&mut self, context: &mut Context<'_>, conn: ConnectionId) {
        assert!(
            self.polling.is_none(),
            "no poll in flight on a new connection"
        );
        self.conn = Some(conn);
        let create = StreamCommand::CreateTopic {
            topic: self.spec.topic.to_string(),
            partitions: self.spec.partitions,
            config: self.spec.config,
        };
        self.request(create);
        self.next_poll_ns = context.now_ns;
    }

    pub(super) fn handle_reply(
        &mut self,
        context: &mut Context<'_>,
        request: u64,
        reply: StreamReply,
    ) {
        match reply {
            StreamReply::TopicCreated { result, .. } => match result {
                Ok(()) | Err(StreamError::TopicAlreadyExists) => self.topic_ready(context),
                // Not part of this workload: start over on a new connection.
                Err(_) => self.outbox.close(),
            },
            StreamReply::Fetched { partitions } => {
                let Some((_, last)) = self.polling.take_if(|(sent, _)| *sent == request) else {
                    return;
                };
                let mut found = false;
                for fetched in partitions {
                    found |= self.fetched(context, fetched.partition, fetched.result);
                }
                self.drained = last && !found && self.resetting.is_empty();
                self.next_poll_ns = context.now_ns + self.spec.pause.draw(context.rng);
                self.settle(context);
            }
            StreamReply::Offsets {
                partition, result, ..
            } => {
                if self.resetting.remove(&request).is_none() {
                    return;
                }
                // A failed look-up leaves the position: the next poll fails again and retries.
                if let Ok(listed) = result {
                    let offset = listed.offset.unwrap_or(listed.high_watermark);
                    self.seek(context, partition, offset);
                }
            }
            StreamReply::Group(reply) => self.group_reply(context, request, reply),
            _ => {}
        }
    }

    /// A group reply: the member's protocol moves on.
    fn group_reply(&mut self, context: &mut Context<'_>, request: u64, reply: GroupReply) {
        let reader = self.spec.id;
        let now_ns = context.now_ns;
        let Some(membership) = self.membership.as_mut() else {
            return;
        };
        let pending = membership.pending.filter(|(sent, _)| *sent == request);
        let next = match reply {
            GroupReply::Join(join) if pending.is_some() => membership.joined(&join, now_ns),
            GroupReply::Sync(sync) if pending.is_some() => {
                membership.synced(&sync, reader, context)
            }
            GroupReply::OffsetFetch { error, partitions } => match pending {
                Some((_, sent_ns)) => {
                    membership.offsets_fetched(error, &partitions, (reader, sent_ns), context)
                }
                None => Next::Nothing,
            },
            GroupReply::Heartbeat { error } if membership.heartbeat == Some(request) => {
                membership.heartbeat_answered(error, now_ns)
            }
            GroupReply::OffsetCommit { partitions }
                if membership
                    .committing
                    .as_ref()
                    .is_some_and(|c| c.request == request) =>
            {
                let errors: Vec<_> = partitions.iter().map(|p| p.error).collect();
                membership.commit_answered(&errors, reader, context)
            }
            _ => return,
        };
        if pending.is_some() {
            membership.pending = None;
        }
        if membership.phase == Phase::Fetching {
            // A sync answered with a new assignment: what it read of the old one is dropped.
            self.revoke();
        }
        match next {
            Next::Nothing => {}
            Next::Send(group_request) => self.send_group(context, group_request),
            Next::Start(starts) => self.assigned(context, starts),
        }
        self.settle(context);
    }

    /// Sends a join, sync or offset fetch, the one group request besides
    /// heartbeats and commits that may be in flight.
    fn send_group(&mut self, context: &mut Context<'_>, group_request: GroupRequest) {
        let request = self.request(StreamCommand::Group(group_request));
        let membership = self.membership.as_mut().expect("a group member");
        membership.pending = Some((request, context.now_ns));
    }

    /// The partitions of a new assignment, at the offsets the group
    /// committed: the reader drops what it held and starts there. Where
    /// nothing is committed it starts at 0 (OFFSET_OUT_OF_RANGE then
    /// resets it by its policy, as `auto.offset.reset` does).
    fn assigned(&mut self, context: &mut Context<'_>, starts: Vec<(u32, Option<u64>)>) {
        self.revoke();
        self.owned = starts.iter().map(|(partition, _)| *partition).collect();
        for (partition, offset) in starts {
            self.positions.insert(partition, offset.unwrap_or(0));
            let entry = Entry::StreamSeek {
                reader: self.spec.id,
                partition,
                from: None,
                offset: offset.unwrap_or(0),
            };
            context.history.record(context.now_ns, entry);
        }
    }

    /// Drops the partitions it owned, their positions and what it was
    /// reading of them.
    fn revoke(&mut self) {
        self.polling = None;
        self.resetting.clear();
        self.positions.clear();
        self.owned.clear();
        self.drained = false;
    }

    /// A reader of fixed partitions is done once it drained them; a group
    /// member once the group has committed past every acknowledged record
    /// (it may have drained its own partitions while others wait for a
    /// member that left without a word).
    fn settle(&mut self, context: &Context<'_>) {
        self.done = match &self.membership {
            None => self.drained,
            Some(_) => context.streams.group_is_done(),
        };
    }

    fn topic_ready(&mut self, context: &mut Context<'_>) {
        self.ready = true;
        if let Some(membership) = self.membership.as_mut() {
            let join = membership.join();
            return self.send_group(context, join);
        }
        for partition in self.owned.clone() {
            if !self.positions.contains_key(&partition) {
                self.seek(context, partition, 0);
            }
        }
    }

    /// Moves to `offset` in `partition`, and records it.
    fn seek(&mut self, context: &mut Context<'_>, partition: u32, offset: u64) {
        let from = self.positions.insert(partition, offset);
        let entry = Entry::StreamSeek {
            reader: self.spec.id,
            partition,
            from,
            offset,
        };
        context.history.record(context.now_ns, entry);
    }

    /// Takes what a poll found in one partition; returns whether it found
    /// anything (records, or a reason to reset).
    fn fetched(
        &mut self,
        context: &mut Context<'_>,
        partition: u32,
        result: Result<FetchedData, StreamError>,
    ) -> bool {
        let position = self.positions[&partition];
        let data = match result {
            Ok(data) => data,
            Err(StreamError::OffsetOutOfRange) => {
                let spec = self.spec.reset;
                let lookup = StreamCommand::ListOffsets {
                    topic: self.spec.topic.to_string(),
                    partition,
                    spec,
                };
                let request = self.request(lookup);
                self.resetting.insert(request, partition);
                return true;
            }
            // Nothing this workload expects: the next poll tries again.
            Err(_) => return true,
        };
        let records: Vec<(u64, Option<crate::history::StreamValue>)> = data
            .batches
            .iter()
            .flat_map(|batch| {
                let base = batch.base_offset();
                batch
                    .records()
                    .iter()
                    .enumerate()
                    .map(move |(index, record)| (base + index as u64, stream_value(record)))
            })
            .filter(|(offset, _)| *offset >= position)
            .take(self.spec.max_poll_records)
            .collect();
        let Some(&(last, _)) = records.last() else {
            return false;
        };
        self.positions.insert(partition, last + 1);
        let entry = Entry::StreamPoll {
            reader: self.spec.id,
            partition,
            records,
        };
        context.history.record(context.now_ns, entry);
        true
    }

    pub(super) fn handle_closed(&mut self, _: &mut Context<'_>) {
        self.conn = None;
        self.ready = false;
        self.outbox.clear();
        self.polling = None;
        self.resetting.clear();
        if let Some(membership) = self.membership.as_mut() {
            membership.disconnected();
        }
    }

    pub(super) fn handle_timeout(&mut self, context: &mut Context<'_>) {
        self.settle(context);
        self.group_timeout(context);
        if !self.may_poll() || self.next_poll_ns > context.now_ns {
            return;
        }
        self.commit_positions(context.now_ns);
        let partitions = self
            .owned
            .iter()
            .map(|partition| FetchPartition {
                topic: self.spec.topic.to_string(),
                partition: *partition,
                offset: self.positions[partition],
                max_bytes: FETCH_BYTES_MAX,
            })
            .collect();
        let fetch = StreamCommand::Fetch {
            partitions,
            max_wait_ms: self.spec.wait_ms,
            min_bytes: 1,
            max_bytes: FETCH_BYTES_MAX,
        };
        let request = self.request(fetch);
        self.polling = Some((request, context.streams.producers_left == 0));
    }

    /// A member in its group rejoins at once, keeping its partitions until
    /// its next SyncGroup answers; returns whether it was one.
    pub(super) fn enforce_rebalance(&mut self, context: &mut Context<'_>) -> bool {
        let member = (self.membership.as_ref())
            .is_some_and(|m| m.phase == Phase::Member && m.pending.is_none());
        if !member || !self.ready || self.done {
            return false;
        }
        let join = self.membership.as_mut().expect("a member").join();
        self.send_group(context, join);
        true
    }

    /// A group member's deadlines: a join to send again, a heartbeat due.
    fn group_timeout(&mut self, context: &mut Context<'_>) {
        let request = self.next_request;
        let Some(membership) = self
            .membership
            .as_mut()
            .filter(|_| self.ready && !self.done)
        else {
            return;
        };
        let rejoin = membership.phase == Phase::Joining && membership.pending.is_none();
        if rejoin && membership.retry_ns <= context.now_ns {
            let join = membership.join();
            return self.send_group(context, join);
        }
        let heartbeat = membership.phase == Phase::Member && membership.heartbeat.is_none();
        if heartbeat && membership.next_heartbeat_ns <= context.now_ns {
            let heartbeat = membership.heartbeat(request);
            self.request(StreamCommand::Group(heartbeat));
        }
    }

    /// A group member commits the positions its last poll's work reached,
    /// with the generation of the partitions it holds: at the next poll, as
    /// a consumer's auto-commit does.
    fn commit_positions(&mut self, now_ns: u64) {
        let request = self.next_request;
        let Some(membership) = self.membership.as_mut() else {
            return;
        };
        let holds = membership.held.is_some() && membership.phase != Phase::Fetching;
        if !holds || membership.committing.is_some() {
            return;
        }
        let held = &membership.held.as_ref().expect("checked above").partitions;
        assert!(
            self.positions
                .keys()
                .all(|partition| held.contains(partition)),
            "a member reads only partitions it holds"
        );
        let moved: BTreeMap<u32, u64> = (self.positions.iter())
            .filter(|(partition, offset)| membership.committed.get(partition) != Some(offset))
            .map(|(partition, offset)| (*partition, *offset))
            .collect();
        if !moved.is_empty() {
            let commit = membership.commit(request, moved, now_ns);
            self.request(StreamCommand::Group(commit));
        }
    }

    fn may_poll(&self) -> bool {
        let fetching = (self.membership.as_ref()).is_some_and(|m| m.phase == Phase::Fetching);
        self.ready
            && !self.done
            && !fetching
            && !self.owned.is_empty()
            && self.polling.is_none()
            && self.resetting.is_empty()
    }

    /// The next poll, join or heartbeat, when one may go.
    pub(super) fn poll_timeout(&self) -> Option<u64> {
        let poll = self.may_poll().then_some(self.next_poll_ns);
        let group = (self.membership.as_ref())
            .filter(|_| self.ready && !self.done)
            .and_then(|membership| match membership.phase {
                Phase::Joining if membership.pending.is_none() => Some(membership.retry_ns),
                Phase::Member if membership.heartbeat.is_none() => {
                    Some(membership.next_heartbeat_ns)
                }
                _ => None,
            });
        [poll, group].into_iter().flatten().min()
    }

    /// Queues a stream command under the next request number, and returns it.
    fn request(&mut self, command: StreamCommand) -> u64 {
        assert!(
            self.resetting.len() <= self.owned.len(),
            "one reset per partition"
        );
        let request = self.next_request;
        self.next_request += 1;
        self.outbox.send_stream(request, command);
        request
    }
}
