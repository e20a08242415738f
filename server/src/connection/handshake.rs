//! Opening a connection: protocol header, Start/StartOk with authentication,
//! Tune/TuneOk, and Open.
//!
//! Who may log in, and open which vhost, is `Users`' to say (by default
//! `guest`/`guest` on `/` from loopback only, as RabbitMQ's default is);
//! refusals are worded as RabbitMQ words them. A refused login is answered
//! as RabbitMQ answers it: connection.close at once if the client announced
//! `authentication_failure_close`, nothing otherwise, and the socket held
//! for [`FAILED_LOGIN_DELAY_MS`] unless the client answers close-ok, so a
//! client guessing passwords one connection after another waits for each.

use super::io::FrameReader;
use crate::users::{Denied, Users};
use crate::wire::fields::short;
use crate::wire::frames::PROTOCOL_HEADER;
use crate::wire::inbound::Refusal;
use crate::wire::nesting::table_within_limit;
use crate::wire::outbound::{put_method, refusal_close};
use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::parsing::parse_field_table;
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use brokerlab_core::ReplyCode;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The default largest frame the server accepts or sends: RabbitMQ's `frame_max`.
pub const FRAME_MAX_BYTES: u32 = 131_072;

/// The smallest frame_max AMQP allows a peer to ask for.
pub(super) const FRAME_MIN_BYTES: u32 = 4096;

/// The heartbeat the server proposes, in seconds.
pub const HEARTBEAT_S: u16 = 60;

/// The default time the whole handshake, protocol header to
/// connection.open, must fit in: RabbitMQ's `handshake_timeout`.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// The default time a refused login holds its socket: RabbitMQ closes a
/// connection refused at login 3 s after refusing it.
pub const FAILED_LOGIN_DELAY_MS: u64 = 3_000;

/// How a handshake ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshaken {
    /// The client opened a vhost.
    Opened(Opened),
    /// The client was refused, and told so if it could be.
    Refused,
    /// The client's credentials were refused, and it was told so if it
    /// announced `authentication_failure_close`.
    LoginRefused,
}

/// What the connection agreed on in Tune/TuneOk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Highest channel number.
    pub channel_max: u16,
    /// Largest frame, in bytes, both ways.
    pub frame_max: u32,
    /// Heartbeat interval in seconds; 0 turns heartbeats off.
    pub heartbeat_s: u16,
}

/// A connection that passed the handshake and asked for a vhost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Authenticated user.
    pub user: String,
    /// Requested vhost.
    pub vhost: String,
    /// Negotiated limits.
    pub tuning: Tuning,
    /// The client announced the `connection.blocked` capability: it may be
    /// sent connection.blocked and connection.unblocked.
    pub notify_blocked: bool,
}

/// A refusal in the handshake, and whether the client is told of it.
struct Refused {
    refusal: Refusal,
    /// Refused at login (its credentials), rather than for its frames or its vhost.
    login: bool,
    /// connection.close is sent: always, except at login to a client
    /// that did not announce `authentication_failure_close`.
    told: bool,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        Refused {
            refusal,
            login: false,
            told: true,
        }
    }
}

/// Runs the handshake up to connection.open, offering `limits` (the
/// highest channel number and the largest frame). A refusal is written
/// to the client, if it is to be told, before this returns; the caller
/// closes the socket.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    peer: SocketAddr,
    limits: (u16, u32),
    users: &Users,
) -> io::Result<Handshaken> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    if header != PROTOCOL_HEADER {
        // AMQP's answer to a header it does not speak: its own header, then close.
        stream.write_all(&PROTOCOL_HEADER).await?;
        stream.flush().await?;
        return Ok(Handshaken::Refused);
    }
    let refused = match negotiate(stream, reader, peer, limits, users).await? {
        Ok(opened) => return Ok(Handshaken::Opened(opened)),
        Err(refused) => refused,
    };
    tracing::info!(%peer, text = %refused.refusal.text, "connection refused");
    if refused.told {
        let mut out = Vec::new();
        put_method(&mut out, 0, refusal_close(&refused.refusal)).map_err(io::Error::other)?;
        stream.write_all(&out).await?;
        stream.flush().await?;
    }
    Ok(if refused.login {
        Handshaken::LoginRefused
    } else {
        Handshaken::Refused
    })
}

/// After a refused login, holds the socket for `delay` as RabbitMQ does,
/// or until the client answers close-ok or goes; frames other than
/// close-ok are read and dropped, and bytes that make no frame end the
/// reading, not the wait.
pub async fn linger_after_refused_login(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    delay: Duration,
) {
    let answered = async {
        loop {
            match reader.connection_method(stream).await {
                Ok(Ok(connection::AMQPMethod::CloseOk(_))) | Err(_) => return,
                Ok(Ok(_)) => {}
                Ok(Err(_)) => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(delay, answered).await;
}

/// Start, StartOk, Tune, TuneOk and Open; a refusal is returned to be sent
/// back as connection.close.
async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    peer: SocketAddr,
    (channel_max, frame_max): (u16, u32),
    users: &Users,
) -> io::Result<Result<Opened, Refused>> {
    send(stream, start()).await?;
    let start_ok = match reader.connection_method(stream).await? {
        Ok(connection::AMQPMethod::StartOk(start_ok)) => start_ok,
        Ok(other) => return Ok(Err(unexpected("start-ok", &other).into())),
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    let notify_blocked = announces(&start_ok, "connection.blocked");
    let user = match authenticate(&start_ok, peer, users) {
        Ok(user) => user,
        Err(refusal) => {
            return Ok(Err(Refused {
                refusal,
                login: true,
                told: announces(&start_ok, "authentication_failure_close"),
            }))
        }
    };
    let tune = connection::Tune {
        channel_max,
        frame_max,
        heartbeat: HEARTBEAT_S,
    };
    send(
        stream,
        AMQPClass::Connection(connection::AMQPMethod::Tune(tune)),
    )
    .await?;
    let tuning = match reader.connection_method(stream).await? {
        Ok(connection::AMQPMethod::TuneOk(tune_ok)) => {
            match tuning(&tune_ok, channel_max, frame_max) {
                Ok(tuning) => tuning,
                Err(refusal) => return Ok(Err(refusal.into())),
            }
        }
        Ok(other) => return Ok(Err(unexpected("tune-ok", &other).into())),
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    reader.set_frame_max(tuning.frame_max);
    Ok(match reader.connection_method(stream).await? {
        Ok(connection::AMQPMethod::Open(open)) => {
            let vhost = open.virtual_host.to_string();
            may_open(users, &user, &vhost)
                .map(|()| Opened {
                    user,
                    vhost,
                    tuning,
                    notify_blocked,
                })
                .map_err(Refused::from)
        }
        Ok(other) => Err(unexpected("open", &other).into()),
        Err(refusal) => Err(refusal.into()),
    })
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, method: AMQPClass) -> io::Result<()> {
    let mut out = Vec::new();
    put_method(&mut out, 0, method).map_err(io::Error::other)?;
    stream.write_all(&out).await?;
    // Under madsim the bytes leave only on flush; a tokio socket's flush is a no-op.
    stream.flush().await
}

fn unexpected(expected: &str, got: &connection::AMQPMethod) -> Refusal {
    let got = AMQPClass::Connection(got.clone());
    Refusal::new(
        ReplyCode::CommandInvalid,
        format!(
            "expected 'connection.{expected}', got method {}",
            got.get_amqp_method_id()
        ),
    )
    .caused_by(&got)
}

/// Whether start-ok's client properties announce `capability` (RabbitMQ
/// sends connection.blocked, and the close of a refused login, only then).
fn announces(start_ok: &connection::StartOk, capability: &str) -> bool {
    let Some(AMQPValue::FieldTable(capabilities)) = start_ok
        .client_properties
        .inner()
        .get(&short("capabilities"))
    else {
        return false;
    };
    matches!(
        capabilities.inner().get(&short(capability)),
        Some(AMQPValue::Boolean(true))
    )
}

/// connection.start: version, server properties with the capabilities of
/// SEMANTICS.md section 7, mechanisms and locales.
fn start() -> AMQPClass {
    let mut capabilities = FieldTable::default();
    for capability in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "per_consumer_qos",
        "authentication_failure_close",
        "direct_reply_to",
    ] {
        capabilities.insert(short(capability), AMQPValue::Boolean(true));
    }
    let mut properties = FieldTable::default();
    properties.insert(short("capabilities"), AMQPValue::FieldTable(capabilities));
    for (name, value) in [
        ("product", "brokerlab"),
        ("version", env!("CARGO_PKG_VERSION")),
        ("platform", "Rust"),
        ("information", "a broker on a sans-IO core"),
    ] {
        properties.insert(short(name), AMQPValue::LongString(LongString::from(value)));
    }
    AMQPClass::Connection(connection::AMQPMethod::Start(connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: properties,
        mechanisms: LongString::from("PLAIN AMQPLAIN"),
        locales: LongString::from("en_US"),
    }))
}

/// The limits of a TuneOk: the client's choice within the server's. As in
/// RabbitMQ, a value above the server's, or 0 (no limit, so above any),
/// is refused, and so is a frame_max below AMQP's minimum.
fn tuning(
    tune_ok: &connection::TuneOk,
    channel_max: u16,
    frame_max: u32,
) -> Result<Tuning, Refusal> {
    negotiated("frame_max", tune_ok.frame_max, FRAME_MIN_BYTES, frame_max)?;
    negotiated(
        "channel_max",
        tune_ok.channel_max.into(),
        1,
        channel_max.into(),
    )?;
    // The client's TuneOk carries the heartbeat it negotiated from our
    // proposal (0 on either side lets the other's value win); it is final.
    Ok(Tuning {
        channel_max: tune_ok.channel_max,
        frame_max: tune_ok.frame_max,
        heartbeat_s: tune_ok.heartbeat,
    })
}

/// One negotiated limit against the server's range, refused in RabbitMQ's words.
fn negotiated(field: &str, asked: u32, min: u32, max: u32) -> Result<(), Refusal> {
    let (side, bound) = if asked != 0 && asked < min {
        ("lower than the minimum", min)
    } else if asked == 0 || asked > max {
        ("higher than the maximum", max)
    } else {
        return Ok(());
    };
    let no_limit = if asked == 0 { " (no limit)" } else { "" };
    Err(Refusal::new(
        ReplyCode::NotAllowed,
        format!("negotiated {field} = {asked}{no_limit} is {side} allowed value ({bound})"),
    ))
}

/// Whether `user` may open `vhost`; 530 NOT_ALLOWED when not, as RabbitMQ answers.
fn may_open(users: &Users, user: &str, vhost: &str) -> Result<(), Refusal> {
    users.may_open(user, vhost).map_err(|_| {
        let text = format!("access to vhost '{vhost}' refused for user '{user}'");
        Refusal::new(ReplyCode::NotAllowed, text)
    })
}

/// Checks a StartOk's credentials; returns the user name.
fn authenticate(
    start_ok: &connection::StartOk,
    peer: SocketAddr,
    users: &Users,
) -> Result<String, Refusal> {
    let mechanism = start_ok.mechanism.as_str();
    let credentials = match mechanism {
        "PLAIN" => plain_credentials(start_ok.response.as_bytes()),
        "AMQPLAIN" => amqplain_credentials(start_ok.response.as_bytes()),
        other => {
            return Err(Refusal::new(
                ReplyCode::AccessRefused,
                format!("unsupported authentication mechanism '{other}'"),
            ))
        }
    };
    let refused = || {
        Refusal::new(
            ReplyCode::AccessRefused,
            format!(
                "Login was refused using authentication mechanism {mechanism}. \
                 For details see the broker logfile."
            ),
        )
    };
    let (user, password) = credentials.ok_or_else(refused)?;
    match users.authenticate(&user, &password, peer) {
        Ok(()) => Ok(user),
        Err(Denied::NotFromLoopback) => {
            tracing::info!(%peer, %user, "user can only connect via localhost");
            Err(refused())
        }
        Err(_) => {
            tracing::info!(%peer, %user, "invalid credentials");
            Err(refused())
        }
    }
}

/// PLAIN's response: `authzid \0 user \0 password`.
fn plain_credentials(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|byte| *byte == 0);
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).ok();
    Some((text(user)?, text(password)?))
}

/// AMQPLAIN's response: a field table without its length prefix, holding LOGIN and PASSWORD.
fn amqplain_credentials(response: &[u8]) -> Option<(String, String)> {
    let length = u32::try_from(response.len()).ok()?;
    let mut encoded = length.to_be_bytes().to_vec();
    encoded.extend_from_slice(response);
    if !table_within_limit(&encoded) {
        return None;
    }
    let (_, table) = parse_field_table(encoded.as_slice()).ok()?;
    let text = |name: &str| match table.inner().get(name)? {
        AMQPValue::LongString(value) => String::from_utf8(value.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    };
    Some((text("LOGIN")?, text("PASSWORD")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::auth::{Credentials, SASLMechanism};

    fn start_ok(mechanism: SASLMechanism, user: &str, password: &str) -> connection::StartOk {
        let credentials = Credentials::new(user.into(), password.into());
        connection::StartOk {
            mechanism: short(&mechanism.to_string()),
            response: credentials.sasl_auth_string(mechanism),
            ..connection::StartOk::default()
        }
    }

    #[test]
    fn guest_logs_in_from_loopback_with_plain_and_amqplain() {
        let local: SocketAddr = "127.0.0.1:9".parse().expect("an address");
        for mechanism in [SASLMechanism::Plain, SASLMechanism::AMQPlain] {
            let user = authenticate(
                &start_ok(mechanism, "guest", "guest"),
                local,
                &Users::default(),
            );
            assert_eq!(user, Ok("guest".to_owned()));
        }
    }

    #[test]
    fn guest_is_refused_from_a_remote_address() {
        let remote: SocketAddr = "192.0.2.1:9".parse().expect("an address");
        let start_ok = start_ok(SASLMechanism::Plain, "guest", "guest");
        let refusal =
            authenticate(&start_ok, remote, &Users::default()).expect_err("guest is loopback only");
        assert_eq!(refusal.code, ReplyCode::AccessRefused);
    }

    #[test]
    fn a_wrong_password_is_refused_with_403() {
        let local: SocketAddr = "127.0.0.1:9".parse().expect("an address");
        let start_ok = start_ok(SASLMechanism::Plain, "guest", "nope");
        let refusal =
            authenticate(&start_ok, local, &Users::default()).expect_err("wrong password");
        assert_eq!(refusal.code, ReplyCode::AccessRefused);
    }

    #[test]
    fn a_vhost_without_permissions_is_refused_with_530() {
        let json = format!(
            r#"{{"users": [{{"name": "app", "password_hash": "{}"}}],
                "vhosts": [{{"name": "/"}}]}}"#,
            crate::users::password_hash([1, 2, 3, 4], "pw")
        );
        let users = Users::from_definitions(&json).expect("valid definitions");
        let refused = may_open(&users, "app", "/").expect_err("no permissions");
        assert_eq!(refused.code, ReplyCode::NotAllowed);
        assert_eq!(
            refused.text,
            "NOT_ALLOWED - access to vhost '/' refused for user 'app'"
        );
        assert_eq!(may_open(&Users::default(), "guest", "/"), Ok(()));
    }
}
