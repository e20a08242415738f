//! The HTTP listeners, each off unless its address is given: `/metrics`
//! for Prometheus (`metrics`) and the management API (`management`), on
//! axum. Neither touches the `Broker`: each request asks the broker task
//! for a [`Snapshot`] or sends it a [`Manage`] request through its inbox,
//! and waits for the answer; the listeners stop with the server.

mod definitions;
mod json;
mod management;

use crate::broker_task::ToBroker;
use crate::inspect::{Manage, Refusal, Snapshot};
use crate::metrics;
use crate::users::Users;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use brokerlab_core::{Command, Reply};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The bound HTTP listeners.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    metrics: Option<TcpListener>,
    management: Option<TcpListener>,
}

impl Listeners {
    /// Binds each listener whose address is given.
    pub(crate) async fn bind(
        metrics: Option<SocketAddr>,
        management: Option<SocketAddr>,
    ) -> io::Result<Listeners> {
        Ok(Listeners {
            metrics: bind(metrics).await?,
            management: bind(management).await?,
        })
    }

    /// The metrics listener's address, when there is one.
    pub(crate) fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref()?.local_addr().ok()
    }

    /// The management listener's address, when there is one.
    pub(crate) fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref()?.local_addr().ok()
    }

    /// Serves each listener on a task of its own until `stopping` turns true.
    pub(crate) fn spawn(
        self,
        shared: &Shared,
        stopping: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(listener) = self.metrics {
            let router = Router::new()
                .route("/metrics", get(scrape))
                .route("/metrics/per-object", get(scrape))
                .with_state(shared.clone());
            tasks.push(tokio::spawn(serve(
                listener,
                router,
                stopping.clone(),
                "metrics",
            )));
        }
        if let Some(listener) = self.management {
            let router = management::router(shared.clone());
            tasks.push(tokio::spawn(serve(
                listener,
                router,
                stopping.clone(),
                "management",
            )));
        }
        tasks
    }
}

async fn bind(address: Option<SocketAddr>) -> io::Result<Option<TcpListener>> {
    match address {
        Some(address) => Ok(Some(TcpListener::bind(address).await?)),
        None => Ok(None),
    }
}

/// Serves `router` on `listener` until `stopping` turns true, then lets
/// the requests under way end.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut stopping: watch::Receiver<bool>,
    what: &'static str,
) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(listen = %address, "serving {what} over HTTP");
    }
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    if let Err(error) = axum::serve(listener, service)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::warn!(%error, "{what} listener failed");
    }
}

/// What every request handler holds: the way to the broker task and the users.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    to_broker: mpsc::Sender<ToBroker>,
    users: Arc<Users>,
    /// The AMQP listener's address, for connection names and `/api/overview`.
    amqp_listen: SocketAddr,
}

impl Shared {
    pub(crate) fn new(
        to_broker: mpsc::Sender<ToBroker>,
        users: Arc<Users>,
        amqp_listen: SocketAddr,
    ) -> Shared {
        Shared {
            to_broker,
            users,
            amqp_listen,
        }
    }

    /// A snapshot from the broker task; `None` once it stopped.
    async fn snapshot(&self) -> Option<Snapshot> {
        let (answer, snapshot) = oneshot::channel();
        self.to_broker.send(ToBroker::Inspect(answer)).await.ok()?;
        snapshot.await.ok()
    }

    /// Runs management commands in the broker task; `None` once it stopped.
    async fn manage(
        &self,
        user: &str,
        vhost: &str,
        commands: Vec<Command>,
    ) -> Option<Result<Vec<Reply>, Refusal>> {
        let (done, answer) = oneshot::channel();
        let request = Manage {
            user: user.to_owned(),
            vhost: vhost.to_owned(),
            commands,
            done,
        };
        self.to_broker.send(ToBroker::Manage(request)).await.ok()?;
        answer.await.ok()
    }
}

/// `GET /metrics`.
async fn scrape(State(shared): State<Shared>) -> Response {
    match shared.snapshot().await {
        Some(snapshot) => (
            [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
            metrics::render(&snapshot),
        )
            .into_response(),
        None => management::ApiError::unavailable().into_response(),
    }
}
