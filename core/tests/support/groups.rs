//! Helpers for the consumer group tests through the broker: group
//! requests sent as `Input::Stream`, and their replies read back.

use super::{Harness, Step};
use brokerlab_core::group::{
    CommitPartition, ErrorCode, GroupReply, GroupRequest, GroupState, Heartbeat, JoinGroup,
    JoinProtocol, OffsetCommit, OffsetFetch, SyncAssignment, SyncGroup,
};
use brokerlab_core::{StreamCommand, StreamReply};
use bytes::Bytes;

pub const G: &str = "billing";

/// The session timeout every member joins with.
pub const SESSION_MS: u64 = 10_000;

/// Sends group request `request` as request `id` of connection `conn`.
pub fn send(h: &mut Harness, conn: u64, id: u64, request: GroupRequest) -> Step {
    h.stream(conn, id, StreamCommand::Group(request))
}

/// The group replies of a step: connection, request id, reply.
pub fn group_replies(step: &Step) -> Vec<(u64, u64, GroupReply)> {
    let replies = step.stream_replies().into_iter();
    let group = replies.map(|(conn, id, reply)| match reply {
        StreamReply::Group(reply) => (conn, id, reply),
        other => panic!("expected a group reply, got {other:?}"),
    });
    group.collect()
}

/// The one group reply of a step, to `(conn, id)`.
pub fn reply_to(step: &Step, conn: u64, id: u64) -> GroupReply {
    let replies = group_replies(step);
    assert_eq!(replies.len(), 1, "one group reply, got {replies:?}");
    let (to_conn, to_id, reply) = replies.into_iter().next().expect("one reply");
    assert_eq!((to_conn, to_id), (conn, id));
    reply
}

pub fn join(member: &str) -> GroupRequest {
    GroupRequest::Join(JoinGroup {
        group: G.into(),
        member_id: member.into(),
        group_instance_id: None,
        client_id: "c".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![JoinProtocol {
            name: "range".into(),
            metadata: Bytes::new(),
        }],
        require_known_member_id: false,
    })
}

pub fn sync(member: &str, generation: i32, assignments: &[(&str, &str)]) -> GroupRequest {
    let assignments = assignments.iter().map(|(member_id, bytes)| SyncAssignment {
        member_id: (*member_id).into(),
        assignment: Bytes::copy_from_slice(bytes.as_bytes()),
    });
    GroupRequest::Sync(SyncGroup {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments.collect(),
    })
}

pub fn heartbeat(member: &str, generation: i32) -> GroupRequest {
    GroupRequest::Heartbeat(Heartbeat {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
    })
}

pub fn commit(member: &str, generation: i32, offset: i64) -> GroupRequest {
    GroupRequest::OffsetCommit(OffsetCommit {
        group: G.into(),
        generation,
        member_id: member.into(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset,
            metadata: String::new(),
        }],
    })
}

/// The committed offset of partition t-0, as OffsetFetch answers it.
pub fn committed(h: &mut Harness) -> i64 {
    let fetch = GroupRequest::OffsetFetch(OffsetFetch {
        group: G.into(),
        partitions: Some(vec![("t".into(), 0)]),
    });
    match reply_to(&send(h, 99, 1, fetch), 99, 1) {
        GroupReply::OffsetFetch { error, partitions } => {
            assert_eq!(error, ErrorCode::NONE);
            assert_eq!(partitions.len(), 1);
            partitions[0].offset
        }
        other => panic!("expected OffsetFetch, got {other:?}"),
    }
}

pub fn commit_error(reply: GroupReply) -> ErrorCode {
    match reply {
        GroupReply::OffsetCommit { partitions } => {
            assert_eq!(partitions.len(), 1);
            partitions[0].error
        }
        other => panic!("expected OffsetCommit, got {other:?}"),
    }
}

/// Member id and generation of a join reply.
pub fn joined(reply: GroupReply) -> (String, i32, ErrorCode) {
    match reply {
        GroupReply::Join(join) => (join.member_id, join.generation, join.error),
        other => panic!("expected Join, got {other:?}"),
    }
}

/// The topic `t` the members commit offsets of, with one partition.
pub fn topic(h: &mut Harness) {
    let command = StreamCommand::CreateTopic {
        topic: "t".into(),
        partitions: 1,
        config: brokerlab_core::stream::TopicConfig::default(),
    };
    h.stream(9, 1, command);
    h.sync();
}

/// The topic `t`, and one member, on connection 1, through the initial
/// delay into a Stable group of generation 1: its member id.
pub fn stable_alone(h: &mut Harness) -> String {
    topic(h);
    let step = send(h, 1, 1, join(""));
    assert!(
        group_replies(&step).is_empty(),
        "the initial delay holds the join"
    );
    let mut step = h.run_for(3_000);
    step.extend(h.sync());
    let (member, generation, error) = joined(reply_to(&step, 1, 1));
    assert_eq!((generation, error), (1, ErrorCode::NONE));
    let step = send(h, 1, 2, sync(&member, 1, &[(&member, "p0")]));
    match reply_to(&step, 1, 2) {
        GroupReply::Sync(sync) => assert_eq!(&sync.assignment[..], b"p0"),
        other => panic!("expected Sync, got {other:?}"),
    }
    assert_eq!(h.broker.groups().group_state(G), Some(GroupState::Stable));
    member
}
