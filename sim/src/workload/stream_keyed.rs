//! `stream-keyed`: keyed producers and readers of a partitioned stream,
//! under every fault.
//!
//! Producers write keyed records to the topic `events`, each to the
//! partition its key's murmur2 picks, with acks after sync and without
//! idempotence: a retry may store a record twice, never out of order (one
//! batch in flight per partition). Readers are members of one consumer
//! group, which assigns them the partitions; they read with long polls and
//! commit their positions after each poll's work. They crash, stall (slow
//! readers), are partitioned away or clogged past their session timeout
//! and rejoin, and each new owner of a partition starts at the group's
//! committed offset. In some seeds size retention keeps a
//! few segments only, so the log start moves under a slow reader, which is
//! answered OFFSET_OUT_OF_RANGE and resets by its policy. Jepsen's Kafka
//! anomalies are judged on the history: no acknowledged record lost or
//! unseen, no offset holding two values, polls that neither skip nor go
//! back, acknowledged offsets that only grow, and each key read in produce
//! order; the group's safety on its own history: one owner per partition
//! and generation, committed offsets that never go back, stale commits
//! fenced, and every acknowledged record processed at least once.

use super::streams;
use crate::plan::{FaultPlan, WorkloadParams};
use crate::random::SimRng;

/// Draws the workload's stream parameters (producers not idempotent).
pub fn draw(rng: &mut SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan) {
    streams::draw(rng, params, plan, false);
}
