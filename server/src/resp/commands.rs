//! Commands: what a request asks, checked in Redis's order (the command
//! is known, then its arity, then the login, then RESP2's subscribed
//! context), with Redis's error texts. A Pub/Sub command becomes a core
//! command; the connection's own commands (PING, HELLO, AUTH, CLIENT,
//! QUIT, RESET) are answered here. Pub/Sub's rules are the core's.

use super::names::REDIS_COMMANDS;
use super::reply::Frame;
use brokerlab_core::pubsub::PubSubCommand;
use bytes::Bytes;

/// What the connection knows when it judges a command.
#[derive(Clone, Debug)]
pub struct State {
    /// 2 or 3.
    pub protocol: u8,
    /// Channels and patterns subscribed, as the core last counted them.
    pub subscriptions: usize,
    /// Logged in (or anonymous, from loopback).
    pub authenticated: bool,
    /// Anonymous access is allowed on this connection (loopback, by default).
    pub anonymous: bool,
    /// CLIENT SETNAME's name.
    pub name: Option<Bytes>,
    /// CLIENT ID's number.
    pub id: u64,
}

impl State {
    /// RESP2's subscribed context, where only Pub/Sub, PING, QUIT and RESET run.
    fn subscribed_resp2(&self) -> bool {
        self.protocol == 2 && self.subscriptions > 0
    }
}

/// How many answers a core command gets, so that the connection can keep
/// its replies in request order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    /// Exactly this many.
    Count(usize),
    /// As many as the core finds (an unsubscribe from all): the
    /// connection sends an echo after it and waits for it.
    UntilEcho,
}

/// A credential to check: HELLO's or AUTH's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The user (`default` for AUTH with a password alone).
    pub user: String,
    /// The password.
    pub password: String,
}

/// What a request asks of the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Answer at once (in order).
    Reply(Frame),
    /// Run a core command.
    Core {
        /// The command.
        command: PubSubCommand,
        /// How many answers it gets.
        answers: Answers,
        /// It may change the connection's subscriptions.
        subscribes: bool,
    },
    /// HELLO: log in if asked, switch protocol, set the name, answer the map.
    Hello {
        /// The protocol asked for, if any.
        protocol: Option<u8>,
        /// HELLO's AUTH option.
        login: Option<Login>,
        /// HELLO's SETNAME option.
        name: Option<Bytes>,
    },
    /// AUTH.
    Auth(Login),
    /// CLIENT SETNAME (an empty name clears it).
    SetName(Bytes),
    /// RESET: drop the subscriptions, the protocol, the name and the login.
    Reset,
    /// QUIT: `+OK`, then close.
    Quit,
}

/// Judges one request (its arguments, the command name first); a
/// command for the core takes its arguments over.
pub fn judge(arguments: Vec<Bytes>, state: &State) -> Step {
    let Some((name, rest)) = arguments.split_first() else {
        return Step::Reply(Frame::err("empty request"));
    };
    let (command, full_name) = match full_name(name, rest) {
        Ok(names) => names,
        Err(refusal) => return Step::Reply(refusal),
    };
    let served = arity(full_name);
    if let Some(arity) = served {
        if !arity.accepts(arguments.len()) {
            let text = format!("wrong number of arguments for '{full_name}' command");
            return Step::Reply(Frame::err(text));
        }
    }
    let no_login_needed = matches!(command, "auth" | "hello" | "quit" | "reset");
    if !state.authenticated && !no_login_needed {
        return Step::Reply(Frame::Error("NOAUTH Authentication required.".to_owned()));
    }
    let allowed_subscribed = matches!(
        command,
        "ping" | "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "quit" | "reset"
    );
    if state.subscribed_resp2() && !allowed_subscribed {
        return Step::Reply(Frame::err(format!(
            "Can't execute '{full_name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )));
    }
    if served.is_none() {
        // Redis knows it; brokerlab serves only Pub/Sub and the connection's own commands.
        return Step::Reply(match rest.first().filter(|_| full_name.contains('|')) {
            Some(sub) => unknown_subcommand(command, sub),
            None => unknown_command(name, rest),
        });
    }
    run(full_name, arguments, state)
}

/// The command's name and its full name as Redis's errors give it
/// (`pubsub` and `pubsub|numpat`), both as Redis's table spells them, or
/// Redis's refusal of a command or subcommand it does not know. Names are
/// matched case-insensitively, as Redis matches them, without a copy.
fn full_name(name: &[u8], rest: &[Bytes]) -> Result<(&'static str, &'static str), Frame> {
    let Some(command) = known(&[name]) else {
        return Err(unknown_command(name, rest));
    };
    let Some(sub) = rest
        .first()
        .filter(|_| matches!(command, "pubsub" | "client"))
    else {
        return Ok((command, command));
    };
    match known(&[command.as_bytes(), b"|", sub]) {
        Some(full_name) => Ok((command, full_name)),
        None => Err(unknown_subcommand(command, sub)),
    }
}

/// The command of Redis's table whose name is `parts` joined, in any case.
fn known(parts: &[&[u8]]) -> Option<&'static str> {
    let name = || {
        parts
            .iter()
            .flat_map(|part| part.iter())
            .map(u8::to_ascii_lowercase)
    };
    // The commands served here first: PUBLISH, the one a publisher repeats.
    let served = SERVED.iter().find(|(served, _)| served.bytes().eq(name()));
    served.map(|&(served, _)| served).or_else(|| {
        let at = REDIS_COMMANDS.binary_search_by(|entry| entry.bytes().cmp(name()));
        at.ok().map(|at| REDIS_COMMANDS[at])
    })
}

/// The commands served here with Redis's arity of each (its `COMMAND
/// INFO`), PUBLISH first: the one a publisher repeats.
const SERVED: [(&str, Arity); 18] = [
    ("publish", Arity::Exactly(3)),
    ("subscribe", Arity::AtLeast(2)),
    ("psubscribe", Arity::AtLeast(2)),
    ("unsubscribe", Arity::AtLeast(1)),
    ("punsubscribe", Arity::AtLeast(1)),
    ("ping", Arity::Between(1, 2)),
    ("pubsub", Arity::AtLeast(2)),
    ("pubsub|channels", Arity::AtLeast(2)),
    ("pubsub|numsub", Arity::AtLeast(2)),
    ("pubsub|numpat", Arity::Exactly(2)),
    ("client", Arity::AtLeast(2)),
    ("client|id", Arity::Exactly(2)),
    ("client|getname", Arity::Exactly(2)),
    ("client|setname", Arity::Exactly(3)),
    ("auth", Arity::AtLeast(2)),
    ("hello", Arity::AtLeast(1)),
    ("quit", Arity::AtLeast(1)),
    ("reset", Arity::Exactly(1)),
];

/// Redis's refusal of a container's subcommand it does not know.
fn unknown_subcommand(container: &str, sub: &[u8]) -> Frame {
    let text = format!(
        "unknown subcommand '{}'. Try {} HELP.",
        printable(sub, 128),
        container.to_ascii_uppercase()
    );
    Frame::err(text)
}

/// Redis's refusal of a command it does not know: the name and the
/// start of the arguments, quoted, at most 128 bytes of them.
fn unknown_command(name: &[u8], rest: &[Bytes]) -> Frame {
    let mut arguments = String::new();
    for argument in rest {
        if arguments.len() >= 128 {
            break;
        }
        let room = 128 - arguments.len();
        arguments.push_str(&format!("'{}' ", printable(argument, room)));
    }
    let name = printable(name, 128);
    let text = format!("unknown command '{name}', with args beginning with: {arguments}");
    // Redis writes an error on one line: line breaks become spaces.
    Frame::err(text.replace(['\r', '\n'], " "))
}

/// At most `max` bytes of `bytes`, up to a NUL (as C's `%.*s` prints them), as text.
fn printable(bytes: &[u8], max: usize) -> String {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len())
        .min(max);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Redis's arity of a command served here: exact, at least, or (PING,
/// which checks its own) a range.
#[derive(Clone, Copy)]
enum Arity {
    Exactly(usize),
    AtLeast(usize),
    Between(usize, usize),
}

impl Arity {
    fn accepts(self, count: usize) -> bool {
        match self {
            Arity::Exactly(arity) => count == arity,
            Arity::AtLeast(arity) => count >= arity,
            Arity::Between(low, high) => (low..=high).contains(&count),
        }
    }
}

/// The arity of a command served here ([`SERVED`]); `None` for one not served.
fn arity(full_name: &str) -> Option<Arity> {
    SERVED
        .iter()
        .find(|(name, _)| *name == full_name)
        .map(|&(_, arity)| arity)
}

fn core(command: PubSubCommand, answers: Answers, subscribes: bool) -> Step {
    Step::Core {
        command,
        answers,
        subscribes,
    }
}

/// The arguments after the command's name.
fn after_name(mut arguments: Vec<Bytes>) -> Vec<Bytes> {
    arguments.remove(0);
    arguments
}

/// Arguments the core keeps for as long as a subscription lasts, copied
/// out of the read buffer their request was cut from, which they would
/// otherwise hold. (A connection's name is copied alike.)
fn kept(arguments: Vec<Bytes>) -> Vec<Bytes> {
    arguments
        .iter()
        .map(|argument| Bytes::copy_from_slice(argument))
        .collect()
}

/// Runs a command whose name, arity, login and context were checked.
fn run(full_name: &str, mut arguments: Vec<Bytes>, state: &State) -> Step {
    let rest = &arguments[1..];
    let count = Answers::Count(rest.len());
    match full_name {
        "ping" => Step::Reply(ping(rest.first().cloned(), state)),
        "subscribe" => {
            let channels = kept(after_name(arguments));
            core(PubSubCommand::Subscribe { channels }, count, true)
        }
        "psubscribe" => {
            let patterns = kept(after_name(arguments));
            core(PubSubCommand::PatternSubscribe { patterns }, count, true)
        }
        "unsubscribe" | "punsubscribe" => {
            let answers = if rest.is_empty() {
                Answers::UntilEcho
            } else {
                count
            };
            let names = after_name(arguments);
            let command = if full_name == "unsubscribe" {
                PubSubCommand::Unsubscribe { channels: names }
            } else {
                PubSubCommand::PatternUnsubscribe { patterns: names }
            };
            core(command, answers, true)
        }
        "publish" => {
            // PUBLISH channel message: its arity is exactly 3.
            let (Some(message), Some(channel)) = (arguments.pop(), arguments.pop()) else {
                unreachable!("PUBLISH's arity was checked");
            };
            core(
                PubSubCommand::Publish { channel, message },
                Answers::Count(1),
                false,
            )
        }
        "pubsub|channels" => match rest.len() {
            1 | 2 => {
                let pattern = rest.get(1).cloned();
                core(
                    PubSubCommand::Channels { pattern },
                    Answers::Count(1),
                    false,
                )
            }
            _ => Step::Reply(Frame::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                printable(&rest[0], 128)
            ))),
        },
        "pubsub|numsub" => {
            let channels = rest[1..].to_vec();
            core(PubSubCommand::NumSub { channels }, Answers::Count(1), false)
        }
        "pubsub|numpat" => core(PubSubCommand::NumPat, Answers::Count(1), false),
        "hello" => hello(rest),
        "auth" => auth(rest, state),
        "client|id" => Step::Reply(Frame::count(state.id)),
        "client|getname" => Step::Reply(state.name.clone().map_or(Frame::Null, Frame::Bulk)),
        "client|setname" => match valid_name(&rest[1]) {
            Ok(()) => Step::SetName(Bytes::copy_from_slice(&rest[1])),
            Err(refusal) => Step::Reply(refusal),
        },
        "quit" => Step::Quit,
        "reset" => Step::Reset,
        // Every command with an arity is matched above; a bare container
        // name never gets here (its arity asks for a subcommand).
        other => Step::Reply(unknown_command(other.as_bytes(), rest)),
    }
}

/// PING: `+PONG` or its argument; in RESP2's subscribed context a
/// `pong` message with the argument (or "").
fn ping(argument: Option<Bytes>, state: &State) -> Frame {
    if state.subscribed_resp2() {
        let argument = argument.unwrap_or_default();
        return Frame::Array(vec![Frame::text("pong"), Frame::Bulk(argument)]);
    }
    match argument {
        Some(argument) => Frame::Bulk(argument),
        None => Frame::Simple("PONG"),
    }
}

/// Redis's rule for client names: printable ASCII without spaces.
fn valid_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().all(|&byte| (b'!'..=b'~').contains(&byte)) {
        Ok(())
    } else {
        Err(Frame::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis parses it.
fn hello(rest: &[Bytes]) -> Step {
    let mut protocol = None;
    if let Some(version) = rest.first() {
        let parsed = std::str::from_utf8(version)
            .ok()
            .and_then(|version| version.parse::<i64>().ok());
        let Some(version) = parsed else {
            return Step::Reply(Frame::err(
                "Protocol version is not an integer or out of range",
            ));
        };
        if !(2..=3).contains(&version) {
            let refusal = "NOPROTO unsupported protocol version".to_owned();
            return Step::Reply(Frame::Error(refusal));
        }
        protocol = u8::try_from(version).ok();
    }
    let (mut login, mut name) = (None, None);
    let mut at = 1;
    while at < rest.len() {
        let option = text(&rest[at]).to_ascii_lowercase();
        let more = rest.len() - at - 1;
        if option == "auth" && more >= 2 {
            login = Some(Login {
                user: text(&rest[at + 1]),
                password: text(&rest[at + 2]),
            });
            at += 3;
        } else if option == "setname" && more >= 1 {
            if let Err(refusal) = valid_name(&rest[at + 1]) {
                return Step::Reply(refusal);
            }
            name = Some(Bytes::copy_from_slice(&rest[at + 1]));
            at += 2;
        } else {
            let option = printable(&rest[at], usize::MAX);
            return Step::Reply(Frame::err(format!(
                "Syntax error in HELLO option '{option}'"
            )));
        }
    }
    Step::Hello {
        protocol,
        login,
        name,
    }
}

/// AUTH [username] password.
fn auth(rest: &[Bytes], state: &State) -> Step {
    match rest {
        [password] if state.anonymous => {
            let _ = password;
            Step::Reply(Frame::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ))
        }
        [password] => Step::Auth(Login {
            user: "default".to_owned(),
            password: text(password),
        }),
        [user, password] => Step::Auth(Login {
            user: text(user),
            password: text(password),
        }),
        _ => Step::Reply(Frame::err("syntax error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            protocol: 2,
            subscriptions: 0,
            authenticated: true,
            anonymous: true,
            name: None,
            id: 7,
        }
    }

    fn judged(words: &[&str], state: &State) -> Step {
        let arguments: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        judge(arguments, state)
    }

    /// The arguments of a request cut from one read buffer, uncopied.
    fn cut(request: &Bytes) -> Vec<Bytes> {
        request
            .split(|&byte| byte == b' ')
            .map(|word| request.slice_ref(word))
            .collect()
    }

    /// Whether `argument` lies in `buffer`'s bytes.
    fn within(argument: &Bytes, buffer: &Bytes) -> bool {
        buffer.as_ptr_range().contains(&argument.as_ptr())
    }

    #[test]
    fn what_outlives_a_request_does_not_hold_its_read_buffer() {
        let buffer = Bytes::from_static(b"subscribe a b psubscribe c* publish a m setname n");
        let kept = |step: Step| match step {
            Step::Core {
                command: PubSubCommand::Subscribe { channels: names },
                ..
            }
            | Step::Core {
                command: PubSubCommand::PatternSubscribe { patterns: names },
                ..
            } => names,
            Step::SetName(name)
            | Step::Hello {
                name: Some(name), ..
            } => vec![name],
            other => panic!("{other:?}"),
        };
        let words = cut(&buffer);
        let requests = [&words[0..3], &words[3..5]];
        for request in requests {
            for name in kept(judge(request.to_vec(), &state())) {
                assert!(!within(&name, &buffer), "{name:?} is copied out");
            }
        }
        let setname = [
            Bytes::from_static(b"client"),
            words[8].clone(),
            words[9].clone(),
        ];
        let hello = [
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"3"),
            words[8].clone(),
            words[9].clone(),
        ];
        for request in [setname.to_vec(), hello.to_vec()] {
            for name in kept(judge(request, &state())) {
                assert!(!within(&name, &buffer), "{name:?} is copied out");
            }
        }
        // A publish's channel and message are gone after its step: cut, not copied.
        match judge(words[5..8].to_vec(), &state()) {
            Step::Core {
                command: PubSubCommand::Publish { channel, message },
                ..
            } => assert!(within(&channel, &buffer) && within(&message, &buffer)),
            other => panic!("{other:?}"),
        }
    }

    fn error(words: &[&str], state: &State) -> String {
        match judged(words, state) {
            Step::Reply(Frame::Error(text)) => text,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    /// `known` looks a command served here up first.
    #[test]
    fn every_command_served_is_one_redis_knows() {
        for (name, _) in SERVED {
            assert!(REDIS_COMMANDS.binary_search(&name).is_ok(), "{name}");
            assert_eq!(known(&[name.as_bytes()]), Some(name));
        }
        // In any case, as Redis matches them; a name only alike is unknown.
        assert_eq!(known(&[b"PuBlIsH"]), Some("publish"));
        assert_eq!(known(&[b"pubSUB", b"|", b"NumSub"]), Some("pubsub|numsub"));
        assert_eq!(known(&[b"GET"]), Some("get"));
        assert_eq!(known(&[b"publis"]), None);
        assert_eq!(known(&[b"publish\xff"]), None);
    }

    #[test]
    fn commands_not_served_get_redis_unknown_command_text() {
        let state = state();
        assert_eq!(
            error(&["FOO", "a", "b"], &state),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            error(&["FOO"], &state),
            "ERR unknown command 'FOO', with args beginning with: "
        );
        assert_eq!(
            error(&["GET", "k"], &state),
            "ERR unknown command 'GET', with args beginning with: 'k' "
        );
        let long = "x".repeat(200);
        let expected = format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        );
        assert_eq!(error(&["foo", &long], &state), expected);
        assert_eq!(
            error(&["PUBSUB", "FOO"], &state),
            "ERR unknown subcommand 'FOO'. Try PUBSUB HELP."
        );
        assert_eq!(
            error(&["CLIENT", "FOO"], &state),
            "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
        );
    }

    #[test]
    fn arity_is_checked_with_redis_texts() {
        let state = state();
        assert_eq!(
            error(&["ping", "a", "b"], &state),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(
            error(&["SUBSCRIBE"], &state),
            "ERR wrong number of arguments for 'subscribe' command"
        );
        assert_eq!(
            error(&["PUBLISH", "a"], &state),
            "ERR wrong number of arguments for 'publish' command"
        );
        assert_eq!(
            error(&["PUBSUB"], &state),
            "ERR wrong number of arguments for 'pubsub' command"
        );
        assert_eq!(
            error(&["PUBSUB", "NUMPAT", "x"], &state),
            "ERR wrong number of arguments for 'pubsub|numpat' command"
        );
        assert_eq!(
            error(&["CLIENT", "ID", "x"], &state),
            "ERR wrong number of arguments for 'client|id' command"
        );
        assert_eq!(
            error(&["RESET", "x"], &state),
            "ERR wrong number of arguments for 'reset' command"
        );
        assert_eq!(
            error(&["AUTH"], &state),
            "ERR wrong number of arguments for 'auth' command"
        );
        assert_eq!(
            error(&["PUBSUB", "CHANNELS", "a", "b"], &state),
            "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."
        );
    }

    #[test]
    fn resp2_subscribed_context_allows_only_pubsub_ping_quit_and_reset() {
        let state = State {
            subscriptions: 1,
            ..state()
        };
        let refusal = |name: &str| {
            format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        };
        assert_eq!(error(&["GET", "k"], &state), refusal("get"));
        assert_eq!(error(&["PUBLISH", "a", "m"], &state), refusal("publish"));
        assert_eq!(
            error(&["PUBSUB", "NUMPAT"], &state),
            refusal("pubsub|numpat")
        );
        assert_eq!(error(&["CLIENT", "ID"], &state), refusal("client|id"));
        assert_eq!(error(&["HELLO", "3"], &state), refusal("hello"));
        assert_eq!(
            error(&["FOO", "x"], &state),
            "ERR unknown command 'FOO', with args beginning with: 'x' "
        );
        let pong = Frame::Array(vec![Frame::text("pong"), Frame::text("")]);
        assert_eq!(judged(&["PING"], &state), Step::Reply(pong));
        let resp3 = State {
            protocol: 3,
            ..state
        };
        assert_eq!(
            judged(&["PING"], &resp3),
            Step::Reply(Frame::Simple("PONG"))
        );
        assert!(matches!(
            judged(&["PUBLISH", "a", "m"], &resp3),
            Step::Core { .. }
        ));
    }

    #[test]
    fn a_client_that_must_log_in_may_only_auth_hello_quit_or_reset() {
        let state = State {
            authenticated: false,
            anonymous: false,
            ..state()
        };
        assert_eq!(error(&["PING"], &state), "NOAUTH Authentication required.");
        assert_eq!(
            error(&["GET", "k"], &state),
            "NOAUTH Authentication required."
        );
        assert!(matches!(judged(&["AUTH", "u", "p"], &state), Step::Auth(_)));
        assert_eq!(judged(&["QUIT"], &state), Step::Quit);
    }

    #[test]
    fn hello_and_client_options_are_checked_with_redis_texts() {
        let state = state();
        assert_eq!(
            error(&["HELLO", "4"], &state),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            error(&["HELLO", "x"], &state),
            "ERR Protocol version is not an integer or out of range"
        );
        assert_eq!(
            error(&["HELLO", "3", "FOO"], &state),
            "ERR Syntax error in HELLO option 'FOO'"
        );
        let bad_name = "ERR Client names cannot contain spaces, newlines or special characters.";
        assert_eq!(error(&["HELLO", "3", "SETNAME", "a b"], &state), bad_name);
        assert_eq!(error(&["CLIENT", "SETNAME", "a b"], &state), bad_name);
        assert_eq!(
            error(&["AUTH", "x"], &state),
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        );
        assert_eq!(error(&["AUTH", "a", "b", "c"], &state), "ERR syntax error");
        assert_eq!(
            judged(&["CLIENT", "ID"], &state),
            Step::Reply(Frame::Integer(7))
        );
        assert_eq!(
            judged(&["CLIENT", "GETNAME"], &state),
            Step::Reply(Frame::Null)
        );
    }
}
