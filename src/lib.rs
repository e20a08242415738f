//! brokerlab: a reference AMQP 0-9-1 message broker built on a sans-IO core,
//! and the lab that proves it.
//!
//! This facade re-exports the workspace's crates and holds the walkthroughs
//! that the `brokerlab` binary and the examples run.

#![forbid(unsafe_code)]

pub use brokerlab_core as core;
pub use brokerlab_models as models;
pub use brokerlab_server as server;
pub use brokerlab_sim as sim;

pub mod sweep;
pub mod walkthrough;
