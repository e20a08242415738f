//! The broker's side of the consumer groups: group requests (reaching the
//! broker as `StreamCommand::Group`) handed to the coordinator
//! ([`Groups`](crate::group::Groups)), its durable changes logged as
//! `Change::Group`, its replies sent as `StreamReply::Group` (once the
//! records of the input that made them are synced: an accepted offset
//! commit, a deletion, a new generation), and its deadlines run with the
//! broker's.

use super::Broker;
use crate::config::Mutant;
use crate::group::{GroupChange, GroupRequest, Groups, Requester};
use crate::protocol::ConnectionId;
use crate::record::Change;
use crate::stream::StreamReply;
use std::collections::BTreeSet;

impl Broker {
    /// `StreamCommand::Group`: hands a request to the coordinator.
    pub(super) fn group_request(
        &mut self,
        conn: ConnectionId,
        request: u64,
        command: GroupRequest,
    ) {
        let from = Requester { conn, request };
        let streams = &self.streams;
        let known = |topic: &str, partition: i32| {
            let topic = streams.topic(topic);
            usize::try_from(partition)
                .is_ok_and(|partition| topic.is_some_and(|t| partition < t.partitions().len()))
        };
        self.groups
            .handle_request_among(self.now, from, command, &known);
        self.flush_groups();
    }

    /// Runs the coordinator's deadlines due by now: session timeouts, the
    /// end of a join phase or of a sync wait.
    #[inline]
    pub(super) fn fire_group_timers(&mut self) {
        // Each pass answers at most a reply queue's worth; draining it
        // after each lets the next pass go on. Every pass disarms at least
        // one deadline, so the passes are bounded by the deadlines armed.
        let passes_max = self.groups.deadlines_armed() + 1;
        for _ in 0..passes_max {
            if self.groups.poll_timeout().is_none_or(|at| at > self.now) {
                return;
            }
            self.groups.handle_timeout(self.now);
            self.flush_groups();
        }
        assert!(
            self.groups.poll_timeout().is_none_or(|at| at > self.now),
            "the coordinator's due deadlines run within one pass per deadline"
        );
    }

    /// A connection closed: the coordinator drops its replies (its members
    /// stay until their session timeout passes).
    pub(super) fn disconnect_groups(&mut self, conn: ConnectionId) {
        self.groups.handle_disconnect(conn);
    }

    /// Moves the coordinator's changes into the log and its replies out.
    /// A reply waits until the changes of the input that made it are
    /// synced (an accepted commit, a deletion, a new generation), so that
    /// no client hears of what a crash could take back; the replies of an
    /// input that changed nothing durable go at once.
    fn flush_groups(&mut self) {
        let mut logged = None;
        while let Some(change) = self.groups.poll_change() {
            logged = Some(self.persist(Change::Group(change)));
        }
        while let Some((to, reply)) = self.groups.poll_output() {
            self.stream_reply(to.conn, to.request, StreamReply::Group(reply), logged);
        }
        self.flush_streams();
    }

    /// The coordinator after a recovery: rebuilt from the logged changes,
    /// in order, running as the broker's mutant.
    pub(super) fn recovered_groups(&self, changes: Vec<GroupChange>) -> Groups {
        let changes = match self.is_mutant(Mutant::OffsetRegressOnRecovery) {
            true => oldest_commits(changes),
            false => changes,
        };
        let mut groups = Groups::recover(self.config.groups, changes);
        groups.set_mutant(self.groups.mutant());
        groups
    }
}

/// The mutant's replay: of a partition's commits only the first is kept,
/// so recovery hands back an offset older than the last one acknowledged.
fn oldest_commits(changes: Vec<GroupChange>) -> Vec<GroupChange> {
    let mut seen = BTreeSet::new();
    let kept = changes.into_iter().filter(|change| match change {
        GroupChange::OffsetCommitted {
            group,
            topic,
            partition,
            ..
        } => seen.insert((group.clone(), topic.clone(), *partition)),
        GroupChange::GroupDeleted { .. } | GroupChange::GenerationStarted { .. } => true,
    });
    kept.collect()
}
