//! The `sqs-visibility` model: SQS's visibility timeout, receipt handles,
//! FIFO groups and deduplication, with two consumers and a timeout.
//!
//! The broker is the production core, spoken to in its SQS actions
//! (`Input::Sqs` in, `Output::Sqs` out), provisioned with one FIFO queue,
//! `jobs.fifo` (visibility timeout 10 s), whose messages are all of one
//! group. The sender, actor 1, sends its messages one at a time, each
//! after the broker answered the one before; the first is sent twice with
//! one deduplication id, as a producer retries a send whose answer it
//! lost. Two consumers receive one message at a time:
//! - the careless consumer (actor 2) receives without waiting, and for
//!   each message it gets chooses to delete it (at any point: the model's
//!   clock moves only when the broker's next deadline is reached, which
//!   may come first, so a delete may carry a handle that has expired) or
//!   to crash, dropping its connection and the message with it;
//! - the careful consumer (actor 3) long-polls (`WaitTimeSeconds` 20,
//!   longer than the visibility timeout) and deletes every message it
//!   gets at once; it stops after two empty answers.
//!
//! The history (stateright's auxiliary state) records, as messages leave
//! their sender: the sends the broker answered and the message id each
//! got, each message's latest receipt handle and when it was handed out
//! (a count of hand-outs), the deletes answered that carried a message's
//! latest handle, and when the careful consumer's long poll began.
//! Checked, in every reachable state:
//! - `no-lost-after-delete`: every message whose send was answered is
//!   still held by the broker, or was deleted with its latest handle (a
//!   delete with an expired handle deletes nothing);
//! - `visibility-expires`: a long poll that began after a message's latest
//!   hand-out, when no earlier message of its group was left, is not
//!   answered with nothing: the message became visible during the wait;
//! - `fifo-group-order`: a message is handed out only once every earlier
//!   message of its group was deleted;
//! - `dedup-window`: a send repeated with its deduplication id within the
//!   window gets the first send's message id (one message, not two);
//! - no step panics (`no-panic`, which also holds the core's invariants).
//!
//! Reachable (sometimes): `redelivered` (a message handed out twice),
//! `expired-handle-refused` (a delete with an expired handle answered with
//! an error) and `all-deleted`.

use crate::actors::Node;
use crate::broker_actor::BrokerActor;
use crate::clients::{parse_body, MessageSet, BROKER};
use crate::properties::{BrokerModel, History, Settings, State, PRODUCER};
use crate::shared::Shared;
use crate::wire::{Choice, Frame, Incarnation, Msg};
use brokerlab_core::sqs::{SendEntry, SqsCommand, SqsReply};
use brokerlab_core::Mutant;
use bytes::Bytes;
use stateright::actor::{Envelope, Id, Network, Out};
use stateright::Expectation;

/// The queue.
pub const QUEUE: &str = "jobs.fifo";
/// The one message group.
const GROUP: &str = "g";
/// The queue's visibility timeout, in seconds.
pub const VISIBILITY_TIMEOUT: u32 = 10;
/// The careful consumer's long poll, in seconds (longer than the visibility timeout).
pub const WAIT: u32 = 20;
/// The most messages the sender may send (numbers 1 to this).
pub const MESSAGES_MAX: u8 = 3;
/// The sender's actor index.
const SENDER: usize = PRODUCER;
/// The careful consumer's actor index.
const CAREFUL: usize = SENDER + 2;
/// Receives the careless consumer makes at most.
const CARELESS_RECEIVES: u8 = 1;
/// Receives the careful consumer makes at most (each expiry of a message
/// it holds, before its delete, moves the clock on).
const CAREFUL_RECEIVES: u8 = 3;
/// Empty answers after which the careful consumer stops.
const CAREFUL_EMPTY_MAX: u8 = 1;

/// The `sqs-visibility` model's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsVisibility {
    /// How many messages the sender sends (1 to [`MESSAGES_MAX`]).
    pub messages: u8,
    /// A deliberately broken broker, or `None` for the real one.
    pub mutant: Option<Mutant>,
}

impl Default for SqsVisibility {
    /// The standard configuration: two messages, the first sent twice.
    fn default() -> SqsVisibility {
        SqsVisibility {
            messages: 2,
            mutant: None,
        }
    }
}

impl SqsVisibility {
    /// The actor model: the broker (actor 0), the sender (1), the careless
    /// consumer (2) and the careful one (3).
    #[must_use]
    pub fn into_model(self) -> BrokerModel {
        assert!(
            (1..=MESSAGES_MAX).contains(&self.messages),
            "one to {MESSAGES_MAX} messages"
        );
        let create = SqsCommand::CreateQueue {
            queue: QUEUE.to_owned(),
            attributes: vec![
                ("FifoQueue".to_owned(), "true".to_owned()),
                (
                    "VisibilityTimeout".to_owned(),
                    VISIBILITY_TIMEOUT.to_string(),
                ),
            ],
        };
        let broker = BrokerActor::new(self.mutant, Vec::new(), 3).with_sqs_setup(vec![create]);
        let settings = Settings {
            messages: self.messages,
            ..Settings::default()
        };
        BrokerModel::new(settings, History::default())
            .actor(Node::Broker(broker))
            .actor(Node::SqsSender(SqsSender {
                messages: self.messages,
            }))
            .actor(Node::SqsConsumer(SqsConsumer { careful: false }))
            .actor(Node::SqsConsumer(SqsConsumer { careful: true }))
            .init_network(Network::new_ordered([]))
            .record_msg_out(record_msg_out)
            .property(Expectation::Always, "no-panic", crate::properties::no_panic)
            .property(
                Expectation::Always,
                "no-lost-after-delete",
                no_lost_after_delete,
            )
            .property(
                Expectation::Always,
                "visibility-expires",
                visibility_expires,
            )
            .property(Expectation::Always, "fifo-group-order", fifo_group_order)
            .property(Expectation::Always, "dedup-window", dedup_window)
            .property(Expectation::Sometimes, "redelivered", redelivered)
            .property(
                Expectation::Sometimes,
                "expired-handle-refused",
                expired_handle_refused,
            )
            .property(Expectation::Sometimes, "all-deleted", all_deleted)
    }
}

/// The body of message `number`: the two bytes every model's messages
/// carry (the sender's incarnation, always 1, and the number), so that the
/// broker actor's watch on expiry knows them.
fn body(number: u8) -> Bytes {
    Bytes::copy_from_slice(&[1, number])
}

/// The number a body names, if it is one of the model's.
fn parse(body: &[u8]) -> Option<u8> {
    let (_, number) = parse_body(body)?;
    (1..=MESSAGES_MAX).contains(&number).then_some(number)
}

/// Sends one SQS action on connection `incarnation`.
fn send(out: &mut Out<Node>, incarnation: Incarnation, request: u64, command: SqsCommand) {
    let msg = Msg::Frames {
        incarnation,
        seq: 0,
        frames: Shared::new(vec![Frame::Sqs { request, command }]),
    };
    out.send(Id::from(BROKER), msg);
}

fn receive(wait: u32) -> SqsCommand {
    SqsCommand::Receive {
        queue: QUEUE.to_owned(),
        max_messages: 1,
        visibility_timeout: None,
        wait_time_seconds: Some(wait),
    }
}

/// The sender: sends its messages one at a time, each once the one before
/// was answered, the first twice in a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSender {
    /// How many messages it sends.
    pub messages: u8,
}

/// The sender's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqsSenderState {
    /// Sends made (the first message counts twice).
    pub sent: u8,
    /// Sends answered.
    pub answered: u8,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

impl SqsSender {
    /// The message its `sent`-th send carries (1-based): 1, 1, 2, 3, ...
    fn number(sent: u8) -> u8 {
        sent.saturating_sub(1).max(1)
    }

    /// Sends the first message.
    pub fn start(&self, out: &mut Out<Node>) -> SqsSenderState {
        let mut state = SqsSenderState {
            sent: 0,
            answered: 0,
            panicked: None,
        };
        self.send_next(&mut state, out);
        state
    }

    /// Sends the next message; the first goes twice in one segment, the
    /// retry right behind it (well within the deduplication window).
    fn send_next(&self, state: &mut SqsSenderState, out: &mut Out<Node>) {
        if state.sent == self.messages + 1 || state.sent > state.answered {
            return;
        }
        let copies = if state.sent == 0 { 2 } else { 1 };
        let mut frames = Vec::new();
        for _ in 0..copies {
            state.sent += 1;
            let number = SqsSender::number(state.sent);
            let entry = SendEntry {
                id: String::new(),
                body: body(number),
                delay_seconds: None,
                attributes: Vec::new(),
                group_id: Some(GROUP.to_owned()),
                deduplication_id: Some(number.to_string()),
            };
            let command = SqsCommand::Send {
                queue: QUEUE.to_owned(),
                entries: vec![entry],
                batch: false,
            };
            let request = u64::from(state.sent);
            frames.push(Frame::Sqs { request, command });
        }
        let msg = Msg::Frames {
            incarnation: 1,
            seq: 0,
            frames: Shared::new(frames),
        };
        out.send(Id::from(BROKER), msg);
    }

    /// A send answered: the next one.
    pub fn on_msg(&self, state: &mut SqsSenderState, msg: Msg, out: &mut Out<Node>) {
        let Msg::SqsReplies { replies, .. } = msg else {
            return;
        };
        for (request, reply) in replies.iter() {
            assert!(
                matches!(reply, SqsReply::Sent(results) if results.iter().all(|(_, r)| r.is_ok())),
                "a send succeeds: {reply:?}"
            );
            assert!(
                *request <= u64::from(state.sent),
                "an answer to a send made"
            );
            state.answered += 1;
            self.send_next(state, out);
        }
    }
}

/// A consumer: the careless one deletes or crashes as it chooses, the
/// careful one long-polls and deletes at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsConsumer {
    /// Long-polls and deletes every message at once.
    pub careful: bool,
}

/// A consumer's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqsConsumerState {
    /// The current connection (a crash opens none: the consumer is gone).
    pub incarnation: Incarnation,
    /// Its next request number.
    pub request: u64,
    /// The receipt handle of the message it holds, if it holds one.
    pub holding: Option<String>,
    /// Receives it may still make.
    pub receives_left: u8,
    /// Empty answers so far (the careful consumer).
    pub empty: u8,
    /// It crashed.
    pub crashed: bool,
    /// The message of the panic in the client's last step, if it panicked.
    pub panicked: Option<String>,
}

/// The careless consumer's choice of what to do with the message it holds.
const DEED: &str = "";

impl SqsConsumer {
    /// Starts with a receive.
    pub fn start(&self, out: &mut Out<Node>) -> SqsConsumerState {
        let mut state = SqsConsumerState {
            incarnation: 1,
            request: 0,
            holding: None,
            receives_left: match self.careful {
                true => CAREFUL_RECEIVES,
                false => CARELESS_RECEIVES,
            },
            empty: 0,
            crashed: false,
            panicked: None,
        };
        self.receive(&mut state, out);
        state
    }

    fn receive(&self, state: &mut SqsConsumerState, out: &mut Out<Node>) {
        if state.receives_left == 0 {
            return;
        }
        state.receives_left -= 1;
        let wait = if self.careful { WAIT } else { 0 };
        self.request(state, out, receive(wait));
    }

    fn request(&self, state: &mut SqsConsumerState, out: &mut Out<Node>, command: SqsCommand) {
        state.request += 1;
        send(out, state.incarnation, state.request, command);
    }

    fn delete(&self, state: &mut SqsConsumerState, out: &mut Out<Node>, handle: String) {
        // The entry id carries the handle, so that the history can tell
        // which handle a delete's answer is for.
        let command = SqsCommand::Delete {
            queue: QUEUE.to_owned(),
            entries: vec![(handle.clone(), handle)],
            batch: false,
        };
        self.request(state, out, command);
    }

    /// A receive answered: the careful consumer deletes what it got and
    /// polls again; the careless one chooses. A delete answered: receive again.
    pub fn on_msg(&self, state: &mut SqsConsumerState, msg: Msg, out: &mut Out<Node>) {
        let Msg::SqsReplies {
            incarnation,
            replies,
            ..
        } = msg
        else {
            return;
        };
        if incarnation != state.incarnation || state.crashed {
            return;
        }
        for (_, reply) in replies.iter() {
            match reply {
                SqsReply::Received(messages) => match messages.first() {
                    Some(message) if self.careful => {
                        self.delete(state, out, message.receipt_handle.clone());
                    }
                    Some(message) => {
                        state.holding = Some(message.receipt_handle.clone());
                        let deeds = vec![Choice::Sqs { crash: false }, Choice::Sqs { crash: true }];
                        out.choose_random(DEED, deeds);
                    }
                    None if self.careful => {
                        state.empty += 1;
                        if state.empty < CAREFUL_EMPTY_MAX {
                            self.receive(state, out);
                        }
                    }
                    None => self.receive(state, out),
                },
                SqsReply::Settled(_) => self.receive(state, out),
                other => panic!("a consumer is not answered {other:?}"),
            }
        }
    }

    /// The careless consumer's choice: delete the message it holds, or crash.
    pub fn on_choice(&self, state: &mut SqsConsumerState, choice: &Choice, out: &mut Out<Node>) {
        let Choice::Sqs { crash } = *choice else {
            return;
        };
        out.remove_random(DEED);
        let Some(handle) = state.holding.take() else {
            return;
        };
        if crash {
            let msg = Msg::Frames {
                incarnation: state.incarnation,
                seq: 0,
                frames: Shared::new(vec![Frame::Disconnect]),
            };
            out.send(Id::from(BROKER), msg);
            state.crashed = true;
            state.incarnation += 1;
        } else {
            self.delete(state, out, handle);
        }
    }
}

/// What the SQS properties read, as messages left their senders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SqsHistory {
    /// The messages whose send the broker answered.
    pub answered: MessageSet,
    /// The message id each message's first answered send got, by number.
    pub message_ids: [Option<String>; MESSAGES_MAX as usize + 1],
    /// Each message's latest receipt handle, by number.
    pub latest_handle: [Option<String>; MESSAGES_MAX as usize + 1],
    /// Hand-outs so far.
    pub handed_out: u16,
    /// The hand-out count at each message's latest hand-out, by number.
    pub latest_hand_out: [u16; MESSAGES_MAX as usize + 1],
    /// The hand-out count when the careful consumer's current poll began.
    pub poll_began: u16,
    /// The messages deleted with their latest handle.
    pub deleted: MessageSet,
    /// A message was handed out twice.
    pub redelivered: bool,
    /// A delete was answered with an error.
    pub delete_refused: bool,
    /// Messages that were due to be visible when a long poll that began
    /// after their latest hand-out was answered with nothing (unless
    /// their retention period had run out).
    pub missed_by_empty_poll: MessageSet,
    /// Earlier messages of a group not yet deleted when a later one was
    /// handed out (unless their retention period had run out).
    pub skipped_in_group: MessageSet,
    /// A repeated send got a message id of its own.
    pub duplicated: bool,
}

/// Records sends, answers, hand-outs and deletes as they leave their sender.
pub fn record_msg_out(
    _: &Settings,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    let mut next = history.sqs.clone();
    let (src, dst) = (usize::from(envelope.src), usize::from(envelope.dst));
    match envelope.msg {
        Msg::Frames { frames, .. } if src == CAREFUL => {
            for frame in frames.iter() {
                if let Frame::Sqs {
                    command: SqsCommand::Receive { .. },
                    ..
                } = frame
                {
                    next.poll_began = next.handed_out;
                }
            }
        }
        Msg::SqsReplies { replies, .. } if src == BROKER => {
            for (request, reply) in replies.iter() {
                next.observe(dst, *request, reply);
            }
        }
        _ => return None,
    }
    (next != history.sqs).then(|| History {
        sqs: next,
        ..history.clone()
    })
}

impl SqsHistory {
    /// Notes one answer of the broker's to actor `dst`.
    fn observe(&mut self, dst: usize, request: u64, reply: &SqsReply) {
        match reply {
            SqsReply::Sent(results) if dst == SENDER => {
                let number = SqsSender::number(u8::try_from(request).unwrap_or(u8::MAX));
                self.answered.insert(number);
                for (_, result) in results {
                    let Ok(sent) = result else { continue };
                    let first = &mut self.message_ids[usize::from(number)];
                    match first {
                        Some(id) => self.duplicated |= *id != sent.message_id,
                        None => *first = Some(sent.message_id.clone()),
                    }
                }
            }
            SqsReply::Received(messages) => {
                if messages.is_empty() && dst == CAREFUL {
                    if let Some(number) = self.due_visible() {
                        self.missed_by_empty_poll.insert(number);
                    }
                }
                for message in messages {
                    let Some(number) = parse(&message.body) else {
                        continue;
                    };
                    self.handed_out += 1;
                    let index = usize::from(number);
                    self.redelivered |= self.latest_handle[index].is_some();
                    for earlier in (1..number).filter(|&earlier| !self.deleted.contains(earlier)) {
                        self.skipped_in_group.insert(earlier);
                    }
                    self.latest_handle[index] = Some(message.receipt_handle.clone());
                    self.latest_hand_out[index] = self.handed_out;
                }
            }
            SqsReply::Settled(results) => {
                for (handle, result) in results {
                    if result.is_err() {
                        self.delete_refused = true;
                        continue;
                    }
                    let current = (1..=MESSAGES_MAX).find(|&number| {
                        self.latest_handle[usize::from(number)].as_ref() == Some(handle)
                    });
                    if let Some(number) = current {
                        self.deleted.insert(number);
                    }
                }
            }
            _ => {}
        }
    }

    /// The message that, as the careful consumer's poll ends empty, was
    /// due to be visible for its whole wait, if one was: the earliest of
    /// the group not deleted, answered, and not handed out since the poll
    /// began (its visibility, 10 s, ran out within the poll's 20 s).
    fn due_visible(&self) -> Option<u8> {
        let first = (1..=MESSAGES_MAX)
            .find(|&number| self.answered.contains(number) && !self.deleted.contains(number))?;
        (self.latest_hand_out[usize::from(first)] <= self.poll_began).then_some(first)
    }
}

/// The messages whose retention period ran out (the broker actor's watch
/// on expiry, from the core's own events).
fn expired(state: &State) -> MessageSet {
    state.actor_states[BROKER]
        .as_broker()
        .map_or_else(MessageSet::default, |broker| broker.expiry.expired)
}

/// `no-lost-after-delete`: every message whose send was answered is held
/// by the broker, was deleted with its latest handle, or outlived its
/// retention period.
pub fn no_lost_after_delete(_: &BrokerModel, state: &State) -> bool {
    let Some(broker) = state.actor_states[BROKER].as_broker() else {
        return true;
    };
    let expired = expired(state);
    let held: Vec<u8> = broker
        .broker
        .sqs_messages(QUEUE)
        .unwrap_or_default()
        .iter()
        .filter_map(|message| parse(&message.body))
        .collect();
    let history = &state.history.sqs;
    (1..=MESSAGES_MAX)
        .filter(|&number| history.answered.contains(number))
        .all(|number| {
            held.contains(&number) || history.deleted.contains(number) || expired.contains(number)
        })
}

/// `visibility-expires`: no long poll that began after a message's latest
/// hand-out ends empty while that message was due to be visible.
pub fn visibility_expires(_: &BrokerModel, state: &State) -> bool {
    let expired = expired(state);
    let missed = state.history.sqs.missed_by_empty_poll;
    (1..=MESSAGES_MAX).all(|number| !missed.contains(number) || expired.contains(number))
}

/// `fifo-group-order`: a message is handed out only once every earlier
/// message of its group was deleted.
pub fn fifo_group_order(_: &BrokerModel, state: &State) -> bool {
    let expired = expired(state);
    let skipped = state.history.sqs.skipped_in_group;
    (1..=MESSAGES_MAX).all(|number| !skipped.contains(number) || expired.contains(number))
}

/// `dedup-window`: a repeated send gets its first send's message id.
pub fn dedup_window(_: &BrokerModel, state: &State) -> bool {
    !state.history.sqs.duplicated
}

/// A message was handed out twice (its visibility ran out).
pub fn redelivered(_: &BrokerModel, state: &State) -> bool {
    state.history.sqs.redelivered
}

/// A delete with an expired handle was answered with an error.
pub fn expired_handle_refused(_: &BrokerModel, state: &State) -> bool {
    state.history.sqs.delete_refused
}

/// Every message was deleted with its latest handle.
pub fn all_deleted(model: &BrokerModel, state: &State) -> bool {
    let messages = model.cfg.messages;
    (1..=messages).all(|number| state.history.sqs.deleted.contains(number))
}
