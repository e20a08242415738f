//! Workloads: the seed document's patterns, as sets of client nodes.
//!
//! A workload decides which clients a run has and how they use the broker;
//! the fault plan decides what goes wrong around them; the checkers judge
//! the history either way. Each workload is one small module.

pub mod work_queue;

use crate::client::Client;
use crate::plan::WorkloadParams;

/// A workload, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// Competing consumers on one durable queue, with prefetch and acks.
    WorkQueue,
}

impl Workload {
    /// Every workload, in name order.
    pub const ALL: [Workload; 1] = [Workload::WorkQueue];

    /// The workload's name, as selected on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Workload::WorkQueue => "work-queue",
        }
    }

    /// The workload with this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
    }

    /// The run's clients: producers first, then consumers.
    #[must_use]
    pub fn clients(self, params: &WorkloadParams) -> Vec<Client> {
        match self {
            Workload::WorkQueue => work_queue::clients(params),
        }
    }
}
