//! Cutting frames out of the bytes a connection has read.
//!
//! The frame's size is checked against the negotiated `frame_max` from its
//! 7-byte header before anything waits for or parses the payload, so a peer
//! cannot make the server buffer more than one frame; the nesting of its
//! field tables is bounded (`nesting`), and amq-protocol then parses
//! exactly that frame.

use super::inbound::Refusal;
use super::nesting::{header_within_limit, method_within_limit};
use amq_protocol::frame::{parse_frame, AMQPFrame};
use amq_protocol::protocol::constants;
use brokerlab_core::ReplyCode;

/// Type (1), channel (2) and payload size (4).
const FRAME_HEADER_BYTES: usize = 7;

/// The protocol header AMQP 0-9-1 clients open with, and the one a client
/// with any other gets back before the socket is closed.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";

/// The next complete frame in `buffer` and the bytes it took; `None` while
/// the frame is still incomplete.
pub fn next_frame(buffer: &[u8], frame_max: u32) -> Result<Option<(AMQPFrame, usize)>, Refusal> {
    if buffer.len() < FRAME_HEADER_BYTES {
        return Ok(None);
    }
    let kind = buffer[0];
    if ![
        constants::FRAME_METHOD,
        constants::FRAME_HEADER,
        constants::FRAME_BODY,
        constants::FRAME_HEARTBEAT,
    ]
    .contains(&kind)
    {
        return Err(Refusal::new(
            ReplyCode::FrameError,
            format!("unknown frame type {kind}"),
        ));
    }
    let size = u32::from_be_bytes([buffer[3], buffer[4], buffer[5], buffer[6]]) as usize;
    let total = size + FRAME_HEADER_BYTES + 1;
    if total > frame_max as usize {
        return Err(Refusal::new(
            ReplyCode::FrameError,
            format!("frame of {total} bytes is larger than frame_max {frame_max}"),
        ));
    }
    if buffer.len() < total {
        return Ok(None);
    }
    if buffer[total - 1] != constants::FRAME_END {
        return Err(Refusal::new(
            ReplyCode::FrameError,
            "frame does not end with frame-end (0xCE)",
        ));
    }
    let payload = &buffer[FRAME_HEADER_BYTES..total - 1];
    let nesting_within_limit = match kind {
        constants::FRAME_METHOD => method_within_limit(payload),
        constants::FRAME_HEADER => header_within_limit(payload),
        _ => true,
    };
    // Checked before parsing: the parser recurses once per level.
    if !nesting_within_limit {
        return Err(cannot_decode(kind, payload));
    }
    match parse_frame(&buffer[..total]) {
        Ok((&[], frame)) => Ok(Some((frame, total))),
        Ok(_) | Err(_) => Err(cannot_decode(kind, payload)),
    }
}

/// The prefetch_size of a complete basic.qos method frame, read from its
/// bytes (amq-protocol's parser skips the field); 0 for any other frame.
#[must_use]
pub fn qos_prefetch_size(frame: &[u8]) -> u32 {
    match frame {
        [constants::FRAME_METHOD, _, _, _, _, _, _, 0, 60, 0, 10, a, b, c, d, ..] => {
            u32::from_be_bytes([*a, *b, *c, *d])
        }
        _ => 0,
    }
}

/// RabbitMQ's answer to a frame it cannot decode: 501 FRAME_ERROR, naming
/// the method when the frame is a method's.
fn cannot_decode(kind: u8, payload: &[u8]) -> Refusal {
    let mut refusal = Refusal::new(
        ReplyCode::FrameError,
        format!(
            "cannot decode a frame of type {kind} and {} bytes",
            payload.len()
        ),
    );
    if let (constants::FRAME_METHOD, [class_high, class_low, method_high, method_low, ..]) =
        (kind, payload)
    {
        refusal.cause = (
            u16::from_be_bytes([*class_high, *class_low]),
            u16::from_be_bytes([*method_high, *method_low]),
        );
    }
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_above_frame_max_is_a_frame_error_before_its_payload_arrives() {
        let header = [constants::FRAME_BODY, 0, 1, 0, 1, 0, 0];
        let refusal = next_frame(&header, 4096).expect_err("65536 bytes > 4096");
        assert_eq!(refusal.code, ReplyCode::FrameError);
    }

    #[test]
    fn a_bad_frame_end_is_a_frame_error() {
        let frame = [constants::FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0];
        let refusal = next_frame(&frame, 4096).expect_err("0 is not frame-end");
        assert_eq!(refusal.code, ReplyCode::FrameError);
    }

    #[test]
    fn prefetch_size_is_read_from_a_qos_frame_only() {
        let qos = [
            1, 0, 1, 0, 0, 0, 11, 0, 60, 0, 10, 0, 0, 4, 0, 0, 0, 0, 0xCE,
        ];
        assert_eq!(qos_prefetch_size(&qos), 1024);
        let (frame, _) = next_frame(&qos, 4096).expect("a frame").expect("complete");
        assert!(matches!(
            frame,
            AMQPFrame::Method(1, amq_protocol::protocol::AMQPClass::Basic(_))
        ));
        let mut consume = qos;
        consume[10] = 20;
        assert_eq!(qos_prefetch_size(&consume), 0);
    }

    #[test]
    fn an_incomplete_frame_waits() {
        let frame = [constants::FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0];
        assert_eq!(next_frame(&frame, 4096), Ok(None));
    }
}
