//! The SQS listener: Amazon SQS's JSON protocol, the one AWS's current
//! SDKs speak, on axum, for the core's SQS queues (`brokerlab_core::sqs`).
//!
//! Every request is `POST /` with `X-Amz-Target: AmazonSQS.<Action>` and a
//! JSON body; the answer is JSON as AWS shapes it, an error a 400 with
//! `__type` and the query protocol's code in `x-amzn-query-error`
//! (`error`). `request` decodes a request into the core's `SqsCommand`,
//! `response` encodes the core's `SqsReply` with the MD5 digests the SDKs
//! check, and `sigv4` checks signatures. The listener holds no rule of
//! SQS's: each request is one `Input::Sqs` (content-based deduplication
//! included: the core takes a body's SHA-256 itself).
//!
//! Each HTTP request is a core connection of its own, numbered from
//! [`SQS_CONNECTIONS_FIRST`], with no `Input::Connect`. A request dropped
//! before its answer came (its client went away, or the server stopped)
//! sends `Input::Disconnect`, which drops its long poll; an answered one
//! leaves nothing of its connection in the core, so it sends nothing.
//! When the server shuts down, long polls answer with no messages at once.
//!
//! Queues live in the core's SQS vhost and are named by the last segment
//! of their URL, `http://<Host>/000000000000/<name>`.
//!
//! Authentication: with access keys configured, every request must carry
//! a SigV4 signature by one of them. With none (the default), any
//! credentials are taken from clients on loopback, as AMQP's `guest`
//! logs in only from loopback, and clients elsewhere are refused.

mod error;
mod request;
mod response;
mod sigv4;

use crate::broker_task::ToBroker;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use brokerlab_core::{ConnectionId, Input, SqsCommand, SqsReply};
use bytes::Bytes;
use error::ApiError;
use request::{Action, Params};
use response::Shape;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// SQS requests' connections are numbered from here, apart from AMQP's,
/// RESP's, Kafka's and the management API's.
pub(crate) const SQS_CONNECTIONS_FIRST: u64 = 1 << 60;

/// The largest request body: a batch of ten messages at SQS's 256 KiB
/// limit, JSON-escaped, fits, so that the core judges every batch that
/// SQS would (it refuses one over 256 KiB in all). A larger body is
/// refused with 413.
pub const REQUEST_MAX_BYTES: usize = 4 << 20;

/// The JSON protocol's content type.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// What every request handler holds.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    to_broker: mpsc::Sender<ToBroker>,
    /// Turns true when the server shuts down.
    stopping: watch::Receiver<bool>,
    /// Access key to secret key; empty for loopback clients only, unsigned.
    access_keys: Arc<BTreeMap<String, String>>,
    /// The listener's address, for queue URLs of a request without `Host`.
    listen: SocketAddr,
    next_conn: Arc<AtomicU64>,
}

impl Context {
    pub(crate) fn new(
        to_broker: mpsc::Sender<ToBroker>,
        stopping: watch::Receiver<bool>,
        access_keys: BTreeMap<String, String>,
        listen: SocketAddr,
    ) -> Context {
        Context {
            to_broker,
            stopping,
            access_keys: Arc::new(access_keys),
            listen,
            next_conn: Arc::new(AtomicU64::new(SQS_CONNECTIONS_FIRST)),
        }
    }
}

/// Every path and method goes to one handler, as SQS reads only `X-Amz-Target`.
pub(crate) fn router(context: Context) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(REQUEST_MAX_BYTES))
        .with_state(context)
}

async fn handle(
    State(context): State<Context>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return ApiError::unreadable(rejection.status(), &rejection.body_text()).into_response()
        }
    };
    let request = HttpRequest {
        peer,
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    match serve(&context, &request).await {
        Ok(answer) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            json_body(&answer),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

struct HttpRequest<'a> {
    peer: SocketAddr,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

async fn serve(context: &Context, http: &HttpRequest<'_>) -> Result<serde_json::Value, ApiError> {
    authenticate(context, http)?;
    let target = header_text(http.headers, "x-amz-target");
    let action = target
        .and_then(Action::from_target)
        .ok_or_else(|| ApiError::invalid_action(target))?;
    let params = Params::parse(http.body)?;
    let command = request::command(action, &params)?;
    let host = header_text(http.headers, header::HOST.as_str())
        .map_or_else(|| context.listen.to_string(), str::to_owned);
    let mut core = CoreRequest::new(context);
    let entries = match &command {
        SqsCommand::Send { entries, .. } => entries.as_slice(),
        _ => &[],
    };
    let shape = Shape::new(action, &host, &params, entries);
    let reply = core.ask(command).await?;
    shape.answer(reply)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Checks the request's signature, or with no access keys configured
/// that its client is on loopback.
fn authenticate(context: &Context, http: &HttpRequest<'_>) -> Result<(), ApiError> {
    if context.access_keys.is_empty() {
        if http.peer.ip().to_canonical().is_loopback() {
            return Ok(());
        }
        return Err(ApiError::forbidden(
            "InvalidClientTokenId",
            "No access keys are configured: only clients on loopback are served.",
        ));
    }
    let signed = sigv4::Signed {
        method: http.method.as_str(),
        path: http.uri.path(),
        query: http.uri.query().unwrap_or(""),
        headers: http
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes()))
            .collect(),
        body: http.body,
    };
    match sigv4::verify(&signed, &context.access_keys) {
        Ok(_) => Ok(()),
        Err(sigv4::Refusal::Missing) => Err(ApiError::forbidden(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )),
        Err(sigv4::Refusal::Malformed) => Err(ApiError::forbidden(
            "IncompleteSignature",
            "The request signature does not conform to AWS standards.",
        )),
        Err(sigv4::Refusal::UnknownKey) => Err(ApiError::forbidden(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )),
        Err(sigv4::Refusal::Mismatch) => Err(ApiError::forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )),
    }
}

/// An HTTP request's connection to the core: its commands are numbered
/// requests, and dropping it while one is unanswered disconnects it.
struct CoreRequest<'a> {
    context: &'a Context,
    conn: ConnectionId,
    request: u64,
    unanswered: bool,
}

impl<'a> CoreRequest<'a> {
    fn new(context: &'a Context) -> CoreRequest<'a> {
        let conn = ConnectionId(context.next_conn.fetch_add(1, Ordering::Relaxed));
        CoreRequest {
            context,
            conn,
            request: 0,
            unanswered: false,
        }
    }

    /// The core's answer to `command`. A long poll still waiting when the
    /// server shuts down answers with no messages.
    async fn ask(&mut self, command: SqsCommand) -> Result<SqsReply, ApiError> {
        let long_poll = matches!(command, SqsCommand::Receive { .. });
        let (answer, answered) = oneshot::channel();
        self.request += 1;
        self.unanswered = true;
        let message = ToBroker::Sqs {
            conn: self.conn,
            request: self.request,
            command: Box::new(command),
            answer,
        };
        self.context
            .to_broker
            .send(message)
            .await
            .map_err(|_| ApiError::unavailable())?;
        let mut stopping = self.context.stopping.clone();
        let reply = tokio::select! {
            reply = answered => reply.map_err(|_| ApiError::unavailable())?,
            _ = stopping.wait_for(|stopping| *stopping), if long_poll => {
                return Ok(SqsReply::Received(Vec::new()));
            }
        };
        self.unanswered = false;
        Ok(reply)
    }
}

impl Drop for CoreRequest<'_> {
    fn drop(&mut self) {
        if !self.unanswered {
            return;
        }
        let message = ToBroker::Input(Input::Disconnect { conn: self.conn });
        // A full inbox must not lose the disconnect: it waits on a task.
        if let Err(mpsc::error::TrySendError::Full(message)) =
            self.context.to_broker.try_send(message)
        {
            let to_broker = self.context.to_broker.clone();
            tokio::spawn(async move {
                let _ = to_broker.send(message).await;
            });
        }
    }
}

/// A JSON value as a response body.
fn json_body(value: &serde_json::Value) -> String {
    value.to_string()
}
