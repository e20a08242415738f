//! The few tokio APIs that madsim does not simulate, and their stand-ins.
//!
//! The server imports tokio as madsim-tokio: a plain build gets tokio
//! itself, and a build with `RUSTFLAGS="--cfg madsim"` gets madsim's
//! simulated network, time and tasks under the same `tokio::` paths. madsim
//! leaves out a handful of what the server uses; this module is the one
//! place that chooses between tokio's item and a stand-in built from what
//! madsim has, so the rest of the server reads the same in both builds.
//! (The log's storage has its own switch, in `log`.)
//!
//! Under madsim a socket's written bytes travel only on `flush`, so every
//! writer in the server flushes after writing; for tokio's sockets that
//! flush does nothing.

#[cfg(not(madsim))]
pub use tokio::net::tcp::{OwnedReadHalf as ReadHalf, OwnedWriteHalf as WriteHalf};
#[cfg(not(madsim))]
pub use tokio::task::JoinSet;
#[cfg(not(madsim))]
pub use tokio::time::timeout_at;

#[cfg(madsim)]
pub use madsim_only::{timeout_at, JoinSet, ReadHalf, WriteHalf};

use tokio::net::TcpStream;

/// Splits a socket into halves that the reader and the writer own.
#[cfg(not(madsim))]
#[must_use]
pub fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    stream.into_split()
}

/// Splits a socket into halves that the reader and the writer own. madsim's
/// socket has no owned halves; tokio's generic split shares it behind a lock.
#[cfg(madsim)]
#[must_use]
pub fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    tokio::io::split(stream)
}

/// Completes when the process is asked to terminate (SIGTERM).
#[cfg(not(madsim))]
pub async fn terminate_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            terminate.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Never completes: madsim simulates ctrl-c only.
#[cfg(madsim)]
pub async fn terminate_signal() {
    std::future::pending().await
}

#[cfg(madsim)]
mod madsim_only {
    use std::future::Future;
    use tokio::net::TcpStream;
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    /// The read half of a split socket.
    pub type ReadHalf = tokio::io::ReadHalf<TcpStream>;
    /// The write half of a split socket.
    pub type WriteHalf = tokio::io::WriteHalf<TcpStream>;

    /// A deadline passed before the future completed.
    #[derive(Debug)]
    pub struct Elapsed;

    /// `tokio::time::timeout_at`, which madsim lacks, from its `timeout`.
    pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
        let wait = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(wait, future)
            .await
            .map_err(|_| Elapsed)
    }

    /// The part of `tokio::task::JoinSet` the server uses, which madsim
    /// lacks: tasks spawned as one set, reaped as they finish, aborted together.
    #[derive(Debug)]
    pub struct JoinSet<T> {
        tasks: Vec<JoinHandle<T>>,
    }

    impl<T: Send + 'static> JoinSet<T> {
        /// An empty set.
        #[must_use]
        pub fn new() -> JoinSet<T> {
            JoinSet { tasks: Vec::new() }
        }

        /// Spawns a task into the set.
        pub fn spawn<F>(&mut self, future: F)
        where
            F: Future<Output = T> + Send + 'static,
        {
            self.tasks.push(tokio::spawn(future));
        }

        /// Waits for a task of the set to finish and removes it; `None`
        /// when the set is empty. A task that panicked or was aborted
        /// counts as finished, as with tokio.
        pub async fn join_next(&mut self) -> Option<()> {
            if self.tasks.is_empty() {
                return None;
            }
            std::future::poll_fn(|context| {
                let finished = self
                    .tasks
                    .iter_mut()
                    .position(|task| std::pin::Pin::new(task).poll(context).is_ready());
                match finished {
                    Some(index) => {
                        drop(self.tasks.swap_remove(index));
                        std::task::Poll::Ready(Some(()))
                    }
                    None => std::task::Poll::Pending,
                }
            })
            .await
        }

        /// Aborts every task of the set.
        pub fn abort_all(&mut self) {
            for task in self.tasks.drain(..) {
                task.abort();
            }
        }
    }
}
