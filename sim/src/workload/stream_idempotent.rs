//! `stream-idempotent`: idempotent producers retrying through dropped links.
//!
//! As `stream-keyed`, but the producers are idempotent (a producer id,
//! sequence numbers per partition, up to five batches in flight), links
//! drop in every seed and acknowledgements time out soon, so batches are
//! sent again, on the same connection and on the next, with the same
//! sequence numbers. The broker must acknowledge a repeated batch with its
//! original offsets and store it once: `duplicate` finds a record at two
//! offsets, `key-order` one overtaken by a later record of its key.

use super::streams;
use crate::plan::{FaultPlan, WorkloadParams};
use crate::random::SimRng;

/// Draws the workload's stream parameters (producers idempotent).
pub fn draw(rng: &mut SimRng, params: &mut WorkloadParams, plan: &mut FaultPlan) {
    streams::draw(rng, params, plan, true);
}
