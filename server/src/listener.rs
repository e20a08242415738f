//! The accept loop the Kafka and RESP listeners share: connections
//! numbered from a base of the protocol's own, served until the server
//! shuts down, then given a grace period to end.

use crate::portable::JoinSet;
use brokerlab_core::ConnectionId;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Accepts connections on `listener`, numbering them from `first` and
/// serving each with `serve`, until `shutdown` turns true; then waits up to
/// `grace` for them to end and aborts the rest. `serve` (and what it holds,
/// such as the broker task's inbox) is dropped before the wait.
pub(crate) async fn accept_loop<Serve, Served>(
    protocol: &'static str,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    first: u64,
    grace: Duration,
    serve: Serve,
) where
    Serve: Fn(ConnectionId, TcpStream, SocketAddr) -> Served,
    Served: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut next_id = first;
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, protocol, "accept failed");
                    continue;
                }
            },
            Some(_) = connections.join_next() => continue,
        };
        let conn = ConnectionId(next_id);
        next_id += 1;
        connections.spawn(serve(conn, stream, peer));
    }
    drop(listener);
    drop(serve);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(grace, drain).await;
    connections.abort_all();
}
