//! The history of a run: what the clients saw and did, and what the broker said.
//!
//! Checkers judge a run from the outside, as Jepsen does: from the
//! client-side record of publishes, confirms, deliveries and settles, plus the
//! core's own event stream (enqueued, delivered, acked, ...) and the
//! simulator's crashes and dropped connections. Nothing here reaches into the
//! broker's state. Entries are kept in the order they happened, each stamped
//! with the simulated time.
//!
//! A message is followed by its [`Stamp`]: the producer writes into every
//! body the logical message (`payload`, which a retry sends again) and the
//! publish attempt (`attempt`, unique in the run), so a delivery says exactly
//! which publish it came from, whatever ids the broker handed out.

pub use brokerlab_core::saga::Action as SagaAction;
use brokerlab_core::Name;
use brokerlab_core::{ChannelId, ConnectionId, Event, FieldValue, MessageId, Properties};
use bytes::Bytes;
use std::sync::Arc;

/// Most entries a history may hold; a run that records more is broken.
pub const ENTRIES_MAX: usize = 4_000_000;

/// What a producer writes into a message body to identify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The logical message: the same for every retry of one publish.
    pub payload: u64,
    /// The publish attempt: unique in the run.
    pub attempt: u64,
}

impl Stamp {
    /// Bytes in an encoded stamp.
    pub const LEN: usize = 16;

    /// The body that carries this stamp.
    #[must_use]
    pub fn encode(self) -> Bytes {
        let mut body = Vec::with_capacity(Stamp::LEN);
        body.extend_from_slice(&self.payload.to_be_bytes());
        body.extend_from_slice(&self.attempt.to_be_bytes());
        Bytes::from(body)
    }

    /// The stamp in a body, or `None` when the body is not one a producer wrote.
    #[must_use]
    pub fn decode(body: &[u8]) -> Option<Stamp> {
        let bytes: &[u8; Stamp::LEN] = body.try_into().ok()?;
        let (payload, attempt) = bytes.split_at(8);
        Some(Stamp {
            payload: u64::from_be_bytes(payload.try_into().ok()?),
            attempt: u64::from_be_bytes(attempt.try_into().ok()?),
        })
    }
}

/// One record of a stream as a client wrote or read it: the number of its
/// key (`k<n>`) and the stamp its value carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamValue {
    /// The key's number.
    pub key: u32,
    /// What the value carries: the logical record and its batch.
    pub stamp: Stamp,
}

/// How a consumer settled a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settle {
    /// basic.ack.
    Ack,
    /// basic.nack with requeue.
    Nack,
    /// basic.reject with requeue.
    Reject,
    /// basic.reject without requeue: the message is dead-lettered (or dropped).
    Discard,
}

impl Settle {
    /// Whether the message goes back to its queue.
    #[must_use]
    pub fn requeues(self) -> bool {
        matches!(self, Settle::Nack | Settle::Reject)
    }
}

/// One entry of an `x-death` header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Death {
    /// The queue the message died in.
    pub queue: String,
    /// Why (`rejected`, `expired`, `maxlen`, `delivery_limit`).
    pub reason: String,
    /// How often it died there for that reason.
    pub count: u64,
}

/// A delivery's `x-death` header: its entries, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Deaths {
    /// The entries, newest first (never empty).
    pub entries: Vec<Death>,
}

impl Deaths {
    /// What the `x-death` header of these properties says, or `None` without one.
    #[must_use]
    pub fn of(properties: &Properties) -> Option<Deaths> {
        let Some(FieldValue::Array(deaths)) = properties.headers.as_ref()?.get("x-death") else {
            return None;
        };
        let entry = |death: &FieldValue| -> Option<Death> {
            let FieldValue::Table(fields) = death else {
                return None;
            };
            let text = |name: &str| fields.get(name)?.as_str().map(str::to_owned);
            let count = fields.get("count")?.as_integer()?;
            Some(Death {
                queue: text("queue")?,
                reason: text("reason")?,
                count: u64::try_from(count).ok()?,
            })
        };
        let entries: Vec<Death> = deaths.iter().filter_map(entry).collect();
        (!entries.is_empty()).then_some(Deaths { entries })
    }

    /// The newest entry.
    #[must_use]
    pub fn newest(&self) -> &Death {
        &self.entries[0]
    }

    /// How often the message died, over every (queue, reason).
    #[must_use]
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|death| death.count).sum()
    }

    /// How often it died in `queue` for `reason`.
    #[must_use]
    pub fn count(&self, queue: &str, reason: &str) -> u64 {
        self.entries
            .iter()
            .find(|death| death.queue == queue && death.reason == reason)
            .map_or(0, |death| death.count)
    }
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A producer sent a publish.
    Publish {
        /// Which producer.
        producer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The publisher-confirm sequence number of the publish.
        seq: u64,
        /// What the body carries.
        stamp: Stamp,
        /// The queues the workload's routing table sends it to.
        routes: Arc<[Name]>,
        /// Its priority property, if set.
        priority: Option<u8>,
        /// Its per-message TTL (the expiration property), in milliseconds, if set.
        expiration_ms: Option<u64>,
    },
    /// A producer received a publisher confirm for one publish.
    Confirm {
        /// Which producer.
        producer: usize,
        /// What the confirmed publish carried.
        stamp: Stamp,
        /// basic.ack (`true`) or basic.nack (`false`).
        ack: bool,
    },
    /// A consumer started consuming on a connection.
    Consume {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The prefetch it asked for.
        prefetch: u16,
    },
    /// A consumer received a delivery.
    Deliver {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The queue it consumes from.
        queue: Name,
        /// The delivery tag.
        delivery_tag: u64,
        /// The redelivered flag.
        redelivered: bool,
        /// The broker's id for the message.
        message: MessageId,
        /// What the body carries (`None`: a body no producer wrote).
        stamp: Option<Stamp>,
        /// What its `x-death` header says, if it has one.
        deaths: Option<Deaths>,
    },
    /// A consumer sent a settle for a delivery.
    Settle {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// Its channel.
        channel: ChannelId,
        /// The delivery tag settled.
        delivery_tag: u64,
        /// How.
        how: Settle,
    },
    /// An idempotent consumer applied the effect of a logical message.
    Effect {
        /// Which consumer.
        consumer: usize,
        /// The logical message.
        payload: u64,
    },
    /// A requester received a reply.
    Answer {
        /// Which requester (producer).
        requester: usize,
        /// The reply's correlation id.
        correlation: Option<String>,
        /// The logical message the reply's body names.
        payload: Option<u64>,
    },
    /// A consumer gave up on a message after its retries (acked it unprocessed).
    GaveUp {
        /// Which consumer.
        consumer: usize,
        /// The logical message.
        payload: u64,
    },
    /// A stream producer sent a batch to a partition (again, for a retry).
    StreamSend {
        /// Which producer.
        producer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The partition.
        partition: u32,
        /// The request number of this send.
        request: u64,
        /// The batch carries the producer id and sequence numbers of an idempotent producer.
        idempotent: bool,
        /// Its records, in order.
        records: Arc<[StreamValue]>,
    },
    /// A stream producer's batch was acknowledged: its records are at
    /// `base_offset`, `base_offset + 1`, ...
    StreamAck {
        /// Which producer.
        producer: usize,
        /// The partition.
        partition: u32,
        /// The request acknowledged.
        request: u64,
        /// The batch came from an idempotent producer.
        idempotent: bool,
        /// The offset of its first record.
        base_offset: u64,
        /// The broker found the batch repeated and appended nothing.
        duplicate: bool,
        /// Its records, in order.
        records: Arc<[StreamValue]>,
    },
    /// A stream reader set its position in a partition: where it starts
    /// (`from` is `None`), or where its reset policy moved it after
    /// OFFSET_OUT_OF_RANGE.
    StreamSeek {
        /// Which reader.
        reader: usize,
        /// The partition.
        partition: u32,
        /// Its position before, if it had one.
        from: Option<u64>,
        /// Its position now.
        offset: u64,
    },
    /// A stream reader's poll handed it records of one partition (the
    /// records at or past its position, at most its poll limit).
    StreamPoll {
        /// Which reader.
        reader: usize,
        /// The partition.
        partition: u32,
        /// The records by offset, in the order handed out (`None`: a value no producer wrote).
        records: Vec<(u64, Option<StreamValue>)>,
    },
    /// A group member was assigned partitions by its SyncGroup's answer.
    GroupAssigned {
        /// Which reader.
        reader: usize,
        /// The generation of the assignment.
        generation: i32,
        /// The partitions, in order.
        partitions: Vec<u32>,
    },
    /// A group member heard a partition's committed offset.
    GroupOffsetFetched {
        /// Which reader.
        reader: usize,
        /// When its OffsetFetch was sent.
        sent_ns: u64,
        /// The partition.
        partition: u32,
        /// The committed offset, or `None` where nothing is committed.
        offset: Option<u64>,
    },
    /// A group member's commit of a partition's offset was acknowledged.
    GroupCommitted {
        /// Which reader.
        reader: usize,
        /// When the commit was sent.
        sent_ns: u64,
        /// The generation the commit named.
        generation: i32,
        /// The partition.
        partition: u32,
        /// The offset committed (the next one to read).
        offset: u64,
    },
    /// A connection was closed (dropped, timed out, or by a crash).
    Closed {
        /// The connection.
        conn: ConnectionId,
    },
    /// The broker emitted an event, at this time of its own clock (which
    /// may drift from the simulation's).
    Broker {
        /// The broker's clock, in nanoseconds.
        clock_ns: u64,
        /// The event.
        event: Event,
    },
    /// An fsync made the record that enqueued this message durable.
    Durable {
        /// The broker's id of the message.
        message: MessageId,
    },
    /// The broker crashed.
    Crash,
    /// The broker restarted from its log.
    Restart,
    /// A saga starter published the start of saga `saga` (again, for a retry).
    SagaStart {
        /// Which starter.
        starter: usize,
        /// The saga id (the start's `message_id`).
        saga: Arc<str>,
    },
    /// A saga starter published an abort of saga `saga` (again, for a retry).
    SagaAbort {
        /// Which starter.
        starter: usize,
        /// The saga id.
        saga: Arc<str>,
    },
    /// A saga starter's start or abort was confirmed (basic.ack) or nacked.
    SagaConfirm {
        /// Which starter.
        starter: usize,
        /// The saga id.
        saga: Arc<str>,
        /// The publish was an abort (else a start).
        abort: bool,
        /// basic.ack (`true`) or basic.nack (`false`).
        ack: bool,
    },
    /// A saga participant received a command or compensation.
    SagaReceived {
        /// Which participant (its step).
        participant: usize,
        /// The saga id.
        saga: Arc<str>,
        /// The command or its compensation.
        action: SagaAction,
        /// The step the message names.
        step: u32,
        /// Its `x-saga-attempt` header: 1 for the first send.
        attempt: u32,
        /// The broker's id of the message.
        message: MessageId,
        /// The redelivered flag.
        redelivered: bool,
    },
    /// A saga participant applied a command or compensation: the first
    /// time it saw its idempotency key (the correlation id).
    SagaApplied {
        /// Which participant.
        participant: usize,
        /// The saga id.
        saga: Arc<str>,
        /// The command or its compensation.
        action: SagaAction,
        /// The step.
        step: u32,
    },
    /// A saga participant published a reply.
    SagaReplied {
        /// Which participant.
        participant: usize,
        /// The saga id.
        saga: Arc<str>,
        /// What the reply answers.
        action: SagaAction,
        /// The step.
        step: u32,
        /// `success` (`true`) or `failure`.
        success: bool,
    },
    /// The observer received a saga's outcome.
    SagaOutcome {
        /// The saga id (its `x-saga-id` header).
        saga: Arc<str>,
        /// Its `x-saga-state` header: completed, compensated or failed-needs-attention.
        state: Arc<str>,
        /// The broker's id of the message.
        message: MessageId,
    },
    /// A Pub/Sub publisher sent PUBLISH of its message `seq` (never again:
    /// Pub/Sub is at most once, so a publish lost with its connection is
    /// not retried).
    PubSubPublish {
        /// Which publisher.
        publisher: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The publisher's sequence number, in the body.
        seq: u64,
        /// The channel published to.
        channel: Bytes,
    },
    /// A Pub/Sub publisher heard PUBLISH's answer: how many deliveries it made.
    PubSubPublished {
        /// Which publisher.
        publisher: usize,
        /// The message answered.
        seq: u64,
        /// Deliveries the broker made.
        receivers: u64,
    },
    /// A Pub/Sub subscriber sent SUBSCRIBE (or PSUBSCRIBE) on a connection.
    PubSubSubscribe {
        /// Which subscriber.
        subscriber: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The channel, or the glob for a pattern subscription.
        name: Bytes,
        /// PSUBSCRIBE (else SUBSCRIBE).
        pattern: bool,
    },
    /// The broker confirmed a Pub/Sub subscriber's subscription.
    PubSubSubscribed {
        /// Which subscriber.
        subscriber: usize,
        /// Its connection.
        conn: ConnectionId,
    },
    /// A Pub/Sub subscriber read a message.
    PubSubMessage {
        /// Which subscriber.
        subscriber: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The channel it was published to.
        channel: Bytes,
        /// The publisher and sequence number the body names (`None`: a
        /// body no publisher wrote).
        sent: Option<(usize, u64)>,
    },
    /// An SQS producer sent SendMessage (one entry) or SendMessageBatch.
    SqsSend {
        /// Which producer.
        producer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request number.
        request: u64,
        /// The queue.
        queue: Arc<str>,
        /// The entries, in order.
        entries: Vec<SqsSendEntry>,
    },
    /// An SQS producer heard its send's answer: per entry, what it got
    /// (`None`: the entry failed, or the whole action did).
    SqsSent {
        /// Which producer.
        producer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request answered.
        request: u64,
        /// The queue.
        queue: Arc<str>,
        /// Per entry, in the order sent: what its body names and what it got.
        results: Vec<((usize, u64), Option<SqsSentId>)>,
    },
    /// An SQS consumer sent ReceiveMessage.
    SqsReceive {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request number.
        request: u64,
        /// The queue.
        queue: Arc<str>,
        /// Its `WaitTimeSeconds`.
        wait_s: u32,
    },
    /// An SQS consumer heard its receive's answer (an error answers nothing).
    SqsReceived {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request answered.
        request: u64,
        /// The queue.
        queue: Arc<str>,
        /// The messages, in order.
        messages: Vec<SqsSeen>,
    },
    /// An SQS consumer sent DeleteMessage (one entry) or DeleteMessageBatch.
    SqsDelete {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request number.
        request: u64,
        /// The queue.
        queue: Arc<str>,
        /// The handles, in order.
        entries: Vec<SqsHandle>,
    },
    /// An SQS consumer heard its delete's answer: per entry, success.
    SqsDeleted {
        /// Which consumer.
        consumer: usize,
        /// Its connection.
        conn: ConnectionId,
        /// The request answered.
        request: u64,
        /// Per entry, in the order sent: whether it succeeded.
        results: Vec<bool>,
    },
    /// The broker disconnected a Pub/Sub subscriber that fell behind
    /// (its output buffer reached a limit); the delivery that found the
    /// limit was dropped.
    PubSubCutOff {
        /// The subscriber's connection.
        conn: ConnectionId,
        /// Which limit.
        reason: brokerlab_core::pubsub::SlowSubscriber,
    },
    /// The broker's counters (`Broker::counters`, what a metrics
    /// dashboard reads), taken before a crash and at the end of the run.
    Counters {
        /// Deliveries, consumed or got.
        delivered: u64,
        /// Of those, the ones that carried the redelivered flag.
        redelivered: u64,
    },
}

/// An SQS message as a producer sent it: the producer and its sequence
/// number (the body, `m<producer>:<seq>`), with its FIFO group and
/// deduplication id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSendEntry {
    /// The producer and sequence number the body names.
    pub body: (usize, u64),
    /// FIFO: its message group.
    pub group: Option<Arc<str>>,
    /// FIFO: its deduplication id.
    pub dedup: Option<Arc<str>>,
}

/// What an acknowledged SQS send entry got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSentId {
    /// The message id the broker answered.
    pub message_id: Arc<str>,
    /// FIFO: its sequence number.
    pub sequence: Option<u64>,
}

/// An SQS message a receive handed a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSeen {
    /// Its message id.
    pub message_id: Arc<str>,
    /// The producer and sequence number its body names (`None`: a body no producer wrote).
    pub body: Option<(usize, u64)>,
    /// The receipt handle this receive issued.
    pub handle: Arc<str>,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    /// FIFO: its group.
    pub group: Option<Arc<str>>,
    /// FIFO: its deduplication id.
    pub dedup: Option<Arc<str>>,
    /// FIFO: its sequence number.
    pub sequence: Option<u64>,
}

/// A receipt handle a consumer deletes with, and the message it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsHandle {
    /// The message id.
    pub message_id: Arc<str>,
    /// The producer and sequence number its body names.
    pub body: Option<(usize, u64)>,
    /// The handle.
    pub handle: Arc<str>,
}

/// The body an SQS producer writes for its message `seq`: `m<producer>:<seq>`.
#[must_use]
pub fn sqs_body(producer: usize, seq: u64) -> Bytes {
    Bytes::from(format!("m{producer}:{seq}"))
}

/// The producer and sequence number an SQS body names, if a producer wrote it.
#[must_use]
pub fn sqs_sent(body: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(body.strip_prefix(b"m")?).ok()?;
    let (producer, seq) = text.split_once(':')?;
    Some((producer.parse().ok()?, seq.parse().ok()?))
}

/// The body a Pub/Sub publisher writes for its message `seq`: `p<publisher>:<seq>`.
#[must_use]
pub fn pubsub_body(publisher: usize, seq: u64) -> Bytes {
    Bytes::from(format!("p{publisher}:{seq}"))
}

/// The publisher and sequence number a Pub/Sub body names, if a publisher wrote it.
#[must_use]
pub fn pubsub_sent(body: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(body.strip_prefix(b"p")?).ok()?;
    let (publisher, seq) = text.split_once(':')?;
    Some((publisher.parse().ok()?, seq.parse().ok()?))
}

/// An entry and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Simulated time, in nanoseconds.
    pub at_ns: u64,
    /// What happened.
    pub entry: Entry,
}

/// Everything that happened in a run, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<Timed>,
}

impl History {
    /// An empty history.
    #[must_use]
    pub fn new() -> History {
        History::default()
    }

    /// Records `entry` at `at_ns`, which is never before the last entry.
    pub fn record(&mut self, at_ns: u64, entry: Entry) {
        assert!(self.entries.len() < ENTRIES_MAX, "history bound reached");
        if let Some(last) = self.entries.last() {
            assert!(last.at_ns <= at_ns, "history runs forwards in time");
        }
        self.entries.push(Timed { at_ns, entry });
    }

    /// The entries, in order.
    #[must_use]
    pub fn entries(&self) -> &[Timed] {
        &self.entries
    }

    /// The entries that show what happened to publish attempt `attempt`:
    /// its publishes, confirms and deliveries, the settles of those
    /// deliveries, and the crashes, restarts and closes of the connections
    /// it travelled on, in order.
    #[must_use]
    pub fn excerpt(&self, attempt: u64) -> Vec<&Timed> {
        use std::collections::BTreeSet;
        let mut deliveries = BTreeSet::new();
        let mut conns = BTreeSet::new();
        for timed in &self.entries {
            match &timed.entry {
                Entry::Deliver {
                    conn,
                    channel,
                    delivery_tag,
                    stamp: Some(stamp),
                    ..
                } if stamp.attempt == attempt => {
                    deliveries.insert((*conn, *channel, *delivery_tag));
                    conns.insert(*conn);
                }
                Entry::Publish { conn, stamp, .. } if stamp.attempt == attempt => {
                    conns.insert(*conn);
                }
                Entry::StreamSend { conn, records, .. }
                    if records.iter().any(|value| value.stamp.attempt == attempt) =>
                {
                    conns.insert(*conn);
                }
                _ => {}
            }
        }
        self.entries
            .iter()
            .filter(|timed| match &timed.entry {
                Entry::Publish { stamp, .. } | Entry::Confirm { stamp, .. } => {
                    stamp.attempt == attempt
                }
                Entry::Deliver { stamp, .. } => stamp.is_some_and(|s| s.attempt == attempt),
                Entry::StreamSend { records, .. } | Entry::StreamAck { records, .. } => {
                    records.iter().any(|value| value.stamp.attempt == attempt)
                }
                Entry::StreamPoll { records, .. } => records
                    .iter()
                    .any(|(_, value)| value.is_some_and(|v| v.stamp.attempt == attempt)),
                Entry::Settle {
                    conn,
                    channel,
                    delivery_tag,
                    ..
                } => deliveries.contains(&(*conn, *channel, *delivery_tag)),
                Entry::Closed { conn } => conns.contains(conn),
                Entry::Crash | Entry::Restart => true,
                _ => false,
            })
            .collect()
    }

    /// A history holding these entries, stamped 0, 1, 2, ... (for checker tests).
    #[must_use]
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> History {
        let mut history = History::new();
        for (at_ns, entry) in entries.into_iter().enumerate() {
            history.record(at_ns as u64, entry);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_body() {
        let stamp = Stamp {
            payload: 7 << 32 | 3,
            attempt: 9,
        };
        assert_eq!(Stamp::decode(&stamp.encode()), Some(stamp));
        assert_eq!(Stamp::decode(b"short"), None);
    }

    #[test]
    fn a_pubsub_body_names_its_publisher_and_sequence_number() {
        assert_eq!(pubsub_sent(&pubsub_body(2, 17)), Some((2, 17)));
        assert_eq!(pubsub_sent(b"q1:2"), None);
        assert_eq!(pubsub_sent(b"p1"), None);
    }

    #[test]
    fn an_sqs_body_names_its_producer_and_sequence_number() {
        assert_eq!(sqs_sent(&sqs_body(1, 42)), Some((1, 42)));
        assert_eq!(sqs_sent(b"p1:2"), None);
    }
}
