//! `brokerlab explore` serves Stateright Explorer over a model.

use brokerlab_models::check::{model_by_name, Overrides};
use brokerlab_models::explore;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// Sends one HTTP GET for `path` and returns the whole response, retrying
/// until the server thread has bound its address (a bounded number of
/// times: up to ten seconds on a loaded machine; nothing is asserted about time).
fn get(address: SocketAddr, path: &str) -> String {
    const ATTEMPTS_MAX: usize = 1_000;
    for _ in 0..ATTEMPTS_MAX {
        let Ok(mut stream) = TcpStream::connect(address) else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("the request is sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("a response");
        return response;
    }
    panic!("the explorer never accepted a connection on {address}");
}

#[test]
fn explorer_serves_the_initial_state_of_a_model() {
    let (_, model) = model_by_name("ttl", &Overrides::default()).expect("a known model");
    // A port the system hands out is free; the explorer binds it right after.
    let address = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    thread::spawn(move || explore::serve(model, address, 1));
    let status = get(address, "/.status");
    assert!(status.contains(" 200 OK"), "{status}");
    assert!(status.contains("\"done\""), "{status}");
    let states = get(address, "/.states");
    assert!(states.contains(" 200 OK"), "{states}");
    assert!(
        states.contains("producer") || states.contains("Producer"),
        "{states}"
    );
}

#[test]
fn explore_reports_an_address_it_cannot_bind() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address");
    let (_, model) = model_by_name("ttl", &Overrides::default()).expect("a known model");
    assert!(explore::serve(model, address, 1).is_err());
}
