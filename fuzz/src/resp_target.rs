//! The RESP listener's requests, without a socket or a broker.
//!
//! `brokerlab_server::fuzzing::resp_judge_requests` cuts the input into
//! requests as a connection cuts its socket's bytes (RESP arrays of bulk
//! strings and inline commands, with Redis's bounds), judges each as the
//! connection judges it, and encodes each immediate reply. The first byte
//! picks the connection's state: RESP2 or RESP3, logged in or not,
//! subscribed or not; the rest is what the client sends.

use brokerlab_server::fuzzing::resp_judge_requests;

/// Judges the requests in `data` in the state its first byte names.
pub fn resp_requests(data: &[u8]) {
    let Some((&state, requests)) = data.split_first() else {
        return;
    };
    let protocol = if state & 1 == 0 { 2 } else { 3 };
    let authenticated = state & 2 == 0;
    let subscribed = state & 4 != 0;
    let _judged = resp_judge_requests(requests, protocol, authenticated, subscribed);
}
