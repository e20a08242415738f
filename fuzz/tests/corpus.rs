//! Replays the committed corpus (`corpus/<target>/*`) through each target
//! on stable Rust, without libFuzzer: a change that makes any of them fail
//! a rule fails here, and in CI.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no seeds", dir.display());
    for file in files {
        let data = fs::read(&file).expect("a readable seed");
        eprintln!("{target}: {}", file.display());
        run(&data);
    }
}

#[test]
fn frames_corpus() {
    replay("frames", brokerlab_fuzz::frames);
}

#[test]
fn handshake_corpus() {
    replay("handshake", brokerlab_fuzz::handshake);
}

#[test]
fn kafka_requests_corpus() {
    replay("kafka_requests", brokerlab_fuzz::kafka_requests);
}

#[test]
fn resp_requests_corpus() {
    replay("resp_requests", brokerlab_fuzz::resp_requests);
}

#[test]
fn core_inputs_corpus() {
    replay("core_inputs", brokerlab_fuzz::core_inputs);
}

/// The seeds of `target`'s corpus recorded from real clients
/// (`recording-*`), with their names.
fn recordings(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut recordings = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("")
            .to_owned();
        if name.starts_with("recording-") {
            recordings.push((name, fs::read(&path).expect("a readable seed")));
        }
    }
    assert!(
        !recordings.is_empty(),
        "{} holds no recordings",
        dir.display()
    );
    recordings
}

#[test]
fn the_real_sessions_get_through_the_handshake() {
    for (name, data) in recordings("handshake") {
        assert!(brokerlab_fuzz::handshake_opens(&data), "{name} logs in");
    }
}

#[test]
fn the_core_seeds_decode_to_what_they_encode() {
    use brokerlab_fuzz::steps::{decode, encode};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/core_inputs");
    for entry in fs::read_dir(&dir).expect("the core_inputs corpus") {
        let data = fs::read(entry.expect("a directory entry").path()).expect("a seed");
        let run = decode(&data);
        let again = decode(&encode(data.first().copied().unwrap_or(0), &run.steps));
        assert_eq!(again.steps, run.steps);
    }
}

#[test]
fn every_kafka_seed_request_is_dispatched_from_loopback() {
    use std::net::SocketAddr;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/kafka_requests");
    let loopback = SocketAddr::from(([127, 0, 0, 1], 50_000));
    let users = std::sync::Arc::new(brokerlab_server::Users::default());
    for entry in fs::read_dir(&dir).expect("the kafka_requests corpus") {
        let path = entry.expect("a directory entry").path();
        let data = fs::read(&path).expect("a readable seed");
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("found-"))
        {
            continue;
        }
        let mut requests = 0;
        let mut rest = &data[..];
        while let Some(size) = rest.get(..4) {
            let size = usize::try_from(i32::from_be_bytes(size.try_into().unwrap())).unwrap();
            rest = &rest[4 + size..];
            requests += 1;
        }
        let dispatched =
            brokerlab_server::fuzzing::kafka_dispatch_requests(&data, loopback, &users);
        assert_eq!(dispatched.len(), requests, "{}", path.display());
    }
}

#[test]
fn the_recorded_redis_clients_requests_are_judged() {
    for (name, data) in recordings("resp_requests") {
        let judged = brokerlab_server::fuzzing::resp_judge_requests(&data[1..], 2, true, false);
        assert!(judged > 0, "{name} holds requests");
    }
}
