//! DescribeConfigs (API 32): a topic's configuration as Kafka names it,
//! from the core's `TopicConfig` (`StreamCommand::DescribeTopic`), and the
//! broker's few settings from the listener's own. Enough for admin clients
//! (`kafka-python`'s and confluent-kafka's `describe_configs`, `kcat`).

use super::apis::{Answer, Dispatch};
use super::Context;
use brokerlab_core::stream::{StreamCommand, StreamError, TopicConfig};
use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

/// Kafka's resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Kafka's `ConfigSource`: set on the topic, or the broker's default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;
/// Kafka's `ConfigType`.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;
/// INVALID_REQUEST, for a resource type not served.
const INVALID_REQUEST: i16 = 42;

/// One configuration entry: its name, value, type, and whether it is the default.
struct Entry {
    name: &'static str,
    value: String,
    kind: i8,
    default: bool,
}

/// What a DescribeConfigs asks: topics go to the core (one command each,
/// answered into `parts`), the broker is answered here.
pub fn describe_configs(
    correlation_id: i32,
    version: i16,
    request: DescribeConfigsRequest,
    context: &Context,
) -> Dispatch {
    let mut response = DescribeConfigsResponse::default();
    let mut commands = Vec::new();
    let mut parts = Vec::new();
    let mut keys = Vec::new();
    for (index, resource) in request.resources.into_iter().enumerate() {
        let wanted: Option<Vec<String>> = (resource.configuration_keys)
            .map(|names| names.iter().map(ToString::to_string).collect());
        let mut result = DescribeConfigsResult::default();
        result.resource_type = resource.resource_type;
        result.resource_name = resource.resource_name.clone();
        result.error_message = None;
        match resource.resource_type {
            TOPIC => {
                commands.push(StreamCommand::DescribeTopic {
                    topic: resource.resource_name.to_string(),
                });
                parts.push(index);
            }
            BROKER => result.configs = entries(broker(context), wanted.as_deref(), version),
            _ => {
                result.error_code = INVALID_REQUEST;
                result.error_message = Some(StrBytes::from_static_str("resource type not served"));
            }
        }
        keys.push(wanted);
        response.results.push(result);
    }
    let answer = Answer::DescribeConfigs {
        version,
        response,
        parts,
        keys,
    };
    Dispatch::asking(correlation_id, answer, commands)
}

/// Fills a topic's result from the core's answer.
pub fn fill(
    result: &mut DescribeConfigsResult,
    wanted: Option<&[String]>,
    version: i16,
    answer: Result<TopicConfig, StreamError>,
) {
    match answer {
        Ok(config) => result.configs = entries(topic(&config), wanted, version),
        Err(error) => {
            result.error_code = error.code();
            result.error_message = Some(StrBytes::from_string(error.to_string()));
        }
    }
}

/// A topic's settings under Kafka's names.
fn topic(config: &TopicConfig) -> Vec<Entry> {
    let defaults = TopicConfig::default();
    let millis = |value: Option<u64>| value.map_or_else(|| "-1".to_owned(), |v| v.to_string());
    vec![
        Entry {
            name: "cleanup.policy",
            value: "delete".to_owned(),
            kind: TYPE_LIST,
            default: true,
        },
        Entry {
            name: "retention.ms",
            value: millis(config.retention_ms),
            kind: TYPE_LONG,
            default: config.retention_ms == defaults.retention_ms,
        },
        Entry {
            name: "retention.bytes",
            value: millis(config.retention_bytes),
            kind: TYPE_LONG,
            default: config.retention_bytes == defaults.retention_bytes,
        },
        Entry {
            name: "segment.bytes",
            value: config.segment_bytes.to_string(),
            kind: TYPE_INT,
            default: config.segment_bytes == defaults.segment_bytes,
        },
        Entry {
            name: "max.message.bytes",
            value: config.max_message_bytes.to_string(),
            kind: TYPE_INT,
            default: config.max_message_bytes == defaults.max_message_bytes,
        },
    ]
}

/// The broker's settings that the listener has.
fn broker(context: &Context) -> Vec<Entry> {
    vec![
        Entry {
            name: "auto.create.topics.enable",
            value: context.auto_create_partitions.is_some().to_string(),
            kind: TYPE_BOOLEAN,
            default: context.auto_create_partitions.is_some(),
        },
        Entry {
            name: "num.partitions",
            value: context.default_partitions.to_string(),
            kind: TYPE_INT,
            default: context.default_partitions == super::DEFAULT_PARTITIONS,
        },
    ]
}

/// The entries asked for (all when `wanted` is `None`), encoded.
fn entries(
    all: Vec<Entry>,
    wanted: Option<&[String]>,
    version: i16,
) -> Vec<DescribeConfigsResourceResult> {
    all.into_iter()
        .filter(|entry| wanted.is_none_or(|names| names.iter().any(|name| name == entry.name)))
        .map(|entry| {
            let mut result = DescribeConfigsResourceResult::default();
            result.name = StrBytes::from_static_str(entry.name);
            result.value = Some(StrBytes::from_string(entry.value));
            result.read_only = false;
            result.config_source = if entry.default {
                SOURCE_DEFAULT
            } else {
                SOURCE_TOPIC
            };
            if version >= 3 {
                result.config_type = entry.kind;
                result.documentation = None;
            }
            result
        })
        .collect()
}

/// The configuration CreateTopics gives a topic, under Kafka's names: the
/// four it can set (`retention.ms`, `retention.bytes` with -1 for none,
/// `segment.bytes`, `max.message.bytes`) and `cleanup.policy=delete`. Any
/// other name, or a value that is not a number in range, is refused as
/// INVALID_CONFIG with the reason (the core checks the ranges it has).
pub fn from_create(configs: &[CreatableTopicConfig]) -> Result<TopicConfig, String> {
    let mut config = TopicConfig::default();
    for entry in configs {
        let name = entry.name.as_str();
        let value = entry.value.as_deref().unwrap_or("");
        let number = || {
            value
                .parse::<i64>()
                .map_err(|_| format!("Invalid value {value} for configuration {name}"))
        };
        let optional = |number: i64| match number {
            -1 => Ok(None),
            n => u64::try_from(n)
                .map(Some)
                .map_err(|_| format!("Invalid value {value} for configuration {name}")),
        };
        let positive = |number: i64| {
            u64::try_from(number)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("Invalid value {value} for configuration {name}"))
        };
        match name {
            "retention.ms" => config.retention_ms = optional(number()?)?,
            "retention.bytes" => config.retention_bytes = optional(number()?)?,
            "segment.bytes" => config.segment_bytes = positive(number()?)?,
            "max.message.bytes" => config.max_message_bytes = positive(number()?)?,
            "cleanup.policy" if value == "delete" => {}
            _ => return Err(format!("Topic configuration {name}={value} is not served")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &'static str, value: &'static str) -> CreatableTopicConfig {
        let mut entry = CreatableTopicConfig::default();
        entry.name = StrBytes::from_static_str(name);
        entry.value = Some(StrBytes::from_static_str(value));
        entry
    }

    #[test]
    fn create_topics_configs_set_the_topic_under_kafka_s_names() {
        let config = from_create(&[
            entry("retention.ms", "-1"),
            entry("retention.bytes", "1000000"),
            entry("segment.bytes", "16777216"),
            entry("max.message.bytes", "2000000"),
            entry("cleanup.policy", "delete"),
        ])
        .expect("served");
        assert_eq!(config.retention_ms, None, "-1: kept forever");
        assert_eq!(config.retention_bytes, Some(1_000_000));
        assert_eq!(config.segment_bytes, 16_777_216);
        assert_eq!(config.max_message_bytes, 2_000_000);
        assert_eq!(from_create(&[]), Ok(TopicConfig::default()));
    }

    #[test]
    fn a_config_not_served_or_out_of_range_is_refused_with_its_reason() {
        let refused = |name, value| from_create(&[entry(name, value)]).expect_err("refused");
        assert_eq!(
            refused("cleanup.policy", "compact"),
            "Topic configuration cleanup.policy=compact is not served"
        );
        assert_eq!(
            refused("min.insync.replicas", "2"),
            "Topic configuration min.insync.replicas=2 is not served"
        );
        assert_eq!(
            refused("retention.ms", "soon"),
            "Invalid value soon for configuration retention.ms"
        );
        assert_eq!(
            refused("segment.bytes", "0"),
            "Invalid value 0 for configuration segment.bytes"
        );
        assert_eq!(
            refused("retention.bytes", "-2"),
            "Invalid value -2 for configuration retention.bytes"
        );
    }
}
