//! Admission: how many sockets may be in the handshake at once, and how
//! many connections may be logged in.
//!
//! The two are bounded apart. Logged-in connections hold a permit of
//! `Context::logged_in` for their whole life, and a client that logs in
//! when none is left is refused at connection.open, as RabbitMQ refuses
//! past its `connection_max`. Sockets that have not logged in yet hold a
//! place among the [`Handshakes`] instead; at that bound the oldest gives
//! way to the newest, so sockets that connect and say nothing (slowloris)
//! cycle through their places while a real client, whose handshake takes
//! milliseconds, gets through.

use brokerlab_core::ConnectionId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The default bound on logged-in connections. RabbitMQ sets none
/// (`connection_max` is infinity); a bound is kept so that memory is too.
pub const CONNECTIONS_MAX: usize = 4096;

/// The default bound on sockets in the handshake. RabbitMQ sets none.
pub const HANDSHAKES_MAX: usize = 4096;

/// Each handshake in progress, oldest first (connection ids only grow),
/// with the sender that tells it to give way.
type Waiting = BTreeMap<ConnectionId, oneshot::Sender<()>>;

/// The sockets in the handshake, bounded.
#[derive(Debug)]
pub struct Handshakes {
    handshakes_max: usize,
    waiting: Arc<Mutex<Waiting>>,
}

impl Handshakes {
    /// No more than `handshakes_max` handshakes at once.
    #[must_use]
    pub fn new(handshakes_max: usize) -> Handshakes {
        assert!(handshakes_max > 0, "a server must admit a handshake");
        Handshakes {
            handshakes_max,
            waiting: Arc::default(),
        }
    }

    /// A place for a newly accepted socket; at the bound, the oldest
    /// handshake is told to give way first.
    pub fn admit(&self, conn: ConnectionId) -> Handshake {
        let (give_way, told) = oneshot::channel();
        let mut waiting = lock(&self.waiting);
        while waiting.len() >= self.handshakes_max {
            let Some((oldest, tell)) = waiting.pop_first() else {
                break;
            };
            tracing::info!(
                conn = oldest.0,
                handshakes_max = self.handshakes_max,
                "handshake gives way to a newer socket"
            );
            // A handshake that ended meanwhile has nothing left to stop.
            let _ = tell.send(());
        }
        waiting.insert(conn, give_way);
        assert!(waiting.len() <= self.handshakes_max);
        Handshake {
            conn,
            told,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

/// One socket's place among the handshakes, freed when dropped.
#[derive(Debug)]
pub struct Handshake {
    conn: ConnectionId,
    told: oneshot::Receiver<()>,
    waiting: Arc<Mutex<Waiting>>,
}

impl Handshake {
    /// Completes when a newer socket needs this place.
    pub async fn give_way(&mut self) {
        // The sender is dropped only after sending, or by this place's own drop.
        let _ = (&mut self.told).await;
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        lock(&self.waiting).remove(&self.conn);
    }
}

/// The map stays consistent even if a holder panicked: every change to it
/// is a single insert or remove.
fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_bound_the_oldest_handshake_gives_way() {
        let handshakes = Handshakes::new(2);
        let mut first = handshakes.admit(ConnectionId(1));
        let mut second = handshakes.admit(ConnectionId(2));
        assert!(first.told.try_recv().is_err(), "room for two");
        let _third = handshakes.admit(ConnectionId(3));
        assert!(first.told.try_recv().is_ok(), "the oldest gives way");
        assert!(second.told.try_recv().is_err(), "the others stay");
    }

    #[test]
    fn a_finished_handshake_frees_its_place() {
        let handshakes = Handshakes::new(1);
        drop(handshakes.admit(ConnectionId(1)));
        let mut second = handshakes.admit(ConnectionId(2));
        assert!(second.told.try_recv().is_err());
        assert_eq!(lock(&handshakes.waiting).len(), 1);
    }
}
