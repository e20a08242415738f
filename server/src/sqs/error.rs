//! Errors as the JSON protocol answers them: an HTTP status, a JSON body
//! `{"__type": "<namespace>#<name>", "message": ...}` and, for SQS's own
//! errors, the query protocol's code in `x-amzn-query-error`, from which
//! AWS's SDKs take the error code they report.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use brokerlab_core::{SqsError, SqsErrorKind};

/// The `__type` namespace of SQS's errors.
const SQS_NAMESPACE: &str = "com.amazonaws.sqs";
/// The `__type` namespace of errors of the protocol itself (AWS's service framework's).
const PROTOCOL_NAMESPACE: &str = "com.amazon.coral.service";

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) namespace: &'static str,
    /// The name in `__type`.
    pub(super) type_name: &'static str,
    /// The code in `x-amzn-query-error`, when there is one.
    pub(super) query_code: Option<&'static str>,
    pub(super) message: String,
}

impl ApiError {
    fn sender(type_name: &'static str, query_code: &'static str, message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            namespace: SQS_NAMESPACE,
            type_name,
            query_code: Some(query_code),
            message,
        }
    }

    /// A required parameter is missing.
    pub(super) fn missing(parameter: &str) -> ApiError {
        ApiError::from(SqsError::new(
            SqsErrorKind::MissingParameter,
            format!("The request must contain the parameter {parameter}."),
        ))
    }

    /// A parameter's value is malformed.
    pub(super) fn invalid_parameter(message: String) -> ApiError {
        ApiError::from(SqsError::new(SqsErrorKind::InvalidParameterValue, message))
    }

    /// The body is not JSON, or a parameter is not of its JSON type.
    pub(super) fn serialization(why: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            namespace: PROTOCOL_NAMESPACE,
            type_name: "SerializationException",
            query_code: None,
            message: format!("The request body could not be read: {why}"),
        }
    }

    /// The body could not be read (too large, or cut short).
    pub(super) fn unreadable(status: StatusCode, why: &str) -> ApiError {
        ApiError {
            status,
            namespace: PROTOCOL_NAMESPACE,
            type_name: if status == StatusCode::PAYLOAD_TOO_LARGE {
                "RequestEntityTooLarge"
            } else {
                "SerializationException"
            },
            query_code: None,
            message: why.to_owned(),
        }
    }

    /// `X-Amz-Target` names no action served, or is missing (a request of
    /// the query protocol, which older SDKs speak).
    pub(super) fn invalid_action(target: Option<&str>) -> ApiError {
        let message = match target {
            Some(target) => format!("The action or operation requested is invalid. Verify that the action is typed correctly: {target:?}."),
            None => "The request has no X-Amz-Target: only SQS's JSON protocol is served (X-Amz-Target: AmazonSQS.<Action>), not the query protocol.".to_owned(),
        };
        ApiError::sender("InvalidAction", "InvalidAction", message)
    }

    /// A refused signature or access key (403).
    pub(super) fn forbidden(type_name: &'static str, message: &str) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            namespace: SQS_NAMESPACE,
            type_name,
            query_code: Some(type_name),
            message: message.to_owned(),
        }
    }

    /// The broker stopped before answering.
    pub(super) fn unavailable() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            namespace: SQS_NAMESPACE,
            type_name: "ServiceUnavailable",
            query_code: Some("ServiceUnavailable"),
            message: "The broker is shutting down.".to_owned(),
        }
    }
}

impl From<SqsError> for ApiError {
    fn from(error: SqsError) -> ApiError {
        ApiError::sender(error.kind.code(), error.kind.query_code(), error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "__type": format!("{}#{}", self.namespace, self.type_name),
            "message": self.message,
        });
        let mut response = (self.status, super::json_body(&body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::CONTENT_TYPE),
        );
        if let Some(code) = self.query_code {
            // Every error of SQS's own is the sender's (the core's are about the request).
            if let Ok(value) = HeaderValue::from_str(&format!("{code};Sender")) {
                headers.insert("x-amzn-query-error", value);
            }
        }
        response
    }
}
