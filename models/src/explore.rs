//! `brokerlab explore`: Stateright Explorer over a model, so a person can
//! step through the real broker's states by hand in a browser.
//!
//! Explorer is part of stateright itself (no feature to enable): it serves a
//! small web UI and explores on demand, one state's successors at a time,
//! each with the action that led there and the full state (the broker, its
//! clients, the messages in flight) in `Debug` form.

use crate::properties::BrokerModel;
use stateright::Model;
use std::io;
use std::net::{SocketAddr, TcpListener};

/// Serves Stateright Explorer for `model` on `listen` until the process
/// ends. Returns only when the address cannot be bound.
///
/// # Errors
/// When `listen` cannot be bound (in use, or not a local address).
pub fn serve(model: BrokerModel, listen: SocketAddr, threads: usize) -> io::Result<()> {
    // Stateright panics when it cannot bind: find out first and say why.
    drop(TcpListener::bind(listen)?);
    model.checker().threads(threads.max(1)).serve(listen);
    Ok(())
}
