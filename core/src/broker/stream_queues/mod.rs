//! Stream queues: RabbitMQ's `x-queue-type: stream` over AMQP 0-9-1, on
//! the log of [`crate::stream`].
//!
//! A stream queue is a queue whose messages are the records of a topic of
//! one partition (named by [`topic_name`]), so that a message published
//! over AMQP and a record produced to that topic by another front end land
//! in one log. Publishing appends a batch of one record (see `envelope`);
//! a publisher confirm waits for the batch's record to be synced, and
//! consumers see a record once it is. Each consumer reads from an offset
//! of its own (the consumer argument `x-stream-offset`), one delivery per
//! record, each with the header `x-stream-offset`; an ack frees prefetch
//! and removes nothing. basic.get, queue.purge, basic.nack, basic.reject
//! and basic.recover are refused, as RabbitMQ refuses them.

mod envelope;

use super::entities::QueueFlags;
use super::{Broker, Fault};
use crate::arena::Id;
use crate::args::{StreamArgs, StreamOffset, STREAM_SEGMENT_BYTES_DEFAULT};
use crate::field::{FieldTable, FieldValue};
use crate::message::{Envelope, Message, MessageId, Name, Properties, SharedMessage};
use crate::protocol::{Reply, ReplyCode};
use crate::queue::{Entry, Expiry, Queue, StreamQueue};
use crate::record::Change;
use crate::stream::{Partition, ProducedBatch, StreamRecord, TopicConfig, TOPIC_NAME_LENGTH_MAX};
use std::sync::Arc;

/// The topic of the stream queue `queue` in `vhost`: the two names with
/// every byte outside `[A-Za-z0-9-]` written as `_` and two hex digits,
/// joined by `.` (queue `orders` in vhost `/` is topic `_2f.orders`).
/// One-to-one, since neither escaped name holds a `.`; `None` when the
/// result is longer than a topic name may be.
#[must_use]
pub(crate) fn topic_name(vhost: &str, queue: &str) -> Option<String> {
    let mut topic = String::new();
    for (index, name) in [vhost, queue].into_iter().enumerate() {
        if index > 0 {
            topic.push('.');
        }
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || byte == b'-' {
                topic.push(char::from(byte));
            } else {
                topic.push_str(&format!("_{byte:02x}"));
            }
        }
    }
    (topic.len() <= TOPIC_NAME_LENGTH_MAX).then_some(topic)
}

/// RabbitMQ's way of naming a queue in its texts.
fn queue_words(queue: &Queue) -> String {
    format!("queue '{}' in vhost '{}'", queue.name, queue.vhost)
}

/// 540 NOT_IMPLEMENTED for an operation streams do not support.
fn not_supported(what: &str, queue: &Queue) -> Fault {
    Fault::new(
        ReplyCode::NotImplemented,
        format!(
            "{what} not supported by stream queues {}",
            queue_words(queue)
        ),
    )
}

/// The milliseconds since the Unix epoch of the broker's time (the server's clock is Unix time).
fn unix_ms(now: crate::time::Instant) -> i64 {
    i64::try_from(now.0 / 1_000_000).unwrap_or(i64::MAX)
}

impl Broker {
    /// queue.declare creating a stream queue: `flags` as the client sent
    /// them. Validates as RabbitMQ does (arguments, then the properties a
    /// stream cannot have), creates its topic and the queue.
    pub(super) fn declare_stream_queue(
        &mut self,
        channel: Id,
        name: Name,
        flags: QueueFlags,
        arguments: &FieldTable,
    ) -> Result<Id, Fault> {
        if name.is_empty() {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                "Cannot declare a server-named queue for type rabbit_stream_queue",
            ));
        }
        let vhost = self.vhost_of(channel);
        let args = StreamArgs::parse(arguments, &name, &vhost)
            .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
        for (refused, property) in [
            (flags.auto_delete, "auto-delete"),
            (flags.exclusive, "exclusive-owner"),
            (!flags.durable, "non-durable"),
        ] {
            if refused {
                return Err(Fault::new(
                    ReplyCode::PreconditionFailed,
                    format!("invalid property '{property}' for queue '{name}' in vhost '{vhost}'"),
                ));
            }
        }
        let topic = self.create_stream_topic(&vhost, &name, &args)?;
        let id = self.insert_queue(
            channel,
            name,
            flags,
            crate::args::QueueArgs::default(),
            arguments,
        );
        self.queues[id].stream = Some(Box::new(StreamQueue { topic, args }));
        self.stream_queues.insert(id);
        Ok(id)
    }

    /// Creates and logs the topic of a new stream queue; 406 when its name
    /// is too long for a topic or a topic of that name exists.
    fn create_stream_topic(
        &mut self,
        vhost: &str,
        queue: &str,
        args: &StreamArgs,
    ) -> Result<String, Fault> {
        let refused = |why: String| {
            Fault::new(
                ReplyCode::PreconditionFailed,
                format!("cannot declare stream queue '{queue}' in vhost '{vhost}': {why}"),
            )
        };
        let topic = topic_name(vhost, queue).ok_or_else(|| {
            refused(format!(
                "its log's name would be longer than {TOPIC_NAME_LENGTH_MAX} bytes"
            ))
        })?;
        let config = stream_topic_config(args);
        self.streams
            .create_topic(&topic, 1, config)
            .map_err(|error| refused(format!("its log '{topic}': {error:?}")))?;
        self.persist(Change::TopicCreated {
            topic: topic.clone(),
            partitions: 1,
            config,
        });
        Ok(topic)
    }

    /// Appends a message routed to stream queue `id` as a batch of one
    /// record; the lsn its confirm waits for, or `Err` when the log refused it.
    pub(super) fn append_to_stream(
        &mut self,
        id: Id,
        message: SharedMessage,
    ) -> Result<Option<u64>, super::delivery::Refused> {
        let stream = self.queues[id].stream.as_ref().expect("a stream queue");
        let envelope = envelope::encode(
            message.exchange(),
            message.routing_key(),
            message.properties(),
        );
        let record = StreamRecord {
            timestamp_ms: unix_ms(self.now),
            key: None,
            value: Some(message.body.to_bytes()),
            headers: vec![(envelope::ENVELOPE_HEADER.to_owned(), Some(envelope))],
        };
        let topic = stream.topic.clone();
        self.message_pool.recycle(message);
        let batch = ProducedBatch::plain(vec![record]);
        match self.append_batch(&topic, 0, batch) {
            Ok((_, lsn)) => Ok(lsn),
            Err(_) => Err(super::delivery::Refused),
        }
    }

    /// basic.consume on stream queue `queue`: RabbitMQ's checks in its
    /// order (the offset argument, a consumer prefetch, manual acks), then
    /// the offset the consumer starts at.
    pub(super) fn stream_consumer_start(
        &self,
        channel: Id,
        queue: Id,
        no_ack: bool,
        arguments: &FieldTable,
    ) -> Result<u64, Fault> {
        let state = &self.queues[queue];
        let spec = StreamOffset::parse(arguments, unix_ms(self.now), &state.name, &state.vhost)
            .map_err(|text| Fault::worded(ReplyCode::PreconditionFailed, text))?;
        if self.channels[channel].consumer_prefetch == 0 {
            return Err(Fault::new(
                ReplyCode::PreconditionFailed,
                format!(
                    "consumer prefetch count is not set for '{}'",
                    queue_words(state)
                ),
            ));
        }
        if no_ack {
            return Err(not_supported("automatic acknowledgement", state));
        }
        let Some(partition) = self.stream_partition(queue) else {
            return Ok(0);
        };
        Ok(start_offset(partition, spec))
    }

    /// The log of stream queue `queue`, unless its topic is gone.
    fn stream_partition(&self, queue: Id) -> Option<&Partition> {
        let stream = self.queues[queue].stream.as_ref()?;
        self.streams.topic(&stream.topic)?.partitions().first()
    }

    /// 540 when `queue` is a stream queue, which does not support `what`.
    pub(super) fn refuse_on_stream(&self, queue: Id, what: &str) -> Result<(), Fault> {
        let state = &self.queues[queue];
        match state.stream {
            Some(_) => Err(not_supported(what, state)),
            None => Ok(()),
        }
    }

    /// 540 when a delivery a nack, reject or recover would settle came
    /// from a stream queue: streams cannot take a message back.
    pub(super) fn refuse_stream_settle(
        &self,
        channel: Id,
        tags: &[u64],
        what: &str,
    ) -> Result<(), Fault> {
        if self.stream_queues.is_empty() {
            return Ok(());
        }
        let state = &self.channels[channel];
        let stream = tags
            .iter()
            .filter_map(|&tag| state.queue_of(tag))
            .find(|&queue| self.queues.get(queue).is_some_and(|q| q.stream.is_some()));
        match stream {
            Some(queue) => Err(not_supported(what, &self.queues[queue])),
            None => Ok(()),
        }
    }

    /// Delivers the records each consumer of stream queue `queue` has
    /// prefetch for, from its offset up to what the log has synced.
    pub(super) fn run_stream_queue(&mut self, queue: Id) {
        let consumers = self.queues[queue].consumers.clone();
        for consumer in consumers {
            while self.has_room(consumer) {
                let Some((offset, message)) = self.next_stream_message(queue, consumer) else {
                    break;
                };
                self.consumers[consumer].stream_offset = Some(offset + 1);
                let entry = Entry {
                    message,
                    seq: offset,
                    expires: Expiry::NEVER,
                    redelivered: false,
                    delivery_count: 0,
                    level: 0,
                    logged: false,
                };
                self.deliver_one(consumer, queue, entry);
            }
        }
    }

    /// The next record a consumer of stream queue `queue` gets, as the
    /// message it reads as, with its offset; `None` when it has read
    /// every synced record.
    fn next_stream_message(&mut self, queue: Id, consumer: Id) -> Option<(u64, SharedMessage)> {
        let partition = self.stream_partition(queue)?;
        let wanted = self.consumers[consumer]
            .stream_offset
            .expect("a stream queue's consumer has an offset");
        // Retention may have deleted records it had not read yet.
        let offset = wanted.max(partition.log_start_offset());
        if offset >= partition.high_watermark() {
            return None;
        }
        let batch = partition.batch_at(offset)?;
        let index = usize::try_from(offset - batch.base_offset()).ok()?;
        let record = &batch.records()[index];
        let (exchange, routing_key, mut properties) = record
            .headers
            .iter()
            .find(|(name, _)| name == envelope::ENVELOPE_HEADER)
            .and_then(|(_, bytes)| envelope::decode(bytes.as_deref()?))
            .unwrap_or_else(|| foreign_record(record, &self.queues[queue].name));
        let offset_header = FieldValue::I64(i64::try_from(offset).unwrap_or(i64::MAX));
        Arc::make_mut(properties.headers.get_or_insert_with(Default::default))
            .insert("x-stream-offset".to_owned(), offset_header);
        let body = record.value.clone().unwrap_or_default();
        let id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        let message = Message {
            id,
            envelope: Envelope::shared(exchange, routing_key, Arc::new(properties)),
            body: body.into(),
        };
        Some((offset, SharedMessage::new(message)))
    }

    /// After a sync made records visible: the stream queues with consumers deliver.
    pub(super) fn run_stream_queues(&mut self) {
        if self.stream_queues.is_empty() {
            return;
        }
        let queues: Vec<Id> = self
            .stream_queues
            .iter()
            .copied()
            .filter(|&queue| !self.queues[queue].consumers.is_empty())
            .collect();
        for queue in queues {
            self.run_stream_queue(queue);
        }
    }

    /// Deletes the topic of a stream queue being deleted.
    pub(super) fn delete_stream_topic(&mut self, queue: Id) {
        self.stream_queues.remove(&queue);
        let Some(stream) = self.queues[queue].stream.as_ref() else {
            return;
        };
        let topic = stream.topic.clone();
        if matches!(self.streams.delete_topic(&topic), Ok(true)) {
            self.persist(Change::TopicDeleted { topic });
        }
    }

    /// The declare-ok counts of a queue: a stream queue's are 0, as in RabbitMQ.
    pub(super) fn declare_ok(&self, queue: Id) -> Reply {
        let state = &self.queues[queue];
        let (message_count, consumer_count) = match state.stream {
            Some(_) => (0, 0),
            None => (
                super::entities::count_u32(state.ready.len()),
                super::entities::count_u32(state.consumers.len()),
            ),
        };
        Reply::QueueDeclareOk {
            queue: state.name.clone(),
            message_count,
            consumer_count,
        }
    }
}

/// The topic configuration of a stream queue: durable, retention by
/// `x-max-length-bytes` and `x-max-age`, segments of
/// `x-stream-max-segment-size-bytes` (RabbitMQ's 500 MB by default).
fn stream_topic_config(args: &StreamArgs) -> TopicConfig {
    let segment_bytes = args
        .max_segment_size_bytes
        .unwrap_or(STREAM_SEGMENT_BYTES_DEFAULT)
        .max(crate::stream::SEGMENT_BYTES_MIN);
    TopicConfig {
        durable: true,
        segment_bytes,
        retention_bytes: args.max_length_bytes,
        retention_ms: args.max_age_ms,
        max_message_bytes: crate::MESSAGE_SIZE_LIMIT_BYTES as u64,
    }
}

/// Where a consumer starting at `spec` reads first.
fn start_offset(partition: &Partition, spec: StreamOffset) -> u64 {
    match spec {
        StreamOffset::First => partition.log_start_offset(),
        StreamOffset::Next => partition.log_end_offset(),
        StreamOffset::Last => partition
            .last_visible_batch()
            .map_or(partition.log_end_offset(), |batch| batch.base_offset()),
        StreamOffset::Offset(offset) => offset.max(partition.log_start_offset()),
        StreamOffset::Timestamp(timestamp_ms) => partition
            .record_for_timestamp(timestamp_ms)
            .map_or(partition.log_end_offset(), |(offset, _)| offset),
    }
}

/// A record without an AMQP envelope (from another front end): a message
/// to the default exchange under the queue's name, whose headers are the
/// record's, as long strings, and a null value as void.
fn foreign_record(record: &StreamRecord, queue: &Name) -> (Name, Name, Properties) {
    let headers: FieldTable = record
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value
                .clone()
                .map_or(FieldValue::Void, FieldValue::LongString);
            (name.clone(), value)
        })
        .collect();
    let properties = Properties {
        headers: Some(Arc::new(headers)),
        ..Properties::default()
    };
    (Name::default(), queue.clone(), properties)
}
