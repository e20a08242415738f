//! The consumer group coordinator inside the broker (RULES.md section 8a,
//! rows 8a.28-8a.33): group requests go in as `Input::Stream` and come out
//! as `Output::Stream` with their request ids, the coordinator's deadlines
//! are the broker's, accepted commits are logged and answered once synced,
//! and committed offsets come back after a crash.

mod support;

use brokerlab_core::group::{ErrorCode, GroupChange, GroupReply, GroupState};
use brokerlab_core::record::Change;
use brokerlab_core::{Broker, Instant};
use support::groups::*;
use support::Harness;

#[test]
fn join_sync_and_heartbeat_go_through_input_stream_and_are_answered_with_their_request_ids() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    let step = send(&mut h, 1, 3, heartbeat(&member, 1));
    let reply = reply_to(&step, 1, 3);
    assert_eq!(
        reply,
        GroupReply::Heartbeat {
            error: ErrorCode::NONE
        }
    );
    assert!(step.changes().is_empty(), "a heartbeat logs nothing");
}

#[test]
fn the_coordinators_deadlines_are_the_brokers_and_fire_on_its_timeout() {
    let mut h = Harness::default();
    send(&mut h, 1, 1, join(""));
    let delay_end = Instant((h.now_ms + 3_000) * 1_000_000);
    assert_eq!(h.broker.poll_timeout(), Some(delay_end));
    assert!(group_replies(&h.advance(2_999)).is_empty());
    let step = h.advance(1);
    assert!(
        group_replies(&step).is_empty(),
        "the new generation is not yet synced"
    );
    let (_, generation, _) = joined(reply_to(&h.sync(), 1, 1));
    assert_eq!(generation, 1);
}

#[test]
fn a_new_generation_is_logged_and_its_join_replies_wait_for_its_sync() {
    let mut h = Harness::default();
    send(&mut h, 1, 1, join(""));
    let step = h.run_for(3_000);
    assert!(group_replies(&step).is_empty());
    let changes = step.changes();
    let started = changes.iter().filter(|change| {
        matches!(
            change,
            Change::Group(GroupChange::GenerationStarted { generation: 1, .. })
        )
    });
    assert_eq!(started.count(), 1, "{changes:?}");
    assert_eq!(group_replies(&h.sync()).len(), 1);
}

#[test]
fn a_recovered_group_goes_on_from_its_generation_and_fences_members_from_before_the_crash() {
    let mut h = Harness::default();
    let old = stable_alone(&mut h);
    h.crash_and_recover(h.log.len());
    assert_eq!(h.broker.groups().generation(G), Some(1));
    send(&mut h, 2, 1, join(""));
    let mut step = h.run_for(3_000);
    step.extend(h.sync());
    let (new, generation, _) = joined(reply_to(&step, 2, 1));
    assert_eq!(generation, 2, "generation 1 is not handed out again");
    assert_ne!(new, old, "no member id is handed out again");
    let error = commit_error(reply_to(&send(&mut h, 1, 5, commit(&old, 1, 3)), 1, 5));
    assert_eq!(error, ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_member_silent_past_its_session_timeout_is_removed_by_the_brokers_timer() {
    let mut h = Harness::default();
    stable_alone(&mut h);
    h.run_for(SESSION_MS);
    assert_eq!(h.broker.groups().group_state(G), Some(GroupState::Empty));
    assert_eq!(h.broker.groups().generation(G), Some(2));
}

#[test]
fn an_accepted_commit_is_logged_and_answered_only_once_its_record_is_synced() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    let step = send(&mut h, 1, 3, commit(&member, 1, 5));
    assert!(group_replies(&step).is_empty(), "no reply before the sync");
    let changes = step.changes();
    assert_eq!(changes.len(), 1);
    assert!(matches!(&changes[0], Change::Group(_)), "{changes:?}");
    let reply = reply_to(&h.sync(), 1, 3);
    assert_eq!(commit_error(reply), ErrorCode::NONE);
}

#[test]
fn a_refused_commit_logs_nothing_and_is_answered_at_once() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    let step = send(&mut h, 1, 3, commit(&member, 0, 5));
    assert!(step.changes().is_empty());
    let error = commit_error(reply_to(&step, 1, 3));
    assert_eq!(error, ErrorCode::ILLEGAL_GENERATION);
}

#[test]
fn committed_offsets_survive_a_crash_after_sync_and_an_unsynced_commit_was_never_answered() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    send(&mut h, 1, 3, commit(&member, 1, 5));
    assert_eq!(commit_error(reply_to(&h.sync(), 1, 3)), ErrorCode::NONE);
    let synced = h.log.len();
    let step = send(&mut h, 1, 4, commit(&member, 1, 9));
    assert!(
        group_replies(&step).is_empty(),
        "the commit of 9 is never answered"
    );
    assert_eq!(committed(&mut h), 9);
    h.crash_and_recover(synced);
    assert_eq!(committed(&mut h), 5);
    assert_eq!(h.broker.groups().group_state(G), Some(GroupState::Empty));
}

#[test]
fn a_snapshot_recovers_the_committed_offsets() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    for (id, offset) in [(3, 4), (4, 7)] {
        send(&mut h, 1, id, commit(&member, 1, offset));
    }
    h.sync();
    let snapshot = h.broker.snapshot();
    let mut recovered = Harness {
        broker: Broker::recover(h.broker.config().clone(), snapshot),
        ..Harness::default()
    };
    assert_eq!(committed(&mut recovered), 7);
}

#[test]
fn a_parked_sync_is_answered_rebalance_in_progress_when_a_member_joins() {
    let mut h = Harness::default();
    send(&mut h, 1, 1, join(""));
    send(&mut h, 2, 1, join(""));
    // The second arrival extends the initial delay once.
    let mut step = h.run_for(6_000);
    step.extend(h.sync());
    let replies = group_replies(&step);
    assert_eq!(replies.len(), 2, "{replies:?}");
    let on_2 = replies.into_iter().find(|(conn, _, _)| *conn == 2);
    let (follower, _, _) = joined(on_2.expect("a reply on connection 2").2);
    let step = send(&mut h, 2, 2, sync(&follower, 1, &[]));
    assert!(
        group_replies(&step).is_empty(),
        "the follower waits for the leader"
    );
    let step = send(&mut h, 3, 1, join(""));
    let reply = reply_to(&step, 2, 2);
    let GroupReply::Sync(sync) = reply else {
        panic!("expected Sync, got {reply:?}");
    };
    assert_eq!(sync.error, ErrorCode::REBALANCE_IN_PROGRESS);
}

#[test]
fn a_disconnect_drops_the_replies_waiting_for_its_connection_but_keeps_its_members() {
    let mut h = Harness::default();
    let member = stable_alone(&mut h);
    send(&mut h, 1, 3, commit(&member, 1, 5));
    h.disconnect(1);
    assert!(
        group_replies(&h.sync()).is_empty(),
        "the commit's reply is dropped"
    );
    assert_eq!(committed(&mut h), 5, "the commit itself stands");
    send(&mut h, 2, 1, join(""));
    h.disconnect(2);
    assert!(group_replies(&h.run_for(SESSION_MS - 1)).is_empty());
    assert_eq!(
        h.broker.groups().group_state(G),
        Some(GroupState::PreparingRebalance)
    );
}
