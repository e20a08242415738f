//! The management API's routes: listings read from a [`Snapshot`], and
//! changes sent to the broker task as commands ([`Manage`]).
//!
//! Every request carries basic auth, checked against the server's users
//! as an AMQP login is (`guest` from loopback only). The user's highest
//! tag ([`Tag`]) decides what it sees, as in RabbitMQ: `management` the
//! objects of the vhosts it has permissions on, `monitoring` and
//! `administrator` every vhost's, and only `administrator` the users and
//! the definitions. What it may change is the core's access control, which
//! checks each command against its permissions like any client's.

use super::json;
use super::Shared;
use crate::http::definitions;
use crate::inspect::{Refusal, Snapshot};
use crate::users::Tag;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use brokerlab_core::{Command, ExchangeKind, Reply};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The management API's routes.
pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/whoami", get(whoami))
        .route("/api/vhosts", get(vhosts))
        .route("/api/vhosts/{vhost}", get(vhost))
        .route("/api/users", get(users))
        .route("/api/permissions", get(permissions))
        .route("/api/queues", get(queues))
        .route("/api/queues/{vhost}", get(queues_in))
        .route(
            "/api/queues/{vhost}/{name}",
            get(queue).put(declare_queue).delete(delete_queue),
        )
        .route(
            "/api/queues/{vhost}/{name}/contents",
            axum::routing::delete(purge_queue),
        )
        .route("/api/exchanges", get(exchanges))
        .route("/api/exchanges/{vhost}", get(exchanges_in))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(exchange).put(declare_exchange),
        )
        .route("/api/bindings", get(bindings))
        .route("/api/bindings/{vhost}", get(bindings_in))
        .route("/api/connections", get(connections))
        .route("/api/channels", get(channels))
        .route("/api/consumers", get(consumers))
        .route("/api/consumers/{vhost}", get(consumers_in))
        .route("/api/definitions", get(export).post(import))
        .with_state(shared)
}

/// An error as RabbitMQ's management API words it: a status and a JSON
/// body with `error` and `reason`.
pub(crate) struct ApiError {
    status: StatusCode,
    error: &'static str,
    reason: String,
}

impl ApiError {
    fn unauthorized(reason: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "not_authorised",
            reason: reason.to_owned(),
        }
    }

    fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "Object Not Found",
            reason: "Not Found".to_owned(),
        }
    }

    fn bad_request(reason: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason,
        }
    }

    pub(crate) fn unavailable() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "unavailable",
            reason: "the broker is stopping".to_owned(),
        }
    }

    /// The HTTP answer to a command the core refused.
    fn refused(refusal: Refusal) -> ApiError {
        match refusal.code {
            404 => ApiError {
                reason: refusal.text,
                ..ApiError::not_found()
            },
            403 | 530 => ApiError::unauthorized(&refusal.text),
            _ => ApiError::bad_request(refusal.text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "reason": self.reason }));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"RabbitMQ Management\"",
            )];
            return (self.status, challenge, body).into_response();
        }
        (self.status, body).into_response()
    }
}

type Answer = Result<Response, ApiError>;

/// An authenticated user and what its tag lets it see.
struct Principal {
    user: String,
    tag: Tag,
}

/// Checks the request's basic auth; a user without a management tag is
/// refused as RabbitMQ refuses it.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Principal, ApiError> {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let Some((user, password)) = credentials.as_deref().and_then(|text| text.split_once(':'))
    else {
        return Err(ApiError::unauthorized("Login failed"));
    };
    if shared.users.authenticate(user, password, peer).is_err() {
        return Err(ApiError::unauthorized("Login failed"));
    }
    let tag = shared.users.tag(user);
    if tag == Tag::None {
        return Err(ApiError::unauthorized("Not management user"));
    }
    Ok(Principal {
        user: user.to_owned(),
        tag,
    })
}

impl Principal {
    /// Whether the user sees `vhost`'s objects.
    fn sees(&self, shared: &Shared, vhost: &str) -> bool {
        self.tag >= Tag::Monitoring || shared.users.has_permissions(&self.user, vhost)
    }

    fn require(&self, tag: Tag) -> Result<(), ApiError> {
        if self.tag >= tag {
            Ok(())
        } else {
            Err(ApiError::unauthorized("Not administrator user"))
        }
    }
}

/// Authenticates, then takes a snapshot.
async fn look(
    shared: &Shared,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(Principal, Snapshot), ApiError> {
    let principal = authenticate(shared, headers, peer)?;
    let snapshot = shared.snapshot().await.ok_or_else(ApiError::unavailable)?;
    Ok((principal, snapshot))
}

fn list(values: impl Iterator<Item = Value>) -> Answer {
    Ok(Json(Value::Array(values.collect())).into_response())
}

/// A vhost named in a path must exist (404).
fn known_vhost(snapshot: &Snapshot, vhost: &str) -> Result<(), ApiError> {
    if snapshot.vhosts.iter().any(|name| name == vhost) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

async fn overview(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (_, snapshot) = look(&shared, &headers, peer).await?;
    Ok(Json(json::overview(&snapshot, shared.amqp_listen)).into_response())
}

async fn whoami(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let principal = authenticate(&shared, &headers, peer)?;
    let tags: Vec<&str> = match principal.tag {
        Tag::Administrator => vec!["administrator"],
        Tag::Monitoring => vec!["monitoring"],
        Tag::Management | Tag::None => vec!["management"],
    };
    Ok(Json(json!({ "name": principal.user, "tags": tags })).into_response())
}

async fn vhosts(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let seen = snapshot
        .vhosts
        .iter()
        .filter(|name| principal.sees(&shared, name));
    list(seen.map(|name| json::vhost(&snapshot, name)))
}

async fn vhost(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(vhost): Path<String>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    known_vhost(&snapshot, &vhost)?;
    if !principal.sees(&shared, &vhost) {
        return Err(ApiError::not_found());
    }
    Ok(Json(json::vhost(&snapshot, &vhost)).into_response())
}

async fn users(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    authenticate(&shared, &headers, peer)?.require(Tag::Administrator)?;
    list(shared.users.user_entries().into_iter().map(|user| {
        json!({
            "name": user.name,
            "password_hash": user.password_hash,
            "hashing_algorithm": user.hashing_algorithm,
            "tags": user.tags,
            "limits": {},
        })
    }))
}

async fn permissions(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    authenticate(&shared, &headers, peer)?.require(Tag::Administrator)?;
    list(shared.users.permission_entries().iter().map(|entry| {
        json!({
            "user": entry.user,
            "vhost": entry.vhost,
            "configure": entry.configure,
            "write": entry.write,
            "read": entry.read,
        })
    }))
}

async fn queues(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let seen = snapshot
        .queues
        .iter()
        .filter(|queue| principal.sees(&shared, &queue.vhost));
    list(seen.map(json::queue))
}

async fn queues_in(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(vhost): Path<String>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    known_vhost(&snapshot, &vhost)?;
    let seen = principal.sees(&shared, &vhost);
    let queues = snapshot
        .queues
        .iter()
        .filter(|queue| seen && queue.vhost == vhost);
    list(queues.map(json::queue))
}

async fn queue(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let found = snapshot
        .queues
        .iter()
        .find(|queue| queue.vhost == vhost && queue.name == name)
        .filter(|_| principal.sees(&shared, &vhost))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json::queue(found)).into_response())
}

/// Runs `commands` on `vhost` as the principal; 404 for an unknown vhost.
async fn run(
    shared: &Shared,
    principal: &Principal,
    vhost: &str,
    commands: Vec<Command>,
) -> Result<Vec<Reply>, ApiError> {
    let snapshot = shared.snapshot().await.ok_or_else(ApiError::unavailable)?;
    known_vhost(&snapshot, vhost)?;
    shared
        .manage(&principal.user, vhost, commands)
        .await
        .ok_or_else(ApiError::unavailable)?
        .map_err(ApiError::refused)
}

/// `if-empty` and `if-unused`, as RabbitMQ's delete takes them.
#[derive(Deserialize)]
struct DeleteConditions {
    #[serde(rename = "if-empty", default)]
    if_empty: bool,
    #[serde(rename = "if-unused", default)]
    if_unused: bool,
}

async fn delete_queue(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
    Query(conditions): Query<DeleteConditions>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    // queue.delete of a queue that does not exist succeeds in AMQP; over
    // HTTP it is 404, as in RabbitMQ.
    let exists = snapshot
        .queues
        .iter()
        .any(|queue| queue.vhost == vhost && queue.name == name);
    if !exists {
        return Err(ApiError::not_found());
    }
    let command = Command::QueueDelete {
        queue: name,
        if_unused: conditions.if_unused,
        if_empty: conditions.if_empty,
    };
    run(&shared, &principal, &vhost, vec![command]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn purge_queue(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
) -> Answer {
    let principal = authenticate(&shared, &headers, peer)?;
    run(
        &shared,
        &principal,
        &vhost,
        vec![Command::QueuePurge { queue: name }],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of a PUT that declares a queue or an exchange.
fn declaration(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            "the body is not a JSON object".to_owned(),
        )),
        Err(error) => Err(ApiError::bad_request(format!("bad JSON: {error}"))),
    }
}

/// A flag of a declaration: a JSON boolean, or `"true"`/`"false"` as
/// rabbitmqadmin sends them.
fn flag(object: &Map<String, Value>, name: &str, default: bool) -> bool {
    match object.get(name) {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "true",
        _ => default,
    }
}

fn arguments(object: &Map<String, Value>) -> Result<brokerlab_core::FieldTable, ApiError> {
    match object.get("arguments") {
        None | Some(Value::Null) => Ok(brokerlab_core::FieldTable::new()),
        Some(Value::Object(arguments)) => json::to_table(arguments).map_err(ApiError::bad_request),
        Some(_) => Err(ApiError::bad_request(
            "arguments: not a JSON object".to_owned(),
        )),
    }
}

async fn declare_queue(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let principal = authenticate(&shared, &headers, peer)?;
    let object = declaration(&body)?;
    let command = definitions::queue_declare(
        name,
        flag(&object, "durable", true),
        flag(&object, "auto_delete", false),
        arguments(&object)?,
    );
    run(&shared, &principal, &vhost, vec![command]).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn declare_exchange(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let principal = authenticate(&shared, &headers, peer)?;
    let object = declaration(&body)?;
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let kind = ExchangeKind::parse(kind)
        .ok_or_else(|| ApiError::bad_request(format!("unknown exchange type '{kind}'")))?;
    let command = Command::ExchangeDeclare {
        exchange: name,
        kind: kind.as_str().to_owned(),
        passive: false,
        durable: flag(&object, "durable", true),
        auto_delete: flag(&object, "auto_delete", false),
        internal: flag(&object, "internal", false),
        arguments: arguments(&object)?,
    };
    run(&shared, &principal, &vhost, vec![command]).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn exchanges(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let seen = snapshot
        .exchanges
        .iter()
        .filter(|exchange| principal.sees(&shared, &exchange.vhost));
    list(seen.map(json::exchange))
}

async fn exchanges_in(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(vhost): Path<String>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    known_vhost(&snapshot, &vhost)?;
    let seen = principal.sees(&shared, &vhost);
    let exchanges = snapshot
        .exchanges
        .iter()
        .filter(|exchange| seen && exchange.vhost == vhost);
    list(exchanges.map(json::exchange))
}

async fn exchange(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((vhost, name)): Path<(String, String)>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let found = snapshot
        .exchanges
        .iter()
        .find(|exchange| exchange.vhost == vhost && exchange.name == name)
        .filter(|_| principal.sees(&shared, &vhost))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json::exchange(found)).into_response())
}

/// Every binding of the vhosts `keep` admits, the default exchange's
/// implicit ones first, as RabbitMQ lists them.
fn binding_list(snapshot: &Snapshot, keep: impl Fn(&str) -> bool) -> Answer {
    let implicit = snapshot
        .queues
        .iter()
        .filter(|queue| keep(&queue.vhost))
        .map(json::default_binding);
    let implicit: Vec<_> = implicit.collect();
    let explicit = snapshot
        .bindings
        .iter()
        .filter(|binding| keep(&binding.vhost));
    list(implicit.iter().chain(explicit).map(json::binding))
}

async fn bindings(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    binding_list(&snapshot, |vhost| principal.sees(&shared, vhost))
}

async fn bindings_in(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(vhost): Path<String>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    known_vhost(&snapshot, &vhost)?;
    binding_list(&snapshot, |name| {
        name == vhost && principal.sees(&shared, name)
    })
}

async fn connections(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    // A management user sees its own connections, as in RabbitMQ.
    let seen = snapshot
        .connections
        .iter()
        .filter(|connection| principal.tag >= Tag::Monitoring || connection.user == principal.user);
    list(seen.map(|connection| json::connection(&snapshot, connection, shared.amqp_listen)))
}

async fn channels(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let own = |conn| {
        snapshot
            .connections
            .iter()
            .any(|connection| connection.conn == conn && connection.user == principal.user)
    };
    let seen = snapshot
        .channels
        .iter()
        .filter(|channel| principal.tag >= Tag::Monitoring || own(channel.conn));
    list(seen.map(|channel| json::channel(&snapshot, channel, shared.amqp_listen)))
}

async fn consumers(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    let seen = snapshot
        .consumers
        .iter()
        .filter(|consumer| principal.sees(&shared, &consumer.vhost));
    list(seen.map(|consumer| json::consumer(&snapshot, consumer, shared.amqp_listen)))
}

async fn consumers_in(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(vhost): Path<String>,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    known_vhost(&snapshot, &vhost)?;
    let seen = principal.sees(&shared, &vhost);
    let consumers = snapshot
        .consumers
        .iter()
        .filter(|consumer| seen && consumer.vhost == vhost);
    list(consumers.map(|consumer| json::consumer(&snapshot, consumer, shared.amqp_listen)))
}

async fn export(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    principal.require(Tag::Administrator)?;
    Ok(Json(definitions::export(&snapshot, &shared.users)).into_response())
}

async fn import(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let (principal, snapshot) = look(&shared, &headers, peer).await?;
    principal.require(Tag::Administrator)?;
    let by_vhost = definitions::import(&body, &snapshot.vhosts).map_err(ApiError::bad_request)?;
    for (vhost, commands) in by_vhost {
        run(&shared, &principal, &vhost, commands).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
