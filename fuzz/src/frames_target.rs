//! The frame reader and method decoder: bytes as a client sends them after
//! the protocol header, cut into frames as a connection cuts them, each
//! frame then translated as the connection translates it.

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{connection, AMQPClass};
use brokerlab_core::{Command, FieldTable, FieldValue};
use brokerlab_server::wire::fields::{properties_from_amqp, properties_to_amqp, table_from_amqp};
use brokerlab_server::wire::frames::{next_frame, qos_prefetch_size, PROTOCOL_HEADER};
use brokerlab_server::wire::inbound::{inbound, Inbound};
use brokerlab_server::wire::nesting::FIELD_NESTING_MAX;
use brokerlab_server::wire::outbound::put_frame;
use brokerlab_server::FRAME_MAX_BYTES;

/// AMQP's smallest frame_max, the server's limit until tune-ok.
const FRAME_MIN_BYTES: u32 = 4096;

/// Cuts `data` (a leading protocol header skipped) into frames with the
/// frame_max a connection would have, and translates each one.
pub fn frames(data: &[u8]) {
    let mut buffer = data.strip_prefix(&PROTOCOL_HEADER).unwrap_or(data);
    let mut frame_max = FRAME_MIN_BYTES;
    loop {
        match next_frame(buffer, frame_max) {
            // An incomplete frame waits for bytes that will not come; a
            // refusal closes the connection.
            Ok(None) | Err(_) => return,
            Ok(Some((frame, used))) => {
                assert!(
                    used >= 8 && used <= buffer.len() && used <= frame_max as usize,
                    "a frame takes 8 bytes or more, within the buffer and frame_max"
                );
                let prefetch_size = qos_prefetch_size(&buffer[..used]);
                buffer = &buffer[used..];
                frame_max = on_frame(frame, frame_max, prefetch_size);
            }
        }
    }
}

/// What a connection makes of one frame (`prefetch_size` read from its
/// bytes when it is basic.qos); returns the frame_max from here on.
fn on_frame(frame: AMQPFrame, frame_max: u32, prefetch_size: u32) -> u32 {
    match frame {
        AMQPFrame::Method(0, AMQPClass::Connection(method)) => match method {
            connection::AMQPMethod::StartOk(start_ok) => {
                let properties = table_from_amqp(&start_ok.client_properties);
                assert_nesting_within_limit(&properties);
                frame_max
            }
            // The handshake's own rule (tune-ok within 4096..=131072).
            connection::AMQPMethod::TuneOk(tune_ok)
                if (FRAME_MIN_BYTES..=FRAME_MAX_BYTES).contains(&tune_ok.frame_max) =>
            {
                tune_ok.frame_max
            }
            _ => frame_max,
        },
        AMQPFrame::Method(0, _) => frame_max,
        AMQPFrame::Method(_, method) => {
            match inbound(method, prefetch_size) {
                Ok(Inbound::Command { command, .. }) => {
                    if let Some(arguments) = arguments(&command) {
                        assert_nesting_within_limit(arguments);
                    }
                }
                Ok(Inbound::Publish(_)) => {}
                Err(refusal) => assert!(
                    refusal.code.closes_connection(),
                    "a method refused before the core is a hard error: {refusal:?}"
                ),
            }
            frame_max
        }
        AMQPFrame::Header(channel, header) => {
            content_header_round_trips(channel, &header);
            frame_max
        }
        AMQPFrame::Body(..)
        | AMQPFrame::Heartbeat
        | AMQPFrame::InvalidHeartbeat(_)
        | AMQPFrame::ProtocolHeader(_) => frame_max,
    }
}

/// The field table a command carries, if any.
fn arguments(command: &Command) -> Option<&FieldTable> {
    match command {
        Command::ExchangeDeclare { arguments, .. }
        | Command::ExchangeBind { arguments, .. }
        | Command::ExchangeUnbind { arguments, .. }
        | Command::QueueDeclare { arguments, .. }
        | Command::QueueBind { arguments, .. }
        | Command::QueueUnbind { arguments, .. }
        | Command::BasicConsume { arguments, .. } => Some(arguments),
        _ => None,
    }
}

/// How deeply a table nests, itself counting as one (as `wire::nesting` counts).
fn table_depth(table: &FieldTable) -> usize {
    1 + table.values().map(value_depth).max().unwrap_or(0)
}

fn value_depth(value: &FieldValue) -> usize {
    match value {
        FieldValue::Table(table) => table_depth(table),
        FieldValue::Array(values) => 1 + values.iter().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Rule: no field table the reader lets through nests deeper than
/// `FIELD_NESTING_MAX` (the bound that keeps the parser's recursion short).
fn assert_nesting_within_limit(table: &FieldTable) {
    let depth = table_depth(table);
    assert!(
        depth <= FIELD_NESTING_MAX,
        "a field table nesting {depth} deep got past the reader (limit {FIELD_NESTING_MAX})"
    );
}

/// Rule: the properties a consumer gets are the ones the publisher sent.
/// The server keeps a content header's properties as the core's, and writes
/// them back as AMQP in every delivery; that delivery's header must read back
/// as the same properties.
fn content_header_round_trips(channel: u16, header: &AMQPContentHeader) {
    let properties = properties_from_amqp(&header.properties);
    if let Some(headers) = &properties.headers {
        assert_nesting_within_limit(headers);
    }
    let delivered = AMQPFrame::Header(
        channel,
        AMQPContentHeader {
            class_id: header.class_id,
            body_size: header.body_size,
            properties: properties_to_amqp(&properties),
        },
    );
    let mut encoded = Vec::new();
    put_frame(&mut encoded, &delivered).expect("a delivery's content header encodes");
    let Ok(Some((AMQPFrame::Header(_, read_back), used))) = next_frame(&encoded, u32::MAX) else {
        panic!("a delivery's content header reads back as one ({encoded:?})");
    };
    assert_eq!(used, encoded.len(), "a content header is one frame");
    assert_eq!(
        properties_from_amqp(&read_back.properties),
        properties,
        "a delivery's properties are the published ones"
    );
}
