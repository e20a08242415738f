//! brokerlab-sim: the deterministic simulator that drives the brokerlab core
//! through seeded network, disk and clock faults and checks its histories.
//!
//! The simulation engine, workloads, fault plans and checkers land here with
//! the simulator work.
