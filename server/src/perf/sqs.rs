//! `brokerlab perf --sqs`: a load generator for any server of SQS's JSON
//! protocol (brokerlab's `--sqs-listen`, or another), with hyper's HTTP/1.1
//! client over kept-alive connections.
//!
//! Each worker runs the full cycle in batches of 10 until the deadline:
//! SendMessageBatch, ReceiveMessage of up to 10 (no wait), then
//! DeleteMessageBatch of what it received. It measures the latency of each
//! receive (request to answer) and counts the messages that went through
//! the whole cycle. Requests carry a SigV4-shaped `Authorization` header
//! with a dummy key, which brokerlab accepts from loopback; a server that
//! checks signatures needs a real signer.

use super::Latencies;
use super::Summary;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::io;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How the SQS load runs.
#[derive(Clone, Debug)]
pub struct SqsOptions {
    /// The server's address (`host:port`).
    pub address: String,
    /// Concurrent workers, each on its own connection.
    pub workers: u16,
    /// Bytes per message body.
    pub size_bytes: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// The queue (created if missing, purged of nothing: each run uses its own name).
    pub queue: String,
}

/// What an SQS run measured.
#[derive(Clone, Debug)]
pub struct SqsReport {
    /// How the run was set up.
    pub options: SqsOptions,
    /// Messages sent before the deadline.
    pub sent: u64,
    /// Messages received before the deadline.
    pub received: u64,
    /// Messages deleted before the deadline: the full cycle.
    pub deleted: u64,
    /// Latency percentiles of the receives.
    pub receive_latency: Summary,
}

impl SqsReport {
    /// Messages through the full cycle per second.
    #[must_use]
    pub fn cycled_per_s(&self) -> f64 {
        self.deleted as f64 / self.options.duration.as_secs_f64()
    }

    /// The report as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        json!({
            "address": self.options.address,
            "workers": self.options.workers,
            "size_bytes": self.options.size_bytes,
            "duration_s": self.options.duration.as_secs_f64(),
            "sent": self.sent,
            "received": self.received,
            "deleted": self.deleted,
            "cycled_per_s": self.cycled_per_s(),
            "receive_latency_us": {
                "p50": self.receive_latency.p50_us,
                "p95": self.receive_latency.p95_us,
                "p99": self.receive_latency.p99_us,
                "max": self.receive_latency.max_us,
            },
        })
        .to_string()
    }
}

/// One kept-alive connection to the server.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    address: String,
}

impl Connection {
    async fn open(address: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(connection);
        Ok(Connection {
            sender,
            address: address.to_owned(),
        })
    }

    /// Runs one action and returns its JSON answer; an error answer is an error.
    async fn call(&mut self, action: &str, body: &Value) -> io::Result<Value> {
        let request = Request::post("/")
            .header("host", &self.address)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=perf/20260101/us-east-1/sqs/aws4_request, \
                 SignedHeaders=host;x-amz-target, Signature=0",
            )
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(io::Error::other)?;
        self.sender.ready().await.map_err(io::Error::other)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(io::Error::other(format!("{action}: {status} {value}")));
        }
        Ok(value)
    }
}

/// Runs the load and reports what it measured.
///
/// # Errors
/// When the server cannot be reached, or answers an action with an error.
pub async fn run_sqs(options: SqsOptions) -> io::Result<SqsReport> {
    let mut admin = Connection::open(&options.address).await?;
    let created = admin
        .call("CreateQueue", &json!({ "QueueName": options.queue }))
        .await?;
    let url = created["QueueUrl"]
        .as_str()
        .ok_or_else(|| io::Error::other("CreateQueue answered no QueueUrl"))?
        .to_owned();
    let body = "x".repeat(options.size_bytes);
    let deadline = Instant::now() + options.duration;
    let mut workers = Vec::new();
    for _ in 0..options.workers {
        let mut connection = Connection::open(&options.address).await?;
        let (url, body) = (url.clone(), body.clone());
        workers.push(tokio::spawn(async move {
            let mut counts = (0_u64, 0_u64, 0_u64);
            let mut latencies = Latencies::default();
            while Instant::now() < deadline {
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({ "Id": format!("m{i}"), "MessageBody": body }))
                    .collect();
                let sent = connection
                    .call("SendMessageBatch", &json!({ "QueueUrl": url, "Entries": entries }))
                    .await?;
                counts.0 += sent["Successful"].as_array().map_or(0, Vec::len) as u64;
                let asked = Instant::now();
                let received = connection
                    .call(
                        "ReceiveMessage",
                        &json!({ "QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0 }),
                    )
                    .await?;
                latencies.record(asked.elapsed().as_micros() as u64);
                let handles: Vec<Value> = received["Messages"]
                    .as_array()
                    .map(|messages| {
                        messages
                            .iter()
                            .enumerate()
                            .map(|(i, message)| {
                                json!({ "Id": format!("m{i}"), "ReceiptHandle": message["ReceiptHandle"] })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                counts.1 += handles.len() as u64;
                if handles.is_empty() {
                    continue;
                }
                let deleted = connection
                    .call("DeleteMessageBatch", &json!({ "QueueUrl": url, "Entries": handles }))
                    .await?;
                if Instant::now() <= deadline {
                    counts.2 += deleted["Successful"].as_array().map_or(0, Vec::len) as u64;
                }
            }
            Ok::<_, io::Error>((counts, latencies))
        }));
    }
    let (mut sent, mut received, mut deleted) = (0, 0, 0);
    let mut latencies = Latencies::default();
    for worker in workers {
        let ((s, r, d), samples) = worker.await.map_err(io::Error::other)??;
        sent += s;
        received += r;
        deleted += d;
        latencies.merge(samples);
    }
    admin
        .call("DeleteQueue", &json!({ "QueueUrl": url }))
        .await?;
    Ok(SqsReport {
        options,
        sent,
        received,
        deleted,
        receive_latency: latencies.summary(),
    })
}
