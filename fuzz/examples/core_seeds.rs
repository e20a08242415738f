//! Makes seeds for the core_inputs target from recorded client conversations:
//! each recording's frames are cut and translated as the server translates
//! them (methods by `wire::inbound`, a publish from its method, header and
//! body frames), and written as the steps `brokerlab_fuzz::steps` decodes.
//!
//! `cargo run --no-default-features --example core_seeds -- OUT_DIR RECORDING...`
//! writes one seed per recording, and one (`recordings-interleaved`) with the
//! recordings as connections 1, 2, 3, ... taking turns, one command each
//! (and `recordings-interleaved-small-limits`, the same with the small limits
//! of the configuration byte on).

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{connection, AMQPClass};
use brokerlab_core::ChannelId;
use brokerlab_core::{Command, ConnectionId, Input, PublishProperties};
use brokerlab_fuzz::steps::{encode, Step};
use brokerlab_server::wire::fields::properties_from_amqp;
use brokerlab_server::wire::frames::{next_frame, qos_prefetch_size, PROTOCOL_HEADER};
use brokerlab_server::wire::inbound::{inbound, Inbound, PublishStart};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;

/// A recording's inputs, as connection `conn`.
fn inputs(data: &[u8], conn: ConnectionId) -> Vec<Step> {
    let mut buffer = data.strip_prefix(&PROTOCOL_HEADER).unwrap_or(data);
    let mut steps = Vec::new();
    let mut publish: Option<(PublishStart, PublishProperties, u64, Vec<u8>)> = None;
    let mut publishing_channel = 0;
    while let Ok(Some((frame, used))) = next_frame(buffer, u32::MAX) {
        let prefetch_size = qos_prefetch_size(&buffer[..used]);
        buffer = &buffer[used..];
        match frame {
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Open(_))) => {
                steps.push(Step::Input(Input::Connect {
                    conn,
                    user: "guest".into(),
                    vhost: "/".into(),
                    channel_max: u16::MAX,
                }));
            }
            AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(_))) => {
                steps.push(Step::Input(Input::Disconnect { conn }));
            }
            AMQPFrame::Method(channel, method) if channel != 0 => {
                match inbound(method, prefetch_size) {
                    Ok(Inbound::Command { command, .. }) => {
                        steps.push(Step::Input(Input::Command {
                            conn,
                            channel: ChannelId(channel),
                            command,
                        }))
                    }
                    Ok(Inbound::Publish(start)) => {
                        publishing_channel = channel;
                        publish = Some((start, PublishProperties::Repeated, 0, Vec::new()));
                    }
                    Err(_) => {}
                }
            }
            AMQPFrame::Header(_, header) => {
                if let Some((_, properties, size, _)) = &mut publish {
                    *properties = PublishProperties::Given(Arc::new(properties_from_amqp(
                        &header.properties,
                    )));
                    *size = header.body_size;
                }
            }
            AMQPFrame::Body(_, data) => {
                if let Some((_, _, _, body)) = &mut publish {
                    body.extend_from_slice(&data);
                }
            }
            _ => {}
        }
        if let Some((start, properties, size, body)) = &publish {
            if body.len() as u64 >= *size && !matches!(properties, PublishProperties::Repeated) {
                let command = Command::BasicPublish {
                    exchange: start.exchange.as_str().into(),
                    routing_key: start.routing_key.as_str().into(),
                    mandatory: start.mandatory,
                    immediate: start.immediate,
                    properties: properties.clone(),
                    body: Bytes::from(body.clone()),
                };
                steps.push(Step::Input(Input::Command {
                    conn,
                    channel: ChannelId(publishing_channel),
                    command,
                }));
                steps.push(Step::Sync(255));
                publish = None;
            }
        }
    }
    steps
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, recordings) = args.split_first().expect("OUT_DIR RECORDING...");
    let mut all = Vec::new();
    for (index, recording) in recordings.iter().enumerate() {
        let data = std::fs::read(recording).expect("a readable recording");
        let conn = ConnectionId(index as u64 % 3 + 1);
        let mut steps = inputs(&data, conn);
        steps.push(Step::Tick(100));
        steps.push(Step::Deadline);
        let name = Path::new(recording)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a name");
        std::fs::write(Path::new(out).join(name), encode(0, &steps)).expect("written");
        all.push(inputs(&data, conn));
    }
    let mut interleaved = Vec::new();
    let longest = all.iter().map(Vec::len).max().unwrap_or(0);
    for turn in 0..longest {
        for steps in &all {
            if let Some(step) = steps.get(turn) {
                interleaved.push(step.clone());
            }
        }
    }
    interleaved.push(Step::Deadline);
    let path = Path::new(out).join("recordings-interleaved");
    std::fs::write(path, encode(0, &interleaved)).expect("written");
    // The same with every small limit of the configuration byte on.
    let path = Path::new(out).join("recordings-interleaved-small-limits");
    std::fs::write(path, encode(0b1111, &interleaved)).expect("written");
}
