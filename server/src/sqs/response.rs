//! The core's [`SqsReply`] as AWS shapes each action's JSON answer, with
//! the MD5 digests AWS's SDKs check: of a message's body, and of its
//! message attributes by AWS's documented encoding.

use super::error::ApiError;
use super::request::{Action, Params};
use base64::Engine;
use brokerlab_core::sqs::{AttributeValue, MessageAttribute, Received, SendEntry};
use brokerlab_core::{SqsError, SqsReply};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

/// The account in queue URLs, and the `SenderId` of every message (the
/// core keeps no sender).
pub(super) const ACCOUNT: &str = "000000000000";

/// What an answer needs beyond the core's reply.
#[derive(Debug)]
pub(super) struct Shape {
    pub(super) action: Action,
    /// The base of queue URLs: `http://<host>`.
    pub(super) base_url: String,
    /// A send's digests, per entry id: of the body, and of the attributes
    /// when there are any.
    pub(super) sent: Vec<(String, String, Option<String>)>,
    /// A receive's choice of system attributes (`All` or names).
    pub(super) system_attributes: Vec<String>,
    /// A receive's choice of message attributes (`All`, `.*`, `prefix.*` or names).
    pub(super) message_attributes: Vec<String>,
}

impl Shape {
    /// The shape of `action`'s answer to `params`, for a request to `host`.
    pub(super) fn new(action: Action, host: &str, params: &Params, entries: &[SendEntry]) -> Shape {
        let mut system_attributes = params.attribute_names.clone().unwrap_or_default();
        system_attributes.extend(
            params
                .message_system_attribute_names
                .iter()
                .flatten()
                .cloned(),
        );
        Shape {
            action,
            base_url: format!("http://{host}"),
            sent: entries
                .iter()
                .map(|entry| {
                    let attributes =
                        (!entry.attributes.is_empty()).then(|| attributes_md5(&entry.attributes));
                    (entry.id.clone(), hex_md5(&entry.body), attributes)
                })
                .collect(),
            system_attributes,
            message_attributes: params.message_attribute_names.clone().unwrap_or_default(),
        }
    }

    /// The answer's JSON body, or the error it is.
    pub(super) fn answer(&self, reply: SqsReply) -> Result<Value, ApiError> {
        let batch = matches!(
            self.action,
            Action::SendMessageBatch
                | Action::DeleteMessageBatch
                | Action::ChangeMessageVisibilityBatch
        );
        Ok(match reply {
            SqsReply::Error(error) => return Err(error.into()),
            SqsReply::Queue(_) if self.action == Action::Tags => json!({}),
            SqsReply::Queue(name) => json!({ "QueueUrl": self.queue_url(&name) }),
            SqsReply::Queues { names, next } => {
                let urls: Vec<String> = names.iter().map(|name| self.queue_url(name)).collect();
                let mut page = optional("QueueUrls", !urls.is_empty(), json!(urls));
                if let (Some(next), Value::Object(page)) = (next, &mut page) {
                    page.insert(
                        "NextToken".to_owned(),
                        json!(super::request::next_token(&next)),
                    );
                }
                page
            }
            SqsReply::Done => json!({}),
            SqsReply::Attributes(attributes) => {
                let map: Map<String, Value> = attributes
                    .into_iter()
                    .map(|(name, value)| (name, Value::String(value)))
                    .collect();
                optional("Attributes", !map.is_empty(), Value::Object(map))
            }
            SqsReply::Sent(results) if batch => self.sent_batch(results),
            SqsReply::Sent(results) => {
                // The core answers a send with one result per entry, and
                // SendMessage has one entry.
                let (_, result) = results.into_iter().next().expect("one entry's result");
                let digests = self.sent.first().expect("one entry's digests");
                sent_entry(None, &result?, digests)
            }
            SqsReply::Settled(results) if batch => settled_batch(results),
            SqsReply::Settled(results) => {
                for (_, result) in results {
                    result?;
                }
                json!({})
            }
            SqsReply::Received(messages) => {
                let messages: Vec<Value> = messages
                    .iter()
                    .map(|message| self.received(message))
                    .collect();
                optional("Messages", !messages.is_empty(), json!(messages))
            }
        })
    }

    fn queue_url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.base_url)
    }

    fn sent_batch(
        &self,
        results: Vec<(String, Result<brokerlab_core::sqs::Sent, SqsError>)>,
    ) -> Value {
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        for (id, result) in results {
            match result {
                Ok(sent) => {
                    let digests = self.sent.iter().find(|(entry, _, _)| *entry == id);
                    if let Some(digests) = digests {
                        successful.push(sent_entry(Some(&id), &sent, digests));
                    }
                }
                Err(error) => failed.push(failed_entry(&id, &error)),
            }
        }
        json!({ "Successful": successful, "Failed": failed })
    }

    fn received(&self, message: &Received) -> Value {
        let body = String::from_utf8_lossy(&message.body);
        let mut fields = Map::new();
        fields.insert("MessageId".into(), json!(message.message_id));
        fields.insert("ReceiptHandle".into(), json!(message.receipt_handle));
        fields.insert("MD5OfBody".into(), json!(hex_md5(body.as_bytes())));
        fields.insert("Body".into(), json!(body));
        let system = self.system_attributes_of(message);
        if !system.is_empty() {
            fields.insert("Attributes".into(), Value::Object(system));
        }
        let chosen: Vec<MessageAttribute> = message
            .attributes
            .iter()
            .filter(|attribute| chosen(&self.message_attributes, &attribute.name))
            .cloned()
            .collect();
        if !chosen.is_empty() {
            fields.insert(
                "MD5OfMessageAttributes".into(),
                json!(attributes_md5(&chosen)),
            );
            let attributes: Map<String, Value> = chosen
                .iter()
                .map(|attribute| (attribute.name.clone(), attribute_json(attribute)))
                .collect();
            fields.insert("MessageAttributes".into(), Value::Object(attributes));
        }
        Value::Object(fields)
    }

    fn system_attributes_of(&self, message: &Received) -> Map<String, Value> {
        let all = [
            ("SenderId", Some(ACCOUNT.to_owned())),
            ("SentTimestamp", Some(message.sent_timestamp_ms.to_string())),
            (
                "ApproximateReceiveCount",
                Some(message.receive_count.to_string()),
            ),
            (
                "ApproximateFirstReceiveTimestamp",
                Some(message.first_receive_timestamp_ms.to_string()),
            ),
            ("MessageGroupId", message.group_id.clone()),
            ("MessageDeduplicationId", message.deduplication_id.clone()),
            ("SequenceNumber", message.sequence_number.clone()),
        ];
        let every = self.system_attributes.iter().any(|name| name == "All");
        all.into_iter()
            .filter(|(name, _)| every || self.system_attributes.iter().any(|wanted| wanted == name))
            .filter_map(|(name, value)| Some((name.to_owned(), Value::String(value?))))
            .collect()
    }
}

fn optional(name: &str, present: bool, value: Value) -> Value {
    let mut object = Map::new();
    if present {
        object.insert(name.to_owned(), value);
    }
    Value::Object(object)
}

fn sent_entry(
    id: Option<&str>,
    sent: &brokerlab_core::sqs::Sent,
    digests: &(String, String, Option<String>),
) -> Value {
    let mut fields = Map::new();
    if let Some(id) = id {
        fields.insert("Id".into(), json!(id));
    }
    fields.insert("MessageId".into(), json!(sent.message_id));
    fields.insert("MD5OfMessageBody".into(), json!(digests.1));
    if let Some(md5) = &digests.2 {
        fields.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    if let Some(sequence_number) = &sent.sequence_number {
        fields.insert("SequenceNumber".into(), json!(sequence_number));
    }
    Value::Object(fields)
}

fn failed_entry(id: &str, error: &SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": true,
        "Code": error.kind.code(),
        "Message": error.message,
    })
}

fn settled_batch(results: Vec<(String, Result<(), SqsError>)>) -> Value {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in results {
        match result {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(error) => failed.push(failed_entry(&id, &error)),
        }
    }
    json!({ "Successful": successful, "Failed": failed })
}

/// Whether a receive's `MessageAttributeNames` choose attribute `name`:
/// `All` or `.*` choose every one, `prefix.*` those under the prefix.
fn chosen(names: &[String], name: &str) -> bool {
    names.iter().any(|wanted| match wanted.as_str() {
        "All" | ".*" => true,
        pattern => match pattern.strip_suffix(".*") {
            Some(prefix) => name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => pattern == name,
        },
    })
}

fn attribute_json(attribute: &MessageAttribute) -> Value {
    match &attribute.value {
        AttributeValue::String(text) => {
            json!({ "DataType": attribute.data_type, "StringValue": text })
        }
        AttributeValue::Binary(bytes) => json!({
            "DataType": attribute.data_type,
            "BinaryValue": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    }
}

/// The hex MD5 of `bytes`.
fn hex_md5(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// `MD5OfMessageAttributes` by AWS's algorithm: the attributes in name
/// order, each as its name, data type (each a 4-byte big-endian length
/// and the bytes), a transport byte (1 string, 2 binary) and its value
/// (length and bytes).
pub(super) fn attributes_md5(attributes: &[MessageAttribute]) -> String {
    let mut sorted: Vec<&MessageAttribute> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut md5 = Md5::new();
    for attribute in sorted {
        length_prefixed(&mut md5, attribute.name.as_bytes());
        length_prefixed(&mut md5, attribute.data_type.as_bytes());
        match &attribute.value {
            AttributeValue::String(text) => {
                md5.update([1]);
                length_prefixed(&mut md5, text.as_bytes());
            }
            AttributeValue::Binary(bytes) => {
                md5.update([2]);
                length_prefixed(&mut md5, bytes);
            }
        }
    }
    hex(&md5.finalize())
}

fn length_prefixed(md5: &mut Md5, bytes: &[u8]) {
    // A message is at most 256 KiB, far below 4 GiB.
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    md5.update(length.to_be_bytes());
    md5.update(bytes);
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(name: &str, data_type: &str, value: &str) -> MessageAttribute {
        MessageAttribute {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            value: AttributeValue::String(value.to_owned()),
        }
    }

    /// The digest of AWS's developer guide's example attribute.
    #[test]
    fn attributes_md5_of_one_string_attribute_is_aws_digest() {
        let attributes = [string("SellerName", "String", "Example Store")];
        assert_eq!(
            attributes_md5(&attributes),
            "cd28f3b68aeee4b2eac9c66f2f694b58"
        );
    }

    /// A digest that aws-sdk-go-v2, which checks it, accepts.
    #[test]
    fn attributes_md5_sorts_attributes_by_name() {
        let attributes = [
            string("ordinal", "Number", "1"),
            string("category", "String", "test"),
        ];
        assert_eq!(
            attributes_md5(&attributes),
            "d21ae90c49061e927f57df5f5d72be1f"
        );
    }

    #[test]
    fn message_attribute_names_choose_all_a_prefix_or_a_name() {
        let all = ["All".to_owned()];
        let prefix = ["order.*".to_owned()];
        let name = ["order".to_owned()];
        assert!(chosen(&all, "anything"));
        assert!(chosen(&prefix, "order.id"));
        assert!(!chosen(&prefix, "orders.id"));
        assert!(!chosen(&prefix, "order"));
        assert!(chosen(&name, "order"));
        assert!(!chosen(&name, "order.id"));
    }
}
