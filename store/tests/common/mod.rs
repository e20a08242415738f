//! Records for the store's tests, built from the core's own types.

#![allow(dead_code)] // Each test file uses its own part of these helpers.

use brokerlab_core::field::{FieldTable, FieldValue};
use brokerlab_core::record::{Change, Record};
use brokerlab_core::SharedMessage;
use brokerlab_core::{Instant, Message, MessageId, Properties};
use brokerlab_store::frame;
use std::sync::Arc;

/// A persistent message of `body_bytes` bytes entering queue `q`, as record `lsn`.
pub fn enqueued(lsn: u64, body_bytes: usize) -> Record {
    let body: Vec<u8> = (0..body_bytes)
        .map(|i| (i as u64 * 31 + lsn) as u8)
        .collect();
    let mut headers = FieldTable::new();
    headers.insert("attempt".to_string(), FieldValue::I32(lsn as i32));
    let properties = Properties {
        delivery_mode: Some(2),
        headers: Some(Arc::new(headers)),
        ..Properties::default()
    };
    let message = Message {
        id: MessageId(lsn),
        envelope: brokerlab_core::Envelope::shared("orders", "orders.new", Arc::new(properties)),
        body: body.into(),
    };
    let change = Change::Enqueued {
        vhost: "/".into(),
        queue: "q".into(),
        seq: lsn,
        message: SharedMessage::new(message),
        expires_at: Some(Instant(lsn * 1_000)),
        delivery_count: 0,
    };
    Record { lsn, change }
}

/// A durable queue named `name` being declared, as record `lsn` (snapshots use these).
pub fn declared(lsn: u64, name: &str) -> Record {
    let change = Change::QueueDeclared {
        vhost: "/".into(),
        name: name.into(),
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    Record { lsn, change }
}

/// The frames of `records`, back to back, and where each frame starts.
pub fn encode_all(records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    let mut log = Vec::new();
    let mut starts = Vec::new();
    for record in records {
        starts.push(log.len());
        frame::encode(record, &mut log).expect("test records fit in a frame");
    }
    (log, starts)
}

/// What recovering `log` after damage must give: the records a reader may
/// return, or the offset of the damaged frame it must refuse.
///
/// `starts` are the frame starts of the undamaged log, `len` its length
/// after truncation, and `flipped_byte` the byte where a bit was flipped.
pub fn expected_after_damage(
    starts: &[usize],
    end: usize,
    len: usize,
    flipped_byte: Option<usize>,
) -> Result<usize, (u64, u64)> {
    let frame_end = |index: usize| starts.get(index + 1).copied().unwrap_or(end);
    let whole = (0..starts.len())
        .filter(|&index| frame_end(index) <= len)
        .count();
    let Some(byte) = flipped_byte.filter(|&byte| byte < len) else {
        return Ok(whole);
    };
    // The frame holding the flipped bit is damaged; a whole frame after it
    // makes the damage corruption, else it is a torn tail.
    let damaged = starts
        .iter()
        .rposition(|&start| start <= byte)
        .expect("byte 0 starts the first frame");
    if damaged + 1 < whole {
        Err((starts[damaged] as u64, starts[damaged + 1] as u64))
    } else {
        Ok(damaged)
    }
}
