//! The Kafka listener's requests, without a socket or a broker.
//!
//! `brokerlab_server::fuzzing::kafka_dispatch_requests` cuts the input into
//! size-prefixed requests as a connection cuts its socket's bytes, screens
//! each for SASL and dispatches it (kafka-protocol's decoders, the record
//! batches and their decompression, the mapping onto the core's commands),
//! until one closes the connection. It runs twice: as a client on loopback,
//! served anonymously, and as one from elsewhere, which must authenticate
//! first, so that the SASL exchange is fuzzed too.

use brokerlab_server::fuzzing::kafka_dispatch_requests;
use brokerlab_server::Users;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// The default users (`guest`/`guest`), built once: their patterns are
/// compiled regexes.
fn users() -> &'static Arc<Users> {
    static USERS: OnceLock<Arc<Users>> = OnceLock::new();
    USERS.get_or_init(|| Arc::new(Users::default()))
}

/// Dispatches the requests in `data` from loopback and from elsewhere.
pub fn kafka_requests(data: &[u8]) {
    let peers = [
        SocketAddr::from(([127, 0, 0, 1], 50_000)),
        SocketAddr::from(([192, 0, 2, 1], 50_000)),
    ];
    for peer in peers {
        for (asked, answered) in kafka_dispatch_requests(data, peer, users()) {
            assert_eq!(
                asked, answered,
                "an answer carries its request's correlation id"
            );
        }
    }
}
