//! The coordinator's requests and replies, protocol-neutral: the fields of
//! Kafka's JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, DescribeGroups, ListGroups and DeleteGroups that carry
//! meaning, with Kafka's error codes. A Kafka front end maps its wire
//! versions onto these; the coordinator never parses bytes.

use crate::protocol::ConnectionId;
use bytes::Bytes;
use std::fmt;

/// Who asked: the connection and the request's correlation id, so that a
/// reply given later (a join parked until the rebalance completes) finds
/// its way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requester {
    /// The connection the request came on.
    pub conn: ConnectionId,
    /// The request's correlation id on that connection.
    pub request: u64,
}

/// A Kafka error code, as `Errors.java` numbers it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// No error.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// The connection's user may not use the topic.
    pub const TOPIC_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(29);
    /// The connection's user may not use the group.
    pub const GROUP_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(30);
    /// The topic or partition does not exist (an OffsetCommit names one the broker lacks).
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// The metadata string of an offset commit is too long.
    pub const OFFSET_METADATA_TOO_LARGE: ErrorCode = ErrorCode(12);
    /// The coordinator cannot take the request (here: the group table is full).
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    /// The generation named is not the group's.
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    /// The protocol type differs from the group's, or no protocol is common.
    pub const INCONSISTENT_GROUP_PROTOCOL: ErrorCode = ErrorCode(23);
    /// The group id is empty.
    pub const INVALID_GROUP_ID: ErrorCode = ErrorCode(24);
    /// The member id is not one of the group's members.
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    /// The session timeout is outside the coordinator's allowed range.
    pub const INVALID_SESSION_TIMEOUT: ErrorCode = ErrorCode(26);
    /// The group is rebalancing: rejoin.
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    /// The group still has members.
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    /// No group has this id.
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    /// Join again with the member id this reply carries.
    pub const MEMBER_ID_REQUIRED: ErrorCode = ErrorCode(79);
    /// The group holds as many members as it may.
    pub const GROUP_MAX_SIZE_REACHED: ErrorCode = ErrorCode(81);
    /// Another member id holds this group instance id.
    pub const FENCED_INSTANCE_ID: ErrorCode = ErrorCode(82);
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            ErrorCode::NONE => "NONE",
            ErrorCode::OFFSET_METADATA_TOO_LARGE => "OFFSET_METADATA_TOO_LARGE",
            ErrorCode::COORDINATOR_NOT_AVAILABLE => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::ILLEGAL_GENERATION => "ILLEGAL_GENERATION",
            ErrorCode::INCONSISTENT_GROUP_PROTOCOL => "INCONSISTENT_GROUP_PROTOCOL",
            ErrorCode::INVALID_GROUP_ID => "INVALID_GROUP_ID",
            ErrorCode::UNKNOWN_MEMBER_ID => "UNKNOWN_MEMBER_ID",
            ErrorCode::INVALID_SESSION_TIMEOUT => "INVALID_SESSION_TIMEOUT",
            ErrorCode::REBALANCE_IN_PROGRESS => "REBALANCE_IN_PROGRESS",
            ErrorCode::NON_EMPTY_GROUP => "NON_EMPTY_GROUP",
            ErrorCode::GROUP_ID_NOT_FOUND => "GROUP_ID_NOT_FOUND",
            ErrorCode::MEMBER_ID_REQUIRED => "MEMBER_ID_REQUIRED",
            ErrorCode::GROUP_MAX_SIZE_REACHED => "GROUP_MAX_SIZE_REACHED",
            ErrorCode::FENCED_INSTANCE_ID => "FENCED_INSTANCE_ID",
            ErrorCode(code) => return write!(f, "ErrorCode({code})"),
        };
        f.write_str(name)
    }
}

/// The state of a classic group, as Kafka names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined: waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has the assignment of the current generation.
    Stable,
    /// Deleted; also what DescribeGroups says of a group that does not exist.
    Dead,
}

impl GroupState {
    /// The name Kafka gives the state in DescribeGroups and ListGroups.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One protocol a joining member supports, with its metadata (for the
/// consumer protocol: an encoded subscription).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinProtocol {
    /// Protocol (assignor) name, e.g. `range`.
    pub name: String,
    /// Opaque metadata, handed to the leader unchanged.
    pub metadata: Bytes,
}

/// JoinGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinGroup {
    /// The group.
    pub group: String,
    /// The member's id; empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// The client id of the connection (the prefix of an assigned member id).
    pub client_id: String,
    /// How long the member may stay silent before it is removed.
    pub session_timeout_ms: u64,
    /// How long a rebalance waits for the members to rejoin.
    pub rebalance_timeout_ms: u64,
    /// Protocol type, `consumer` for consumers.
    pub protocol_type: String,
    /// The protocols the member supports, in its order of preference.
    pub protocols: Vec<JoinProtocol>,
    /// JoinGroup v4 and later: a new member is first given an id to rejoin with.
    pub require_known_member_id: bool,
}

/// A member as the leader's join response lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinMember {
    /// Member id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The answer to JoinGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinResponse {
    /// Error code.
    pub error: ErrorCode,
    /// The generation the member joined, or -1.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The protocol chosen for this generation.
    pub protocol_name: Option<String>,
    /// The leader's member id (empty when none).
    pub leader: String,
    /// The member's id (with MEMBER_ID_REQUIRED: the id to rejoin with).
    pub member_id: String,
    /// Every member with its metadata, for the leader; empty for the others.
    pub members: Vec<JoinMember>,
}

impl JoinResponse {
    /// A response carrying only an error and a member id.
    #[must_use]
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResponse {
        JoinResponse {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// One member's assignment in the leader's SyncGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncAssignment {
    /// The member.
    pub member_id: String,
    /// Its assignment, opaque to the coordinator.
    pub assignment: Bytes,
}

/// SyncGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncGroup {
    /// The group.
    pub group: String,
    /// The generation the member joined.
    pub generation: i32,
    /// The member's id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// SyncGroup v5+: the protocol type the member expects.
    pub protocol_type: Option<String>,
    /// SyncGroup v5+: the protocol name the member expects.
    pub protocol_name: Option<String>,
    /// The leader's assignments; empty from the other members.
    pub assignments: Vec<SyncAssignment>,
}

/// The answer to SyncGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncResponse {
    /// Error code.
    pub error: ErrorCode,
    /// The group's protocol type (without an error).
    pub protocol_type: Option<String>,
    /// The generation's protocol (without an error).
    pub protocol_name: Option<String>,
    /// The member's assignment, exactly as the leader gave it.
    pub assignment: Bytes,
}

impl SyncResponse {
    /// A response carrying only an error.
    #[must_use]
    pub fn error(error: ErrorCode) -> SyncResponse {
        SyncResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Heartbeat {
    /// The group.
    pub group: String,
    /// The generation the member believes current.
    pub generation: i32,
    /// The member's id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
}

/// One member leaving, in LeaveGroup v3+.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeavingMember {
    /// The member's id (empty to name a static member by instance id alone).
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
}

/// LeaveGroup (v3+: a batch of members).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaveGroup {
    /// The group.
    pub group: String,
    /// The members leaving.
    pub members: Vec<LeavingMember>,
}

/// The outcome for one member of a LeaveGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeftMember {
    /// The member id as asked.
    pub member_id: String,
    /// The instance id as asked.
    pub group_instance_id: Option<String>,
    /// Error code for this member.
    pub error: ErrorCode,
}

/// The answer to LeaveGroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaveResponse {
    /// Error code for the whole request.
    pub error: ErrorCode,
    /// One outcome per member asked about.
    pub members: Vec<LeftMember>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommitPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
    /// The client's metadata string.
    pub metadata: String,
}

/// OffsetCommit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OffsetCommit {
    /// The group.
    pub group: String,
    /// The committing member's generation; -1 outside group management.
    pub generation: i32,
    /// The member's id; empty outside group management.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// The offsets.
    pub partitions: Vec<CommitPartition>,
}

/// One partition's outcome in an OffsetCommit response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommittedPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Error code.
    pub error: ErrorCode,
}

/// OffsetFetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OffsetFetch {
    /// The group.
    pub group: String,
    /// The partitions asked for; `None` for every committed one.
    pub partitions: Option<Vec<(String, i32)>>,
}

/// One partition in an OffsetFetch response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset (the next to read), or -1 for none.
    pub offset: i64,
    /// The committed metadata, empty for none.
    pub metadata: String,
}

/// A member as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// Its `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Its metadata for the chosen protocol (Stable groups only).
    pub metadata: Bytes,
    /// Its assignment (Stable groups only).
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DescribedGroup {
    /// Error code.
    pub error: ErrorCode,
    /// The group.
    pub group: String,
    /// Its state (`Dead` for a group that does not exist).
    pub state: GroupState,
    /// Its protocol type, empty for none.
    pub protocol_type: String,
    /// The chosen protocol (Stable groups only), empty otherwise.
    pub protocol_data: String,
    /// Its members.
    pub members: Vec<DescribedMember>,
}

/// A group as ListGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListedGroup {
    /// The group.
    pub group: String,
    /// Its protocol type, empty for none.
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// A request to the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupRequest {
    /// JoinGroup.
    Join(JoinGroup),
    /// SyncGroup.
    Sync(SyncGroup),
    /// Heartbeat.
    Heartbeat(Heartbeat),
    /// LeaveGroup.
    Leave(LeaveGroup),
    /// OffsetCommit.
    OffsetCommit(OffsetCommit),
    /// OffsetFetch.
    OffsetFetch(OffsetFetch),
    /// DescribeGroups.
    Describe {
        /// The groups to describe.
        groups: Vec<String>,
    },
    /// ListGroups, optionally only the groups in the given states.
    List {
        /// The states to list; empty for all.
        states: Vec<GroupState>,
    },
    /// DeleteGroups: only empty groups go, with their offsets.
    Delete {
        /// The groups to delete.
        groups: Vec<String>,
    },
}

/// A reply from the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupReply {
    /// To JoinGroup.
    Join(JoinResponse),
    /// To SyncGroup.
    Sync(SyncResponse),
    /// To Heartbeat.
    Heartbeat {
        /// Error code.
        error: ErrorCode,
    },
    /// To LeaveGroup.
    Leave(LeaveResponse),
    /// To OffsetCommit.
    OffsetCommit {
        /// One outcome per partition.
        partitions: Vec<CommittedPartition>,
    },
    /// To OffsetFetch.
    OffsetFetch {
        /// Error code for the whole request.
        error: ErrorCode,
        /// The partitions.
        partitions: Vec<FetchedOffset>,
    },
    /// To DescribeGroups.
    Describe {
        /// One per group asked about.
        groups: Vec<DescribedGroup>,
    },
    /// To ListGroups.
    List {
        /// The groups.
        groups: Vec<ListedGroup>,
    },
    /// To DeleteGroups.
    Delete {
        /// One outcome per group.
        groups: Vec<(String, ErrorCode)>,
    },
}
