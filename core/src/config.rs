//! Broker configuration: every bound the core enforces is here, explicit.

use crate::access::Access;
use crate::group::GroupsConfig;
use crate::pubsub::PubSubConfig;
use crate::stream::StreamLimits;

/// The largest `max_message_size_bytes` a broker accepts: a logged message
/// must fit one log frame (brokerlab-store's frames hold 65 MiB, which leaves
/// a mebibyte for the properties and the record around the body).
pub const MESSAGE_SIZE_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// Broker configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Virtual hosts that exist; connecting to another one is refused (530).
    pub vhosts: Vec<String>,
    /// Largest message body accepted; larger publishes close the channel (406).
    pub max_message_size_bytes: usize,
    /// How long a delivery may stay unacknowledged before its channel is closed
    /// (406); `None` disables the check.
    pub consumer_timeout_ms: Option<u64>,
    /// Most channels one connection may hold open.
    pub channel_max: u16,
    /// Most queues one vhost may hold (RabbitMQ's vhost limit `max-queues`):
    /// declaring a new one past it closes the channel with 406, in
    /// RabbitMQ's words. `None`, as in RabbitMQ, sets no bound.
    pub queues_per_vhost_max: Option<usize>,
    /// Most consumers one channel may hold; basic.consume past it closes the
    /// connection with 530, in the words of RabbitMQ's
    /// `consumer_max_per_channel`. `None`, as in RabbitMQ, sets no bound.
    pub consumers_per_channel_max: Option<usize>,
    /// Record an [`Event`](crate::Event) for every step of a message's life,
    /// for a driver that asks for them and takes them after every input
    /// ([`Broker::drain_events`](crate::Broker::drain_events)): the
    /// simulator's checkers, the models, the walkthroughs, a trace log. Off
    /// by default, so a driver that never takes them holds none and pays
    /// nothing for them (the `Dropped` counters are kept either way).
    pub events: bool,
    /// Credit flow: publishers slowed to the pace of their queues' consumers
    /// (see [`Flow`]); `None`, the default, never slows a publisher.
    pub flow: Option<Flow>,
    /// The memory alarm: publishers blocked while the broker holds too many
    /// message bytes (see [`MemoryAlarm`]); `None`, the default, never
    /// blocks one.
    pub memory_alarm: Option<MemoryAlarm>,
    /// Access control: what each user may configure, write and read on
    /// each vhost (see [`Access`]); `None`, the default, lets every
    /// connection do everything.
    pub access: Option<Access>,
    /// The bounds on stream topics, fetches and producers (see [`StreamLimits`]).
    pub streams: StreamLimits,
    /// The consumer group coordinator's limits and Kafka settings (see [`GroupsConfig`]).
    pub groups: GroupsConfig,
    /// The Pub/Sub channels' bounds and slow-subscriber rule (see [`PubSubConfig`]).
    pub pubsub: PubSubConfig,
    /// The SQS queues' vhost and bounds (see [`SqsConfig`](crate::sqs::SqsConfig)).
    pub sqs: crate::sqs::SqsConfig,
    /// A deliberately broken broker behaviour, for proving checkers fail.
    #[cfg(feature = "mutants")]
    pub mutant: Option<Mutant>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            vhosts: vec!["/".to_owned()],
            max_message_size_bytes: 16 * 1024 * 1024,
            consumer_timeout_ms: Some(30 * 60 * 1000),
            channel_max: 2047,
            consumers_per_channel_max: None,
            queues_per_vhost_max: None,
            events: false,
            flow: None,
            memory_alarm: None,
            access: None,
            streams: StreamLimits::default(),
            groups: GroupsConfig::default(),
            pubsub: PubSubConfig::default(),
            sqs: crate::sqs::SqsConfig::default(),
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

/// Credit flow: RabbitMQ "will reduce the speed of connections which are
/// publishing too quickly for queues to keep up". A publish routed to a
/// queue that has consumers and more than `ready_high` ready messages puts
/// its connection in flow: the broker asks the driver to stop reading it
/// ([`Output::Pause`](crate::Output::Pause)), as RabbitMQ's reader does in
/// its `flow` state (the client is not told; this is not
/// connection.blocked). The connection leaves flow when each such queue is
/// back to at most `ready_low` ready messages, lost its consumers or was
/// deleted, or when its consumers got no delivery for `stall_ms`: a queue
/// whose consumers have stopped (hung, or holding their prefetch) does not
/// stop its publishers, it grows, as a RabbitMQ queue does.
///
/// A connection that has consumers of its own is never in flow: its reads
/// carry its acks, and pausing them could stall the very queue it waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// More ready messages than this in a consumed queue slows its publishers.
    pub ready_high: usize,
    /// They go on once it is back to this many (at most `ready_high`).
    pub ready_low: usize,
    /// Consumers that got no delivery for this long no longer slow anyone.
    pub stall_ms: u64,
}

/// The memory alarm, after RabbitMQ's `vm_memory_high_watermark`: once the
/// message bytes held ([`Broker::held_bytes`](crate::Broker::held_bytes):
/// ready, delivered and unacknowledged, and buffered in transactions; plus
/// what the driver holds,
/// [`Input::DriverHeld`](crate::Input::DriverHeld)) pass
/// `high_bytes`, every connection that publishes is blocked: the broker
/// tells the client ([`Reply::ConnectionBlocked`](crate::Reply::ConnectionBlocked),
/// which a driver sends only to clients that announced the capability) and
/// asks the driver to stop reading it ([`Output::Pause`](crate::Output::Pause)).
/// Once the bytes are below `low_bytes` every blocked connection is
/// released. Connections that only consume are never blocked: their reads
/// carry the acks that bring the bytes down. Nothing is refused or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryAlarm {
    /// Publishers are blocked above this many held bytes.
    pub high_bytes: u64,
    /// They are released below this many (at most `high_bytes`).
    pub low_bytes: u64,
}

impl MemoryAlarm {
    /// An alarm at `high_bytes` that clears at three quarters of it.
    #[must_use]
    pub fn new(high_bytes: u64) -> MemoryAlarm {
        MemoryAlarm {
            high_bytes,
            low_bytes: high_bytes / 4 * 3,
        }
    }
}

/// A deliberately broken variant of the broker. Each breaks one rule so that
/// a checker or model property must catch it.
///
/// The enum always exists so that names parse everywhere, but a broker only
/// behaves as a mutant when built with the `mutants` feature.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mutant {
    /// A requeued message is dropped instead of going back to its queue.
    LoseOnRequeue,
    /// A requeued message goes to the tail of its queue, not its old position.
    RequeueToTail,
    /// Expired messages are still delivered.
    DeliverExpired,
    /// Prefetch limits are ignored.
    IgnorePrefetch,
    /// An unroutable message is confirmed with basic.nack instead of basic.ack.
    ConfirmUnroutableAsNack,
    /// Redeliveries do not carry `redelivered=true`.
    NoRedeliveredFlag,
    /// Dead-lettering does not write the `x-death` header.
    DlxDropsXDeath,
    /// Every second delivery of a queue with two consumers is handed to both.
    DoubleDeliver,
    /// A persistent message is confirmed before its record is synced.
    ConfirmBeforeSync,
    /// A stream partition appends a batch that repeats one of its
    /// idempotent producer's last five, instead of acknowledging the original.
    IdempotenceOff,
    /// A fetch starting at the last record of a batch of several records
    /// skips that batch (an off-by-one at the batch boundary).
    FetchSkipsBatchTail,
    /// A produce with acks after sync is acknowledged before its batch's record is synced.
    AckBeforeSync,
    /// The group coordinator accepts a member's offset commit from an older generation.
    AcceptStaleGenerationCommit,
    /// The group coordinator hands a member its last generation's
    /// assignment again in the new one, whoever the leader gave those
    /// partitions to.
    AssignWithoutRevoke,
    /// Recovery keeps the oldest committed offset of a partition the log
    /// holds, not the newest.
    OffsetRegressOnRecovery,
    /// A saga compensates its steps in forward order, not in reverse.
    SagaCompensateInForwardOrder,
    /// A saga step whose outcome is unknown (timed out, or in flight at an
    /// abort) is not compensated.
    SagaSkipUnknownOutcomeCompensation,
    /// A repeated success reply for the step before the current one
    /// advances the saga again, skipping the current step.
    SagaAdvanceTwiceOnDuplicateReply,
    /// A saga's transition and the message it sends are logged apart: the
    /// message is routed at once, before the transition's record is synced,
    /// and never routed again by a replay.
    SagaStateWithoutCommand,
    /// An abort of a running saga is ignored: its forward steps go on.
    SagaForwardAfterAbort,
    /// Pub/Sub keeps the last messages published to each channel and hands
    /// them to a connection that subscribes to the channel later (store and
    /// forward, which Redis Pub/Sub never does).
    PubSubStoreAndForward,
    /// An SQS message received never becomes visible again: a consumer that
    /// crashed before deleting it loses it.
    SqsVisibilityNeverExpires,
    /// An SQS delete with an older receipt handle deletes the message,
    /// though another consumer received it since.
    SqsDeleteWithStaleHandleSucceeds,
    /// An SQS FIFO queue hands out a group's next message while another of
    /// the group is in flight.
    SqsFifoTwoInFlightPerGroup,
    /// An SQS FIFO queue enqueues a message whose deduplication id it saw
    /// within the window.
    SqsDedupWindowIgnored,
    /// A fanout exchange routes each message to one of its queues (the
    /// first bound), not to every one.
    FanoutToOneQueue,
    /// A `#` in a topic binding matches one or more words, not zero or
    /// more: `order.#` misses the key `order`.
    TopicHashNeedsAWord,
    /// A priority queue hands out its messages in arrival order, as if
    /// none had a priority.
    PriorityIgnored,
    /// A publish that repeats its channel's last exchange and routing key
    /// is given that publish's properties, whatever its own (a cache of
    /// envelopes keyed on the route alone): a reply carries the
    /// correlation id of the reply before it.
    PropertiesCachedByRoute,
    /// basic.cancel forgets the cancelled consumer's unacknowledged
    /// deliveries, as if they had never been made: the consumer's later
    /// ack or nack of them is refused, and the messages are lost.
    CancelForgetsUnacked,
    /// A message recovered after a restart is flagged redelivered only if
    /// a requeue of it was logged: one a consumer held when the broker
    /// stopped comes back looking new.
    RecoveredUnflagged,
    /// The broker's `redelivered` counter misses the redeliveries handed
    /// to consumers (it counts basic.get's only): the redelivery rate a
    /// dashboard shows is zero while messages go round.
    RedeliveriesUncounted,
}

impl Mutant {
    /// Every mutant, in name order.
    pub const ALL: [Mutant; 32] = [
        Mutant::LoseOnRequeue,
        Mutant::RequeueToTail,
        Mutant::DeliverExpired,
        Mutant::IgnorePrefetch,
        Mutant::ConfirmUnroutableAsNack,
        Mutant::NoRedeliveredFlag,
        Mutant::DlxDropsXDeath,
        Mutant::DoubleDeliver,
        Mutant::ConfirmBeforeSync,
        Mutant::IdempotenceOff,
        Mutant::FetchSkipsBatchTail,
        Mutant::AckBeforeSync,
        Mutant::AcceptStaleGenerationCommit,
        Mutant::AssignWithoutRevoke,
        Mutant::OffsetRegressOnRecovery,
        Mutant::SagaCompensateInForwardOrder,
        Mutant::SagaSkipUnknownOutcomeCompensation,
        Mutant::SagaAdvanceTwiceOnDuplicateReply,
        Mutant::SagaStateWithoutCommand,
        Mutant::SagaForwardAfterAbort,
        Mutant::PubSubStoreAndForward,
        Mutant::SqsVisibilityNeverExpires,
        Mutant::SqsDeleteWithStaleHandleSucceeds,
        Mutant::SqsFifoTwoInFlightPerGroup,
        Mutant::SqsDedupWindowIgnored,
        Mutant::FanoutToOneQueue,
        Mutant::TopicHashNeedsAWord,
        Mutant::PriorityIgnored,
        Mutant::PropertiesCachedByRoute,
        Mutant::CancelForgetsUnacked,
        Mutant::RecoveredUnflagged,
        Mutant::RedeliveriesUncounted,
    ];

    /// The mutant's name, as selected on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mutant::LoseOnRequeue => "lose-on-requeue",
            Mutant::RequeueToTail => "requeue-to-tail",
            Mutant::DeliverExpired => "deliver-expired",
            Mutant::IgnorePrefetch => "ignore-prefetch",
            Mutant::ConfirmUnroutableAsNack => "confirm-unroutable-as-nack",
            Mutant::NoRedeliveredFlag => "no-redelivered-flag",
            Mutant::DlxDropsXDeath => "dlx-drops-x-death",
            Mutant::DoubleDeliver => "double-deliver",
            Mutant::ConfirmBeforeSync => "confirm-before-sync",
            Mutant::IdempotenceOff => "idempotence-off",
            Mutant::FetchSkipsBatchTail => "fetch-skips-batch-tail",
            Mutant::AckBeforeSync => "ack-before-sync",
            Mutant::AcceptStaleGenerationCommit => "accept-stale-generation-commit",
            Mutant::AssignWithoutRevoke => "assign-without-revoke",
            Mutant::OffsetRegressOnRecovery => "offset-regress-on-recovery",
            Mutant::SagaCompensateInForwardOrder => "saga-compensate-in-forward-order",
            Mutant::SagaSkipUnknownOutcomeCompensation => "saga-skip-unknown-outcome-compensation",
            Mutant::SagaAdvanceTwiceOnDuplicateReply => "saga-advance-twice-on-duplicate-reply",
            Mutant::SagaStateWithoutCommand => "saga-state-without-command",
            Mutant::SagaForwardAfterAbort => "saga-forward-after-abort",
            Mutant::PubSubStoreAndForward => "pubsub-store-and-forward",
            Mutant::SqsVisibilityNeverExpires => "visibility-never-expires",
            Mutant::SqsDeleteWithStaleHandleSucceeds => "delete-with-stale-handle-succeeds",
            Mutant::SqsFifoTwoInFlightPerGroup => "fifo-two-in-flight-per-group",
            Mutant::SqsDedupWindowIgnored => "dedup-window-ignored",
            Mutant::FanoutToOneQueue => "fanout-to-one-queue",
            Mutant::TopicHashNeedsAWord => "topic-hash-needs-a-word",
            Mutant::PriorityIgnored => "priority-ignored",
            Mutant::PropertiesCachedByRoute => "properties-cached-by-route",
            Mutant::CancelForgetsUnacked => "cancel-forgets-unacked",
            Mutant::RecoveredUnflagged => "recovered-unflagged",
            Mutant::RedeliveriesUncounted => "redeliveries-uncounted",
        }
    }

    /// The mutant with this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|mutant| mutant.name() == name)
    }
}
