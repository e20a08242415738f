//! A request of the JSON protocol decoded into the core's [`SqsCommand`]:
//! the action from `X-Amz-Target`, the parameters from the JSON body, the
//! queue's name from the last segment of its URL. Only the shape is
//! checked here (a parameter present, of the right JSON type, a message
//! attribute with a type and a value); every rule on the values is the
//! core's.

use super::error::ApiError;
use base64::Engine;
use brokerlab_core::sqs::{AttributeValue, MessageAttribute, SendEntry};
use brokerlab_core::SqsCommand;
use bytes::Bytes;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The actions served, by their `X-Amz-Target` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    CreateQueue,
    GetQueueUrl,
    ListQueues,
    DeleteQueue,
    GetQueueAttributes,
    SetQueueAttributes,
    PurgeQueue,
    SendMessage,
    SendMessageBatch,
    ReceiveMessage,
    DeleteMessage,
    DeleteMessageBatch,
    ChangeMessageVisibility,
    ChangeMessageVisibilityBatch,
    /// ListQueueTags, TagQueue, UntagQueue: the queue must exist; tags are
    /// not kept, so the list is always empty.
    Tags,
}

impl Action {
    /// The action an `X-Amz-Target` header names (`AmazonSQS.<Action>`).
    pub(super) fn from_target(target: &str) -> Option<Action> {
        let name = target.strip_prefix("AmazonSQS.")?;
        Some(match name {
            "CreateQueue" => Action::CreateQueue,
            "GetQueueUrl" => Action::GetQueueUrl,
            "ListQueues" => Action::ListQueues,
            "DeleteQueue" => Action::DeleteQueue,
            "GetQueueAttributes" => Action::GetQueueAttributes,
            "SetQueueAttributes" => Action::SetQueueAttributes,
            "PurgeQueue" => Action::PurgeQueue,
            "SendMessage" => Action::SendMessage,
            "SendMessageBatch" => Action::SendMessageBatch,
            "ReceiveMessage" => Action::ReceiveMessage,
            "DeleteMessage" => Action::DeleteMessage,
            "DeleteMessageBatch" => Action::DeleteMessageBatch,
            "ChangeMessageVisibility" => Action::ChangeMessageVisibility,
            "ChangeMessageVisibilityBatch" => Action::ChangeMessageVisibilityBatch,
            "ListQueueTags" | "TagQueue" | "UntagQueue" => Action::Tags,
            _ => return None,
        })
    }
}

/// Every parameter of every action served (and of a batch's entries),
/// by its JSON name; each action reads its own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Params {
    queue_name: Option<String>,
    queue_url: Option<String>,
    queue_name_prefix: Option<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    pub(super) attribute_names: Option<Vec<String>>,
    pub(super) message_system_attribute_names: Option<Vec<String>>,
    pub(super) message_attribute_names: Option<Vec<String>>,
    id: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<u32>,
    message_attributes: Option<BTreeMap<String, AttributeParam>>,
    message_group_id: Option<String>,
    message_deduplication_id: Option<String>,
    max_number_of_messages: Option<u32>,
    visibility_timeout: Option<u32>,
    wait_time_seconds: Option<u32>,
    receipt_handle: Option<String>,
    entries: Option<Vec<Params>>,
}

/// A message attribute as the JSON protocol carries it (binary values in base64).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeParam {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
}

impl Params {
    /// Parses a request body; an empty body has no parameters.
    pub(super) fn parse(body: &[u8]) -> Result<Params, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::default());
        }
        serde_json::from_slice(body).map_err(|error| ApiError::serialization(&error.to_string()))
    }

    /// The queue named by `QueueUrl`: its last path segment.
    pub(super) fn queue(&self) -> Result<String, ApiError> {
        let url = required(self.queue_url.as_ref(), "QueueUrl")?;
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if name.is_empty() {
            return Err(ApiError::missing("QueueUrl"));
        }
        Ok(name.to_owned())
    }

    fn entries(&self) -> Result<&[Params], ApiError> {
        Ok(required(self.entries.as_ref(), "Entries")?.as_slice())
    }
}

/// The core command for `action` with `params`.
pub(super) fn command(action: Action, params: &Params) -> Result<SqsCommand, ApiError> {
    let attributes = || {
        params
            .attributes
            .iter()
            .flatten()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    };
    Ok(match action {
        Action::CreateQueue => SqsCommand::CreateQueue {
            queue: required(params.queue_name.as_ref(), "QueueName")?.clone(),
            attributes: attributes(),
        },
        Action::GetQueueUrl => SqsCommand::GetQueueUrl {
            queue: required(params.queue_name.as_ref(), "QueueName")?.clone(),
        },
        Action::Tags => SqsCommand::GetQueueUrl {
            queue: params.queue()?,
        },
        Action::ListQueues => SqsCommand::ListQueues {
            prefix: params.queue_name_prefix.clone().unwrap_or_default(),
            max_results: params.max_results,
            after: params
                .next_token
                .as_deref()
                .map(next_token_name)
                .transpose()?,
        },
        Action::DeleteQueue => SqsCommand::DeleteQueue {
            queue: params.queue()?,
        },
        Action::GetQueueAttributes => SqsCommand::GetQueueAttributes {
            queue: params.queue()?,
            names: params.attribute_names.clone().unwrap_or_default(),
        },
        Action::SetQueueAttributes => SqsCommand::SetQueueAttributes {
            queue: params.queue()?,
            attributes: attributes(),
        },
        Action::PurgeQueue => SqsCommand::PurgeQueue {
            queue: params.queue()?,
        },
        _ => message_command(action, params)?,
    })
}

/// The core command of an action on messages.
fn message_command(action: Action, params: &Params) -> Result<SqsCommand, ApiError> {
    Ok(match action {
        Action::SendMessage => SqsCommand::Send {
            queue: params.queue()?,
            entries: vec![send_entry(params, String::new())?],
            batch: false,
        },
        Action::SendMessageBatch => SqsCommand::Send {
            queue: params.queue()?,
            entries: params
                .entries()?
                .iter()
                .map(|entry| send_entry(entry, entry.id.clone().unwrap_or_default()))
                .collect::<Result<_, _>>()?,
            batch: true,
        },
        Action::ReceiveMessage => SqsCommand::Receive {
            queue: params.queue()?,
            max_messages: params.max_number_of_messages.unwrap_or(1),
            visibility_timeout: params.visibility_timeout,
            wait_time_seconds: params.wait_time_seconds,
        },
        Action::DeleteMessage => SqsCommand::Delete {
            queue: params.queue()?,
            entries: vec![(String::new(), receipt_handle(params)?)],
            batch: false,
        },
        Action::DeleteMessageBatch => SqsCommand::Delete {
            queue: params.queue()?,
            entries: params
                .entries()?
                .iter()
                .map(|entry| Ok((entry.id.clone().unwrap_or_default(), receipt_handle(entry)?)))
                .collect::<Result<_, ApiError>>()?,
            batch: true,
        },
        Action::ChangeMessageVisibility => SqsCommand::ChangeVisibility {
            queue: params.queue()?,
            entries: vec![visibility_entry(params, String::new())?],
            batch: false,
        },
        Action::ChangeMessageVisibilityBatch => SqsCommand::ChangeVisibility {
            queue: params.queue()?,
            entries: params
                .entries()?
                .iter()
                .map(|entry| visibility_entry(entry, entry.id.clone().unwrap_or_default()))
                .collect::<Result<_, _>>()?,
            batch: true,
        },
        Action::CreateQueue
        | Action::GetQueueUrl
        | Action::Tags
        | Action::ListQueues
        | Action::DeleteQueue
        | Action::GetQueueAttributes
        | Action::SetQueueAttributes
        | Action::PurgeQueue => unreachable!("an action on queues: `command` decodes it"),
    })
}

fn required<'a, T>(value: Option<&'a T>, name: &str) -> Result<&'a T, ApiError> {
    value.ok_or_else(|| ApiError::missing(name))
}

fn receipt_handle(params: &Params) -> Result<String, ApiError> {
    Ok(required(params.receipt_handle.as_ref(), "ReceiptHandle")?.clone())
}

fn visibility_entry(params: &Params, id: String) -> Result<(String, String, u32), ApiError> {
    let timeout = *required(params.visibility_timeout.as_ref(), "VisibilityTimeout")?;
    Ok((id, receipt_handle(params)?, timeout))
}

fn send_entry(params: &Params, id: String) -> Result<SendEntry, ApiError> {
    let body = required(params.message_body.as_ref(), "MessageBody")?;
    let attributes = params
        .message_attributes
        .iter()
        .flatten()
        .map(|(name, attribute)| message_attribute(name, attribute))
        .collect::<Result<_, _>>()?;
    Ok(SendEntry {
        id,
        body: Bytes::copy_from_slice(body.as_bytes()),
        delay_seconds: params.delay_seconds,
        attributes,
        group_id: params.message_group_id.clone(),
        deduplication_id: params.message_deduplication_id.clone(),
    })
}

/// A message attribute with a data type of `String`, `Number` or `Binary`
/// (each with an optional `.label`) and the value that type carries, as
/// SQS requires of every one.
fn message_attribute(name: &str, attribute: &AttributeParam) -> Result<MessageAttribute, ApiError> {
    let data_type = attribute.data_type.as_deref().unwrap_or("");
    if data_type.is_empty() {
        return Err(ApiError::invalid_parameter(format!(
            "The message attribute '{name}' must contain non-empty message attribute type."
        )));
    }
    let base = data_type.split('.').next().unwrap_or("");
    let value = match (base, &attribute.string_value, &attribute.binary_value) {
        ("String" | "Number", Some(text), _) if !text.is_empty() => AttributeValue::String(text.clone()),
        ("Binary", _, Some(encoded)) if !encoded.is_empty() => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| ApiError::serialization("BinaryValue is not valid base64"))?;
            AttributeValue::Binary(Bytes::from(bytes))
        }
        ("String" | "Number" | "Binary", _, _) => {
            return Err(ApiError::invalid_parameter(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )))
        }
        _ => {
            return Err(ApiError::invalid_parameter(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
            )))
        }
    };
    Ok(MessageAttribute {
        name: name.to_owned(),
        data_type: data_type.to_owned(),
        value,
    })
}

/// The `NextToken` of a page that ends at queue `name`: opaque to the
/// client (base64 of the name), so that no one builds one by hand.
pub(super) fn next_token(name: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(name)
}

/// The queue name a `NextToken` holds; one this server did not hand out is
/// InvalidParameterValue.
fn next_token_name(token: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "Value {token} for parameter NextToken is invalid. Reason: the token was not \
                 handed out by this server."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_name_is_the_last_segment_of_the_queue_url() {
        let params = Params::parse(br#"{"QueueUrl":"http://127.0.0.1:9324/000000000000/orders"}"#)
            .expect("valid JSON");
        assert_eq!(params.queue().expect("a queue"), "orders");
    }

    #[test]
    fn a_send_without_a_body_is_missing_message_body() {
        let params = Params::parse(br#"{"QueueUrl":"http://h/0/q"}"#).expect("valid JSON");
        let error = command(Action::SendMessage, &params).expect_err("no body");
        assert_eq!(error.type_name, "MissingParameter");
    }

    #[test]
    fn a_parameter_of_the_wrong_json_type_is_a_serialization_error() {
        let error = Params::parse(br#"{"MaxNumberOfMessages":"ten"}"#).expect_err("a string");
        assert_eq!(error.type_name, "SerializationException");
    }

    #[test]
    fn a_message_attribute_of_an_unknown_type_is_an_invalid_parameter() {
        let params = Params::parse(
            br#"{"QueueUrl":"q","MessageBody":"b","MessageAttributes":{"a":{"DataType":"Blob","StringValue":"x"}}}"#,
        )
        .expect("valid JSON");
        let error = command(Action::SendMessage, &params).expect_err("no such type");
        assert_eq!(error.type_name, "InvalidParameterValue");
    }
}
