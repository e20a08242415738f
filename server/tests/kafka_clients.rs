//! Unmodified Kafka clients against the server's Kafka listener: the seed
//! document's kafka-python example (a producer, then a consumer in a
//! group) and its kafkajs examples (a producer, a batch producer of 100
//! keyed records, a consumer from the beginning, three members of one
//! group) and kafka-python's keyed records on murmur2(key) % partitions,
//! run as scripts in tests/clients/ that assert what arrives; then
//! raw frames that no client sends (garbage, oversized, truncated, unknown
//! APIs and versions).
//!
//! Needs `python3` with kafka-python (`python3 -m pip install kafka-python`)
//! and kafkajs beside the scripts (`npm install --prefix
//! server/tests/clients`); CI's .ci/run installs both. Without them the
//! client tests say what is missing and pass.
// On a real runtime, sockets and processes: madsim builds leave this out.
#![cfg(not(madsim))]

mod common;

use brokerlab_server::Options;
use common::TestServer;
use kafka_protocol::protocol::Encodable;
use std::net::SocketAddr;
use std::process::Command;

/// Whether kafka-python can be imported; when not, the test says what to install.
fn kafka_python_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import kafka"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: kafka-python is not installed (python3 -m pip install kafka-python)");
    }
    found
}

fn start(data: &std::path::Path) -> TestServer {
    start_with_partitions(data, brokerlab_server::DEFAULT_PARTITIONS)
}

/// A server whose auto-created topics have `partitions` partitions.
fn start_with_partitions(data: &std::path::Path, partitions: u32) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kafka_partitions: partitions,
        ..Options::new()
    })
}

/// A server whose Kafka listener serves no client without SASL/PLAIN.
fn start_requiring_sasl(data: &std::path::Path) -> TestServer {
    TestServer::start_options(Options {
        data_dir: data.to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kafka_anonymous_loopback: false,
        ..Options::new()
    })
}

/// Whether aiokafka can be imported; when not, the test says what to install.
fn aiokafka_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import aiokafka"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: aiokafka is not installed (python3 -m pip install aiokafka)");
    }
    found
}

/// Whether kafkajs is installed beside the scripts; when not, the test says what to install.
fn kafkajs_installed() -> bool {
    let found = common::client_script("node_modules/kafkajs/package.json").exists();
    if !found {
        eprintln!("skipped: kafkajs is not installed (npm install --prefix server/tests/clients)");
    }
    found
}

fn run_node(name: &str, server: &TestServer) {
    let port = server
        .kafka
        .expect("the Kafka listener is on")
        .port()
        .to_string();
    let missing = "install Node.js and kafkajs (npm install --prefix server/tests/clients)";
    common::run_client_script(
        "node",
        missing,
        name,
        server,
        &[("BROKERLAB_KAFKA_PORT", &port)],
    );
}

fn run_script(name: &str, server: &TestServer, env: &[(&str, &str)]) {
    let port = server
        .kafka
        .expect("the Kafka listener is on")
        .port()
        .to_string();
    let mut env = env.to_vec();
    env.push(("BROKERLAB_KAFKA_PORT", &port));
    let missing = "install python3 and kafka-python (python3 -m pip install kafka-python)";
    common::run_client_script("python3", missing, name, server, &env);
}

#[test]
fn seed_kafka_python_example_delivers_to_a_group_from_its_committed_offset() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    // The group's first consumer starts at the latest offset and commits it.
    run_script(
        "kafka_seed.py",
        &server,
        &[("BROKERLAB_CONSUMER_TIMEOUT_MS", "8000")],
    );
    // The second run's consumer resumes there and gets the second run's record.
    run_script(
        "kafka_seed.py",
        &server,
        &[(
            "BROKERLAB_EXPECTED",
            r#"{"orderId": "12345", "status": "pending"}"#,
        )],
    );
    server.stop();
}

#[test]
fn a_stream_queue_and_its_kafka_topic_are_one_log_read_alike_over_either_protocol() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_script("stream_across.py", &server, &[]);
    server.stop();
}

#[test]
fn the_admin_client_lists_describes_and_deletes_a_consumer_group() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_script("kafka_admin_groups.py", &server, &[]);
    server.stop();
}

#[test]
fn kafka_python_puts_keyed_records_on_murmur2_of_the_key_in_order_per_partition() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_script("kafka_python_murmur2.py", &server, &[]);
    server.stop();
}

#[test]
fn kafka_python_gzip_batches_are_acknowledged_and_read_back_in_order() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_script("kafka_python_gzip.py", &server, &[]);
    server.stop();
}

#[test]
fn aiokafka_keys_records_by_murmur2_and_a_group_resumes_at_its_committed_offsets() {
    if !aiokafka_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_with_partitions(data.path(), 3);
    run_script(
        "aiokafka_group.py",
        &server,
        &[("BROKERLAB_PARTITIONS", "3")],
    );
    server.stop();
}

#[test]
fn aiokafka_authenticates_with_sasl_plain_as_an_amqp_user() {
    if !aiokafka_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = TestServer::start_options(Options {
        data_dir: data.path().to_path_buf(),
        kafka_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kafka_partitions: 3,
        kafka_anonymous_loopback: false,
        ..Options::new()
    });
    let env = [("BROKERLAB_PARTITIONS", "3"), ("BROKERLAB_KAFKA_SASL", "1")];
    run_script("aiokafka_group.py", &server, &env);
    server.stop();
}

#[test]
fn the_admin_client_grows_a_topic_and_may_not_shrink_it() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_script("kafka_admin_partitions.py", &server, &[]);
    server.stop();
}

/// Runs kcat (librdkafka) against the Kafka listener with `args`, feeding
/// it `input`; its stdout, or `None` when kcat is not installed.
fn kcat(server: &TestServer, args: &[&str], input: &str) -> Option<String> {
    use std::io::Write;
    use std::process::Stdio;
    let broker = server.kafka.expect("the Kafka listener is on").to_string();
    let child = Command::new("kcat")
        .args(["-b", &broker])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped: kcat is not installed (apt-get install kcat)");
        return None;
    };
    child
        .stdin
        .take()
        .expect("a pipe")
        .write_all(input.as_bytes())
        .expect("kcat reads its input");
    let output = child.wait_with_output().expect("kcat ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kcat {args:?} failed: {stderr}");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn kcat_lists_produces_keyed_records_and_reads_them_alone_and_in_a_group() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let Some(listed) = kcat(&server, &["-L"], "") else {
        return server.stop();
    };
    assert!(listed.contains("1 brokers:"), "{listed}");
    kcat(&server, &["-P", "-t", "kc", "-K:"], "k1:hello\nk2:world\n");
    let format = ["-o", "beginning", "-e", "-f", "%k=%s@%o\n"];
    let alone = kcat(&server, &[&["-C", "-t", "kc"][..], &format].concat(), "");
    assert_eq!(alone.as_deref(), Some("k1=hello@0\nk2=world@1\n"));
    let grouped = kcat(
        &server,
        &[&["-G", "kgroup", "kc"][..], &format].concat(),
        "",
    );
    assert_eq!(grouped.as_deref(), Some("k1=hello@0\nk2=world@1\n"));
    let listed = kcat(&server, &["-L", "-t", "kc"], "").expect("installed");
    assert!(
        listed.contains("topic \"kc\" with 1 partitions"),
        "{listed}"
    );
    server.stop();
}

/// Raw frames, for what real clients never send.
mod raw {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    pub fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("the Kafka listener accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        stream
    }

    /// A request frame: size, API key, version, correlation id, a null
    /// client id (request header v1), then `body`.
    pub fn request(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&correlation_id.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        frame.extend_from_slice(body);
        let mut sized = (i32::try_from(frame.len()).expect("small"))
            .to_be_bytes()
            .to_vec();
        sized.extend_from_slice(&frame);
        sized
    }

    /// The next response frame without its size, or `None` once the server closed the socket.
    pub fn response(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut size = [0; 4];
        stream.read_exact(&mut size).ok()?;
        let mut frame = vec![0; usize::try_from(i32::from_be_bytes(size)).ok()?];
        stream.read_exact(&mut frame).ok()?;
        Some(frame)
    }

    /// Writes `bytes` and says whether the server then closed the connection without answering.
    pub fn closes_after(addr: SocketAddr, bytes: &[u8]) -> bool {
        let mut stream = connect(addr);
        // The server may close before it reads everything; that is the point.
        let _ = stream.write_all(bytes);
        response(&mut stream).is_none()
    }

    /// ApiVersions v0 answered: the error code and the API keys listed with their ranges.
    pub fn api_versions(addr: SocketAddr, version: i16) -> (i16, Vec<(i16, i16, i16)>) {
        let mut stream = connect(addr);
        stream
            .write_all(&request(18, version, 7, &[]))
            .expect("the request is written");
        let frame = response(&mut stream).expect("ApiVersions is answered");
        let field = |at: usize| i16::from_be_bytes([frame[at], frame[at + 1]]);
        assert_eq!(
            &frame[..4],
            &7i32.to_be_bytes(),
            "the correlation id comes back"
        );
        let error = field(4);
        let count = i32::from_be_bytes([frame[6], frame[7], frame[8], frame[9]]);
        let apis = (0..usize::try_from(count).expect("a count"))
            .map(|i| (field(10 + 6 * i), field(12 + 6 * i), field(14 + 6 * i)))
            .collect();
        (error, apis)
    }
}

#[test]
fn api_versions_lists_every_api_the_clients_need() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let addr = server.kafka.expect("the Kafka listener is on");
    let (error, apis) = raw::api_versions(addr, 0);
    assert_eq!(error, 0);
    for key in [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19, 20, 22] {
        assert!(
            apis.iter().any(|(api, _, _)| *api == key),
            "API {key} listed"
        );
    }
    server.stop();
}

#[test]
fn api_versions_of_a_newer_version_is_answered_unsupported_version_in_the_v0_format() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let addr = server.kafka.expect("the Kafka listener is on");
    let (error, apis) = raw::api_versions(addr, 99);
    assert_eq!(error, 35, "UNSUPPORTED_VERSION");
    assert_eq!(apis, vec![(18, 0, 3)], "the ApiVersions versions served");
    server.stop();
}

#[test]
fn bad_frames_close_their_connection_and_others_carry_on() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let addr = server.kafka.expect("the Kafka listener is on");
    let garbage = [0, 0, 0, 12, 0x7f, 0x3e, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    assert!(raw::closes_after(addr, &garbage), "an unknown API key");
    assert!(
        raw::closes_after(addr, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 1]),
        "a frame larger than socket.request.max.bytes"
    );
    assert!(
        raw::closes_after(addr, &[0xff, 0xff, 0xff, 0xf0]),
        "a negative frame size"
    );
    assert!(
        raw::closes_after(addr, &[0, 0, 0, 3, 0, 3, 0]),
        "a frame shorter than a header"
    );
    // Metadata v1 whose topic array claims more topics than the frame holds.
    let truncated = raw::request(3, 1, 1, &[0, 0, 0, 5, 0, 1]);
    assert!(raw::closes_after(addr, &truncated), "a truncated body");
    // Metadata v1 whose topic array claims 2^31 - 1 topics in a few bytes:
    // the decoder reserves no more than the bytes left, so the claim costs
    // nothing and the server lives on (vendor/README.md).
    let huge = raw::request(3, 1, 1, &[0x7f, 0xff, 0xff, 0xff, 0, 1, b't']);
    assert!(
        raw::closes_after(addr, &huge),
        "an array count past the frame"
    );
    // Produce v0 is older than any version served.
    let old = raw::request(0, 0, 1, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(raw::closes_after(addr, &old), "a version not served");
    let (error, _) = raw::api_versions(addr, 0);
    assert_eq!(error, 0, "a new connection is served as before");
    server.stop();
}

/// A produce request (v3) of one snappy batch of one record, whose
/// compressed bytes are what `compress` makes of the uncompressed records.
fn produce_snappy(topic: &str, compress: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Vec::new(),
    };
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::Snappy,
    };
    let mut batch = bytes::BytesMut::new();
    let compressor = |records: &mut bytes::BytesMut, out: &mut bytes::BytesMut, _| {
        out.extend_from_slice(&compress(records));
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut batch,
        [&record],
        &options,
        Some(compressor),
    )
    .expect("the batch encodes");
    let mut partition = PartitionProduceData::default();
    partition.records = Some(batch.freeze());
    let mut topic_data = TopicProduceData::default();
    topic_data.name = TopicName(StrBytes::from_string(topic.to_string()));
    topic_data.partition_data = vec![partition];
    let mut request = ProduceRequest::default();
    request.acks = 1;
    request.timeout_ms = 5_000;
    request.topic_data = vec![topic_data];
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, 3).expect("the request encodes");
    raw::request(0, 3, 9, &body)
}

/// The error code of the one partition a Produce v3 response answers.
fn produce_error(frame: &[u8]) -> i16 {
    use kafka_protocol::messages::ProduceResponse;
    use kafka_protocol::protocol::Decodable;
    let mut body = bytes::Bytes::copy_from_slice(&frame[4..]);
    let response = ProduceResponse::decode(&mut body, 3).expect("a Produce v3 response");
    response.responses[0].partition_responses[0].error_code
}

#[test]
fn a_compressed_batch_past_the_inflation_bound_is_message_too_large_and_garbage_is_corrupt_message()
{
    use std::io::Write;
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let addr = server.kafka.expect("the Kafka listener is on");
    let mut stream = raw::connect(addr);
    // Metadata v1 for the topic creates it, as auto-creation is on.
    let mut metadata = 1i32.to_be_bytes().to_vec();
    metadata.extend_from_slice(&8i16.to_be_bytes());
    metadata.extend_from_slice(b"inflated");
    stream
        .write_all(&raw::request(3, 1, 8, &metadata))
        .expect("written");
    raw::response(&mut stream).expect("the metadata is answered");
    let mut produce = |compress: &dyn Fn(&[u8]) -> Vec<u8>| {
        stream
            .write_all(&produce_snappy("inflated", compress))
            .expect("written");
        produce_error(&raw::response(&mut stream).expect("the produce is answered"))
    };
    // A raw snappy block opens with its uncompressed length: 200 MiB, as a
    // varint, is refused before a byte is inflated.
    let bomb = |_: &[u8]| vec![0x80, 0x80, 0x80, 0x64, 0, 0, 0, 0];
    assert_eq!(produce(&bomb), 10, "MESSAGE_TOO_LARGE");
    // Bytes that are no snappy at all are a corrupt message, on the same
    // connection, which carries on.
    let garbage = |_: &[u8]| b"\x05not snappy".to_vec();
    assert_eq!(produce(&garbage), 2, "CORRUPT_MESSAGE");
    // The same record, properly compressed, is stored.
    let snappy = |records: &[u8]| {
        snap::raw::Encoder::new()
            .compress_vec(records)
            .expect("compresses")
    };
    assert_eq!(produce(&snappy), 0, "a good snappy batch");
    server.stop();
}

#[test]
fn seed_kafkajs_examples_deliver_a_record_and_a_keyed_batch_to_a_group_from_the_beginning() {
    if !kafkajs_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_node("kafkajs_seed.js", &server);
    server.stop();
}

#[test]
fn kafkajs_gzip_batches_are_acknowledged_and_read_back_in_order() {
    if !kafkajs_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    run_node("kafkajs_gzip.js", &server);
    server.stop();
}

#[test]
fn seed_kafkajs_group_of_three_splits_the_partitions_and_each_record_reaches_one_member() {
    if !kafkajs_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_with_partitions(data.path(), 3);
    run_node("kafkajs_groups.js", &server);
    server.stop();
}

/// Encodes a request frame with kafka-protocol's client side.
fn encoded<R: Encodable>(
    api: kafka_protocol::messages::ApiKey,
    version: i16,
    correlation_id: i32,
    request: &R,
) -> Vec<u8> {
    let mut header = kafka_protocol::messages::RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    let mut body = Vec::new();
    header
        .encode(&mut body, api.request_header_version(version))
        .expect("the header encodes");
    request
        .encode(&mut body, version)
        .expect("the request encodes");
    let mut frame = i32::try_from(body.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn answers_leave_a_connection_in_request_order_though_a_long_poll_fetch_is_answered_last() {
    use kafka_protocol::messages::{
        fetch_request, metadata_request, ApiKey, ApiVersionsRequest, FetchRequest, MetadataRequest,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use std::io::Write;
    use std::time::{Duration, Instant};

    let data = tempfile::tempdir().expect("a temp dir");
    let server = start(data.path());
    let mut stream = raw::connect(server.kafka.expect("the Kafka listener is on"));
    let name = TopicName(StrBytes::from_static_str("waiting"));
    let mut metadata = MetadataRequest::default();
    let mut topic = metadata_request::MetadataRequestTopic::default();
    topic.name = Some(name.clone());
    metadata.topics = Some(vec![topic]);
    metadata.allow_auto_topic_creation = true;
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = 1_000;
    fetch.min_bytes = 1;
    fetch.max_bytes = 1 << 20;
    let mut partition = fetch_request::FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut fetched = fetch_request::FetchTopic::default();
    fetched.topic = name;
    fetched.partitions = vec![partition];
    fetch.topics = vec![fetched];
    let mut pipelined = encoded(ApiKey::Metadata, 12, 1, &metadata);
    pipelined.extend(encoded(ApiKey::Fetch, 12, 2, &fetch));
    pipelined.extend(encoded(
        ApiKey::ApiVersions,
        3,
        3,
        &ApiVersionsRequest::default(),
    ));
    let sent = Instant::now();
    stream
        .write_all(&pipelined)
        .expect("the requests are written");
    let correlation_ids: Vec<i32> = (0..3)
        .map(|_| {
            let frame = raw::response(&mut stream).expect("each request is answered");
            i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]])
        })
        .collect();
    assert_eq!(correlation_ids, vec![1, 2, 3], "answers in request order");
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "ApiVersions waited for the fetch's long poll before it"
    );
    server.stop();
}

#[test]
fn kafka_python_authenticates_with_sasl_plain_as_an_amqp_user() {
    if !kafka_python_installed() {
        return;
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_requiring_sasl(data.path());
    run_script("kafka_python_sasl_plain.py", &server, &[]);
    server.stop();
}

/// Kafka's SASL/PLAIN exchange over raw frames: the request header v1 of
/// SaslHandshake v1 and SaslAuthenticate v0 (neither flexible).
mod sasl {
    use super::raw;
    use kafka_protocol::messages::{
        SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::io::Write;
    use std::net::TcpStream;

    /// Sends `request` as `api_key` at `version`; its response, or `None` once closed.
    fn exchange<Q: Encodable, R: Decodable>(
        stream: &mut TcpStream,
        (api_key, version): (i16, i16),
        request: &Q,
    ) -> Option<R> {
        let mut body = Vec::new();
        request.encode(&mut body, version).expect("encodes");
        stream
            .write_all(&raw::request(api_key, version, 9, &body))
            .expect("the request is written");
        let frame = raw::response(stream)?;
        assert_eq!(&frame[..4], &9i32.to_be_bytes(), "the correlation id");
        let mut rest = bytes::Bytes::copy_from_slice(&frame[4..]);
        Some(R::decode(&mut rest, version).expect("the response decodes"))
    }

    /// SaslHandshake v1 naming `mechanism`: its error code, or `None` once closed.
    pub fn handshake(stream: &mut TcpStream, mechanism: &'static str) -> Option<i16> {
        let mut request = SaslHandshakeRequest::default();
        request.mechanism = StrBytes::from_static_str(mechanism);
        let response: SaslHandshakeResponse = exchange(stream, (17, 1), &request)?;
        Some(response.error_code)
    }

    /// SaslAuthenticate v0 with PLAIN's token: its error code and message.
    pub fn authenticate(
        stream: &mut TcpStream,
        user: &str,
        password: &str,
    ) -> Option<(i16, Option<String>)> {
        let mut request = SaslAuthenticateRequest::default();
        request.auth_bytes = format!("\0{user}\0{password}").into_bytes().into();
        let response: SaslAuthenticateResponse = exchange(stream, (36, 0), &request)?;
        let message = response.error_message.map(|text| text.to_string());
        Some((response.error_code, message))
    }
}

#[test]
fn without_anonymous_access_only_api_versions_and_sasl_come_before_authentication() {
    use std::io::Write;
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_requiring_sasl(data.path());
    let addr = server.kafka.expect("the Kafka listener is on");
    let (error, apis) = raw::api_versions(addr, 0);
    assert_eq!(error, 0, "ApiVersions is answered before authentication");
    assert!(apis.contains(&(17, 1, 1)), "SaslHandshake v1 listed");
    assert!(
        apis.contains(&(36, 0, 2)),
        "SaslAuthenticate v0 to v2 listed"
    );
    let metadata = raw::request(3, 1, 1, &[0xff, 0xff, 0xff, 0xff]);
    assert!(raw::closes_after(addr, &metadata), "Metadata before SASL");

    let mut stream = raw::connect(addr);
    assert_eq!(sasl::handshake(&mut stream, "SCRAM-SHA-512"), Some(33));
    assert!(
        raw::response(&mut stream).is_none(),
        "closed after UNSUPPORTED_SASL_MECHANISM"
    );

    let mut stream = raw::connect(addr);
    let early = sasl::authenticate(&mut stream, "guest", "guest").map(|(code, _)| code);
    assert_eq!(early, Some(34), "ILLEGAL_SASL_STATE before the handshake");
    assert!(raw::response(&mut stream).is_none(), "then closed");

    let mut stream = raw::connect(addr);
    assert_eq!(sasl::handshake(&mut stream, "PLAIN"), Some(0));
    let wrong = sasl::authenticate(&mut stream, "guest", "wrong");
    let message = "Authentication failed: Invalid username or password".to_owned();
    assert_eq!(wrong, Some((58, Some(message))));
    assert!(
        raw::response(&mut stream).is_none(),
        "closed after SASL_AUTHENTICATION_FAILED"
    );

    let mut stream = raw::connect(addr);
    assert_eq!(sasl::handshake(&mut stream, "PLAIN"), Some(0));
    assert_eq!(
        sasl::authenticate(&mut stream, "guest", "guest"),
        Some((0, None))
    );
    stream.write_all(&metadata).expect("written");
    assert!(
        raw::response(&mut stream).is_some(),
        "Metadata once authenticated"
    );
    assert_eq!(
        sasl::handshake(&mut stream, "PLAIN"),
        Some(34),
        "a second handshake"
    );
    server.stop();
}
