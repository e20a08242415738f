//! The reference model: the broker of SEMANTICS.md sections 1 to 5, for one
//! vhost, written as plainly as possible. Everything lives in `Vec`s found by
//! linear scans; a queue's ready messages are one `Vec` kept in delivery
//! order; nothing is indexed, cached or shared with the core.
//!
//! The model follows the rules. Where a rule leaves a detail open and the
//! client can still see it (the order of replies within one input, round-robin
//! order, generated names), the model copies the core's choice, and the code
//! says so at that spot with the words "a choice, not a rule".
//!
//! This file holds the state, time and the step loop; `connections` holds
//! connections, channels and errors; `queues` exchanges, queues and
//! bindings; `messages` the message path into and out of queues (publish,
//! deliver, requeue, expire, dead-letter); `consumers` the consumer side
//! (get, consume, qos, settles, recover).

mod connections;
mod consumers;
mod messages;
mod queues;

use super::observe::{Seen, SeenReply};
use super::steps::{Cmd, Step};
use brokerlab_core::args::QueueArgs;
use brokerlab_core::{FieldTable, Reply, ReplyCode};

/// The most dead-letter publications one input may cause in a run of the
/// model's size; cycle detection ends every automatic loop long before.
const DEAD_LETTERS_PER_INPUT_MAX: usize = 10_000;

/// Why a message died (SEMANTICS.md section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Rejected,
    Expired,
    MaxLen,
    DeliveryLimit,
}

/// A message as the model tracks it.
#[derive(Clone, Debug)]
pub struct Msg {
    pub id: u64,
    pub exchange: String,
    pub routing_key: String,
    pub priority: Option<u8>,
    pub expiration: Option<String>,
    pub body: Vec<u8>,
    /// The x-death history as (queue, reason) pairs, newest first.
    pub deaths: Vec<(String, Reason)>,
    /// It was dead-lettered at least once.
    pub dead_lettered: bool,
}

/// A message in a queue, ready or delivered and unacknowledged.
#[derive(Clone, Debug)]
pub struct Entry {
    pub msg: Msg,
    /// Position in the queue's enqueue order.
    pub seq: u64,
    /// Expiry time in ms, if it has a TTL.
    pub expires_at_ms: Option<u64>,
    pub redelivered: bool,
    /// How many times it was returned to the queue.
    pub returns: u32,
    /// Its priority in this queue (0 without `x-max-priority`).
    pub level: u8,
}

/// A queue.
#[derive(Clone, Debug)]
pub struct Queue {
    /// Unique for the life of the model (a redeclared name is a new queue).
    pub uid: u64,
    /// The core's storage slot, for the orders the core picks by it.
    pub slot: usize,
    pub name: String,
    pub owner: Option<u64>,
    pub durable: bool,
    pub auto_delete: bool,
    /// The declared arguments, as sent, for redeclare equivalence.
    pub declared: FieldTable,
    pub args: QueueArgs,
    /// Ready messages in delivery order: highest level first, then by `seq`.
    pub ready: Vec<Entry>,
    pub next_seq: u64,
    /// Consumer uids in registration order.
    pub consumers: Vec<u64>,
    /// Where round-robin dispatch looks first.
    pub cursor: usize,
}

/// A consumer.
#[derive(Clone, Debug)]
pub struct Consumer {
    pub uid: u64,
    pub tag: String,
    pub conn: u64,
    pub channel: u16,
    pub queue: u64,
    pub no_ack: bool,
    pub exclusive: bool,
    pub prefetch: u16,
    pub unacked: u32,
}

/// A delivery waiting for its settle.
#[derive(Clone, Debug)]
pub struct Unacked {
    pub tag: u64,
    pub queue: u64,
    pub entry: Entry,
    pub consumer: Option<u64>,
}

/// An open channel.
#[derive(Clone, Debug)]
pub struct Chan {
    pub conn: u64,
    pub number: u16,
    pub consumer_prefetch: u16,
    pub channel_prefetch: u16,
    pub next_tag: u64,
    /// In tag order.
    pub unacked: Vec<Unacked>,
    pub next_confirm: Option<u64>,
    pub last_queue: Option<String>,
    /// The expiration and priority of the channel's last publish, which a
    /// repeated publish carries again.
    pub last_properties: (Option<&'static str>, Option<u8>),
}

/// A connection.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    /// The broker closed it with an error; it ignores everything until Disconnect.
    pub closing: bool,
    /// Its exclusive queues (uids).
    pub exclusive: Vec<u64>,
}

/// A binding of a queue to a predeclared exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub exchange: String,
    pub queue: u64,
    pub key: String,
}

/// An error a command caused: its reply code.
pub type Fault = ReplyCode;

/// The reference broker.
#[derive(Default)]
pub struct Model {
    pub now_ms: u64,
    pub conns: Vec<Conn>,
    pub channels: Vec<Chan>,
    pub closing_channels: Vec<(u64, u16)>,
    pub queues: Vec<Queue>,
    pub bindings: Vec<Binding>,
    pub consumers: Vec<Consumer>,
    /// Dead-lettered copies waiting to be published, oldest first.
    pub dead_letters: Vec<(Msg, Reason)>,
    pub next_message_id: u64,
    pub next_generated_name: u64,
    pub next_uid: u64,
    pub free_slots: Vec<usize>,
    pub slots_used: usize,
    /// Replies of the input being handled.
    pub replies: Vec<Seen>,
}

impl Model {
    /// A broker with nothing but the predeclared exchanges, at `now_ms`.
    pub fn new(now_ms: u64) -> Model {
        Model {
            now_ms,
            next_message_id: 1,
            next_generated_name: 1,
            next_uid: 1,
            ..Model::default()
        }
    }

    /// Runs one step; returns the replies it causes, in order.
    pub fn step(&mut self, step: &Step) -> Vec<Seen> {
        for part in step.parts() {
            self.single_step(&part);
        }
        std::mem::take(&mut self.replies)
    }

    fn single_step(&mut self, step: &Step) {
        match step {
            Step::Advance(ms) => self.advance(*ms),
            Step::Connect(conn) => {
                self.begin_input();
                self.connect(*conn);
                self.flush_dead_letters();
            }
            Step::Disconnect(conn) => {
                self.begin_input();
                self.disconnect(*conn);
                self.flush_dead_letters();
            }
            Step::Send {
                conn,
                channel,
                command,
            } => {
                self.begin_input();
                self.command(*conn, *channel, command);
                self.flush_dead_letters();
            }
            Step::Reopen { .. } | Step::Reconnect(_) | Step::Heal | Step::Batch(_) => {
                unreachable!("split by `parts`")
            }
        }
    }

    /// Moves time forward, expiring queue heads at the instant each expires
    /// (the driver of the core jumps to every deadline the same way).
    fn advance(&mut self, ms: u64) {
        let target_ms = self.now_ms + ms;
        loop {
            match self.queues.iter().filter_map(Queue::head_expiry_ms).min() {
                Some(at_ms) if at_ms <= target_ms => {
                    self.now_ms = self.now_ms.max(at_ms);
                    self.begin_input();
                }
                _ => break,
            }
        }
        self.now_ms = target_ms;
        self.begin_input();
    }

    /// What happens at the start of every input: due timers fire, and
    /// expired queue heads go.
    ///
    /// Within `advance` these are the heads expiring at that instant; at
    /// other inputs there are none, because every other change of a head
    /// expires what it uncovers at once. Queues are expired in order of their
    /// earliest head expiry, then of their storage slot, because that is the
    /// order of the core's timers: a choice, not a rule.
    fn begin_input(&mut self) {
        let now_ms = self.now_ms;
        let mut due: Vec<(u64, usize, u64)> = self
            .queues
            .iter()
            .filter_map(|queue| {
                let at_ms = queue.head_expiry_ms()?;
                (at_ms <= now_ms).then_some((at_ms, queue.slot, queue.uid))
            })
            .collect();
        due.sort();
        for (_, _, queue) in due {
            self.run_queue(queue);
        }
        self.flush_dead_letters();
    }

    fn reply(&mut self, conn: u64, channel: u16, reply: SeenReply) {
        self.replies.push(Seen {
            conn,
            channel,
            reply,
        });
    }

    fn reply_other(&mut self, conn: u64, channel: u16, reply: Reply) {
        self.reply(conn, channel, SeenReply::Other(reply));
    }

    fn uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }

    /// A server-generated name. Queue names and consumer tags share one
    /// counter, and a name is used up even when the command then fails: a
    /// choice, not a rule (RabbitMQ draws random names).
    fn generate_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{}", self.next_generated_name);
        self.next_generated_name += 1;
        name
    }

    pub fn conn(&self, id: u64) -> Option<&Conn> {
        self.conns.iter().find(|conn| conn.id == id)
    }

    pub fn chan(&self, conn: u64, number: u16) -> Option<&Chan> {
        self.channels
            .iter()
            .find(|chan| chan.conn == conn && chan.number == number)
    }

    fn chan_mut(&mut self, conn: u64, number: u16) -> &mut Chan {
        self.channels
            .iter_mut()
            .find(|chan| chan.conn == conn && chan.number == number)
            .expect("the channel is open")
    }

    /// The step as it will run: a delivery tag chosen from the channel's
    /// outstanding deliveries (see `Tag`; nothing to do when there is none),
    /// a `Heal` turned into the steps that reconnect closed connections and
    /// reopen closed channels.
    pub fn resolve_step(&self, step: &Step) -> Step {
        let Step::Send {
            conn,
            channel,
            command,
        } = step
        else {
            if *step == Step::Heal {
                return Step::Batch(self.healing_steps());
            }
            return step.clone();
        };
        let outstanding: Vec<u64> = match self.chan(*conn, *channel) {
            Some(chan) => chan.unacked.iter().map(|unacked| unacked.tag).collect(),
            None => Vec::new(),
        };
        match command.resolve(&outstanding) {
            Some(command) => Step::Send {
                conn: *conn,
                channel: *channel,
                command,
            },
            None => Step::Batch(Vec::new()),
        }
    }

    /// The steps that reconnect a connection the broker closed (or that is
    /// gone), and open channels 1 and 2 where they are not open.
    fn healing_steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for conn in 1..=2 {
            let send = |channel, command| Step::Send {
                conn,
                channel,
                command,
            };
            match self.conn(conn) {
                Some(state) if state.closing => {
                    steps.extend(Step::Reconnect(conn).parts());
                    continue;
                }
                Some(_) => {}
                None => steps.push(Step::Connect(conn)),
            }
            for channel in 1..=2 {
                if self.closing_channels.contains(&(conn, channel)) {
                    steps.push(send(channel, Cmd::CloseOk));
                }
                if self.chan(conn, channel).is_none() {
                    steps.push(send(channel, Cmd::Open));
                }
            }
        }
        steps
    }

    /// Publishes every waiting dead-lettered copy, and the ones they cause, in order.
    fn flush_dead_letters(&mut self) {
        for _ in 0..DEAD_LETTERS_PER_INPUT_MAX {
            if self.dead_letters.is_empty() {
                return;
            }
            let (msg, reason) = self.dead_letters.remove(0);
            self.publish_dead_letter(msg, reason);
        }
        panic!("dead-lettering did not end within {DEAD_LETTERS_PER_INPUT_MAX} publications");
    }
}
