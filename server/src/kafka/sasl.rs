//! SASL/PLAIN on the Kafka listener, as Kafka's `SaslServerAuthenticator`
//! and `PlainSaslServer` run it, with the users of the AMQP listener.
//!
//! A client on loopback may skip SASL and is served anonymously (as
//! `guest` may log in over AMQP on loopback only), unless the server is
//! told otherwise (`--kafka-anonymous-loopback false`). Any other client
//! sends, before anything but ApiVersions, a SaslHandshake naming PLAIN and
//! then a SaslAuthenticate whose bytes are `authzid NUL user NUL password`.
//! What Kafka refuses, this refuses the same way:
//!
//! | the client sends | the answer |
//! |---|---|
//! | a request other than ApiVersions or SaslHandshake before authenticating | the connection is closed |
//! | SaslHandshake naming another mechanism | UNSUPPORTED_SASL_MECHANISM (33), listing PLAIN, then the connection is closed |
//! | SaslAuthenticate before the handshake | ILLEGAL_SASL_STATE (34), then the connection is closed |
//! | SaslAuthenticate with bytes that are not three tokens, an empty user or password, an authorization id other than the user, or a wrong password | SASL_AUTHENTICATION_FAILED (58) with Kafka's message, then the connection is closed |
//! | SaslHandshake or SaslAuthenticate once authenticated (or served anonymously) | ILLEGAL_SASL_STATE (34); the connection stays |

use super::apis::{self, Answer, Dispatch};
use super::Context;
use brokerlab_core::StreamCommand;
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::io;
use std::net::SocketAddr;

/// Kafka's error codes for SASL.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The one mechanism served.
const PLAIN: &str = "PLAIN";

/// Where a connection stands with SASL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sasl {
    /// Served without SASL: a client on loopback, where that is allowed.
    Anonymous,
    /// Must authenticate before anything but ApiVersions.
    Required,
    /// Named PLAIN; its SaslAuthenticate comes next.
    Handshaken,
    /// Authenticated as this user.
    Authenticated(String),
}

/// What the connection does with a request frame.
pub enum Screened {
    /// Not a SASL request, and allowed: dispatch it as usual.
    Pass,
    /// A SASL request, answered here; with `close`, the connection ends
    /// once the answer is written.
    Answered { dispatch: Dispatch, close: bool },
}

impl Sasl {
    /// Where a new connection from `peer` starts.
    pub fn new(context: &Context, peer: SocketAddr) -> Sasl {
        if context.anonymous_loopback && peer.ip().is_loopback() {
            Sasl::Anonymous
        } else {
            Sasl::Required
        }
    }

    /// Whether requests other than SASL's are served.
    fn admits(&self) -> bool {
        matches!(self, Sasl::Anonymous | Sasl::Authenticated(_))
    }

    /// Answers a SASL request, lets any other through when the connection
    /// may send it, and refuses (closes) otherwise. A frame too short for
    /// a header passes, for the dispatcher to refuse.
    pub fn screen(
        &mut self,
        frame: &Bytes,
        context: &Context,
        peer: SocketAddr,
    ) -> io::Result<Screened> {
        if frame.len() < 4 {
            return Ok(Screened::Pass);
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let api = ApiKey::try_from(api_key).ok();
        match api {
            Some(ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) => {}
            Some(ApiKey::ApiVersions) => return Ok(Screened::Pass),
            _ if self.admits() => return Ok(Screened::Pass),
            _ => return Err(apis::closed("a request before SASL authentication")),
        }
        let api = api.expect("matched above");
        let (min, max) = apis::served(api).expect("SASL's APIs are served");
        if version < min || version > max {
            return Err(apis::closed("API version not served"));
        }
        let was_authenticated = matches!(self, Sasl::Authenticated(_));
        let mut frame = frame.clone();
        let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
            .map_err(|_| apis::closed("request header does not decode"))?;
        let correlation_id = header.correlation_id;
        let (encoded, close) = if api == ApiKey::SaslHandshake {
            let request: SaslHandshakeRequest = apis::body(&mut frame, version)?;
            let (response, close) = self.handshake(&request.mechanism);
            (
                apis::encode(correlation_id, api, version, &response)?,
                close,
            )
        } else {
            let request: SaslAuthenticateRequest = apis::body(&mut frame, version)?;
            let (response, close) = self.authenticate(&request.auth_bytes, context, peer);
            (
                apis::encode(correlation_id, api, version, &response)?,
                close,
            )
        };
        let mut dispatch = Dispatch::ready(correlation_id, Answer::Encoded(Some(encoded)));
        if let (Sasl::Authenticated(user), false) = (&*self, was_authenticated) {
            // The core checks the user's permissions from now on.
            dispatch.commands.push(apis::Command {
                command: StreamCommand::Authenticated { user: user.clone() },
                answered: false,
            });
        }
        Ok(Screened::Answered { dispatch, close })
    }

    /// SaslHandshake: PLAIN is taken; another mechanism ends the connection.
    fn handshake(&mut self, mechanism: &str) -> (SaslHandshakeResponse, bool) {
        let mut response = SaslHandshakeResponse::default();
        response.mechanisms = vec![StrBytes::from_static_str(PLAIN)];
        match self {
            Sasl::Anonymous | Sasl::Authenticated(_) => {
                response.error_code = ILLEGAL_SASL_STATE;
                (response, false)
            }
            Sasl::Required | Sasl::Handshaken if mechanism == PLAIN => {
                *self = Sasl::Handshaken;
                (response, false)
            }
            Sasl::Required | Sasl::Handshaken => {
                response.error_code = UNSUPPORTED_SASL_MECHANISM;
                (response, true)
            }
        }
    }

    /// SaslAuthenticate: checks the PLAIN token against the users.
    fn authenticate(
        &mut self,
        token: &[u8],
        context: &Context,
        peer: SocketAddr,
    ) -> (SaslAuthenticateResponse, bool) {
        let mut response = SaslAuthenticateResponse::default();
        // Kafka's success carries a null message (the default is empty).
        response.error_message = None;
        let refusal = match self {
            Sasl::Handshaken => match check_plain(token, context, peer) {
                Ok(user) => {
                    *self = Sasl::Authenticated(user);
                    return (response, false);
                }
                Err(text) => (SASL_AUTHENTICATION_FAILED, text, true),
            },
            Sasl::Required => (
                ILLEGAL_SASL_STATE,
                "Unexpected SaslAuthenticate request before SaslHandshake".to_owned(),
                true,
            ),
            Sasl::Anonymous | Sasl::Authenticated(_) => (
                ILLEGAL_SASL_STATE,
                "SaslAuthenticate request received after successful authentication".to_owned(),
                false,
            ),
        };
        let (code, text, close) = refusal;
        response.error_code = code;
        response.error_message = Some(StrBytes::from_string(text));
        (response, close)
    }
}

/// The user a PLAIN token (`authzid NUL user NUL password`) names, if its
/// password is right; otherwise the text Kafka's `PlainSaslServer` gives.
fn check_plain(token: &[u8], context: &Context, peer: SocketAddr) -> Result<String, String> {
    let tokens: Vec<&[u8]> = token.split(|&byte| byte == 0).collect();
    let [authorization, user, password] = tokens[..] else {
        return Err(format!(
            "Authentication failed: Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            tokens.len()
        ));
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let (authorization, user, password) = (text(authorization), text(user), text(password));
    if user.is_empty() {
        return Err("Authentication failed: username not specified".to_owned());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".to_owned());
    }
    if !authorization.is_empty() && authorization != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .to_owned(),
        );
    }
    match context.users.authenticate(&user, &password, peer) {
        Ok(()) => Ok(user),
        Err(_) => Err("Authentication failed: Invalid username or password".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Users;
    use std::sync::Arc;
    use std::time::Duration;

    fn context(anonymous_loopback: bool) -> Context {
        let (to_broker, _) = tokio::sync::mpsc::channel(1);
        let (_, shutdown) = tokio::sync::watch::channel(false);
        Context {
            to_broker,
            shutdown,
            auto_create_partitions: None,
            default_partitions: 1,
            outgoing_buffer_max_bytes: 1 << 20,
            send_timeout: Duration::from_secs(1),
            users: Arc::new(Users::default()),
            anonymous_loopback,
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    fn remote() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], 40000))
    }

    #[test]
    fn a_loopback_client_is_anonymous_unless_the_server_requires_sasl() {
        assert_eq!(Sasl::new(&context(true), loopback()), Sasl::Anonymous);
        assert_eq!(Sasl::new(&context(true), remote()), Sasl::Required);
        assert_eq!(Sasl::new(&context(false), loopback()), Sasl::Required);
    }

    #[test]
    fn plain_tokens_are_checked_as_kafka_checks_them() {
        let context = context(false);
        let check = |token: &[u8]| check_plain(token, &context, loopback());
        assert_eq!(check(b"\0guest\0guest"), Ok("guest".to_owned()));
        assert_eq!(check(b"guest\0guest\0guest"), Ok("guest".to_owned()));
        let failed = |text: &str| Err(format!("Authentication failed: {text}"));
        assert_eq!(
            check(b"\0guest\0wrong"),
            failed("Invalid username or password")
        );
        assert_eq!(check(b"\0\0guest"), failed("username not specified"));
        assert_eq!(check(b"\0guest\0"), failed("password not specified"));
        assert_eq!(
            check(b"other\0guest\0guest"),
            failed("Client requested an authorization id that is different from username")
        );
        assert_eq!(
            check(b"guest"),
            failed("Invalid SASL/PLAIN response: expected 3 tokens, got 1")
        );
        // guest is a loopback-only user, as over AMQP.
        assert!(check_plain(b"\0guest\0guest", &context, remote()).is_err());
    }

    #[test]
    fn handshake_takes_plain_once_and_refuses_other_mechanisms() {
        let mut sasl = Sasl::Required;
        let (response, close) = sasl.handshake("SCRAM-SHA-256");
        assert_eq!(
            (response.error_code, close),
            (UNSUPPORTED_SASL_MECHANISM, true)
        );
        assert_eq!(response.mechanisms, vec![StrBytes::from_static_str(PLAIN)]);
        let (response, close) = sasl.handshake(PLAIN);
        assert_eq!((response.error_code, close), (0, false));
        assert_eq!(sasl, Sasl::Handshaken);
        let mut anonymous = Sasl::Anonymous;
        let (response, close) = anonymous.handshake(PLAIN);
        assert_eq!((response.error_code, close), (ILLEGAL_SASL_STATE, false));
    }

    #[test]
    fn authenticate_before_the_handshake_is_an_illegal_state_that_closes() {
        let mut sasl = Sasl::Required;
        let (response, close) = sasl.authenticate(b"\0guest\0guest", &context(false), loopback());
        assert_eq!((response.error_code, close), (ILLEGAL_SASL_STATE, true));
        assert_eq!(sasl, Sasl::Required);
    }

    #[test]
    fn a_wrong_password_fails_authentication_and_closes() {
        let mut sasl = Sasl::Handshaken;
        let (response, close) = sasl.authenticate(b"\0guest\0nope", &context(false), loopback());
        assert_eq!(
            (response.error_code, close),
            (SASL_AUTHENTICATION_FAILED, true)
        );
        let message = response.error_message.map(|text| text.to_string());
        assert_eq!(
            message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        let mut sasl = Sasl::Handshaken;
        let (response, close) = sasl.authenticate(b"\0guest\0guest", &context(false), loopback());
        assert_eq!((response.error_code, close), (0, false));
        assert_eq!(sasl, Sasl::Authenticated("guest".to_owned()));
        assert!(sasl.admits());
    }
}
