//! The simulation: one broker node, the workload's clients, a network and a
//! fault plan, driven by one seeded random source through a discrete-event
//! queue.
//!
//! A run has two phases, after TigerBeetle's VOPR. In the safety phase the
//! plan's faults fire at their rates while the workload runs. Then faults
//! stop, partitions and clogs heal, a crashed broker restarts, and the heal
//! phase runs until nothing is left to happen (the run is quiet) or a bound
//! passes. Liveness is judged at the end of the heal phase: the run must go
//! quiet with every producer's messages confirmed. Safety checkers judge the
//! whole history; `no-lost-confirmed` only once the run settled.
//!
//! Every event the simulation dispatches goes into the trace first, so two
//! runs of one seed can be compared event by event.

mod access;
mod faults;
mod flow;

use crate::broker_node::{BrokerNode, Step};
use crate::check::{self, Kind, Violation};
use crate::client::{Client, SagaStore, SqsProgress, StreamProgress};
use crate::clock::Clock;
use crate::event_queue::EventQueue;
use crate::history::{Entry, History};
use crate::network::{Direction, Network};
use crate::plan::{Millis, Options, MS};
use crate::random::SimRng;
use crate::report::{Report, Summary};
use crate::trace::Trace;
use crate::workload::Topology;
use brokerlab_core::{
    ChannelId, Command, Config, ConnectionId, Flow, Input, MemoryAlarm, Output, Reply,
    StreamCommand, StreamReply,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use faults::FaultKind;

/// Most events one run may dispatch; reaching it fails liveness.
pub const EVENTS_MAX: u64 = 5_000_000;
/// How long the heal phase may take to go quiet.
pub const HEAL_PHASE_MAX_NS: u64 = 120_000 * MS;
/// How long the heal phase of an SQS run may take to go quiet: a FIFO
/// queue's deduplication window (5 minutes of the broker's clock) keeps a
/// timer armed that long after the last send, and the run goes quiet only
/// once it fired.
pub const SQS_HEAL_PHASE_MAX_NS: u64 = 600_000 * MS;
/// The broker's consumer timeout in simulated runs. RabbitMQ's 30 minutes
/// would leave a harmless but distant timer armed after the last delivery,
/// and the heal phase waits for every timer; consumers here work on a message
/// for milliseconds, so ten seconds keeps the rule in play and the run short.
const CONSUMER_TIMEOUT_MS: u64 = 10_000;
/// Most client timers armed at once per client.
const CLIENT_TIMERS_MAX: usize = 4096;

/// What a client sends the broker on its connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Packet {
    /// Opens the connection (handshake and authentication compressed into one).
    Connect,
    /// A command on a channel.
    Command(ChannelId, Command),
    /// A stream command, under its request number.
    Stream(u64, Box<StreamCommand>),
    /// A Pub/Sub command.
    PubSub(Box<brokerlab_core::PubSubCommand>),
    /// An SQS action, under its request number.
    Sqs(u64, Box<brokerlab_core::SqsCommand>),
}

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SimEvent {
    /// A packet reaches the broker.
    ToBroker { conn: ConnectionId, packet: Packet },
    /// A reply reaches a client.
    ToClient {
        client: usize,
        conn: ConnectionId,
        channel: ChannelId,
        reply: Reply,
    },
    /// The broker learns that a connection is gone.
    BrokerDisconnect {
        conn: ConnectionId,
        incarnation: u64,
    },
    /// A client learns that its connection is gone.
    ClientClosed { client: usize, conn: ConnectionId },
    /// A client connects (again).
    Reconnect { client: usize },
    /// A client's deadline.
    ClientTimer { client: usize, at_ns: u64 },
    /// The broker's deadline, for one life of it.
    BrokerTimer { incarnation: u64, at_ns: u64 },
    /// The broker's running fsync completes.
    FsyncDone { incarnation: u64 },
    /// A fault of this kind strikes.
    Fault(FaultKind),
    /// A partition outlasted the connection timeout: both ends give up.
    ConnectionTimeout { client: usize, conn: ConnectionId },
    /// The crashed broker starts again.
    BrokerRestart,
    /// Faults stop; the heal phase begins.
    EndSafetyPhase,
    /// The answer to a stream request reaches a client. (Kept last: a
    /// variant's place enters the trace digest of every run.)
    StreamToClient {
        client: usize,
        conn: ConnectionId,
        request: u64,
        reply: Box<StreamReply>,
    },
    /// A Pub/Sub answer or delivery reaches a client. (Last, as above.)
    PubSubToClient {
        client: usize,
        conn: ConnectionId,
        reply: Box<brokerlab_core::PubSubReply>,
    },
    /// The answer to an SQS request reaches a client. (Last, as above.)
    SqsToClient {
        client: usize,
        conn: ConnectionId,
        request: u64,
        reply: Box<brokerlab_core::SqsReply>,
    },
}

/// The phase a run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Faults fire.
    Safety,
    /// Faults are over; waiting for the run to go quiet until the deadline.
    Heal { deadline_ns: u64 },
}

/// A client node and its connection, as the simulation sees them.
#[derive(Clone, Debug)]
struct Slot {
    client: Client,
    conn: Option<ConnectionId>,
    /// connection.open-ok arrived on `conn`.
    open: bool,
    timers: BTreeSet<u64>,
    /// A crashed client process starts again at this time.
    down_until_ns: u64,
}

/// One deterministic run.
pub struct Simulation {
    seed: u64,
    options: Options,
    rng: SimRng,
    now_ns: u64,
    queue: EventQueue<SimEvent>,
    network: Network,
    broker: BrokerNode,
    slots: Vec<Slot>,
    history: History,
    /// The store of processed message ids that idempotent consumers share.
    processed: BTreeSet<u64>,
    /// Stream producers not yet done.
    streams: StreamProgress,
    /// The saga participants' store of idempotency keys.
    saga_store: SagaStore,
    /// What the SQS clients share.
    sqs: SqsProgress,
    topology: Topology,
    trace: Trace,
    summary: Summary,
    phase: Phase,
    /// Outputs of the broker's latest step, carried out in order.
    outputs: Vec<Output>,
    /// Connections the broker paused, with what arrived on them meanwhile.
    paused: BTreeMap<ConnectionId, VecDeque<Packet>>,
    /// Connections the broker released, whose waiting packets are read
    /// once the current event is done.
    released: Vec<ConnectionId>,
}

impl Simulation {
    /// A run of `seed` with these options; nothing happens until [`Simulation::run`].
    #[must_use]
    pub fn new(seed: u64, options: Options) -> Simulation {
        let config = Config {
            // The checkers judge the run from the broker's events.
            events: true,
            mutant: options.mutant,
            consumer_timeout_ms: Some(CONSUMER_TIMEOUT_MS),
            memory_alarm: options.plan.memory_alarm.map(MemoryAlarm::new),
            groups: options.workload.stream.groups_config(),
            flow: options.plan.credit_flow.map(|ready_high| Flow {
                ready_high,
                ready_low: ready_high / 2,
                stall_ms: 1_000,
            }),
            pubsub: crate::workload::pubsub_redis::pubsub_config(),
            ..Config::default()
        };
        let workload = options.workload.workload;
        let clients = workload.clients(&options.workload);
        let topology = workload.topology(&options.workload);
        let config = Config {
            access: options
                .plan
                .restricted_user
                .then(|| access::restricted(&topology)),
            ..config
        };
        assert_eq!(
            clients.len(),
            options.plan.link_delays.len(),
            "one link per client"
        );
        let stream_producers_left = clients
            .iter()
            .filter(|client| matches!(client, Client::StreamProducer(_)))
            .count();
        let sqs_producers = clients
            .iter()
            .filter(|client| matches!(client, Client::Sqs(sqs) if sqs.is_producer()))
            .count();
        let slots = clients
            .into_iter()
            .map(|client| Slot {
                client,
                conn: None,
                open: false,
                timers: BTreeSet::new(),
                down_until_ns: 0,
            })
            .collect();
        Simulation {
            seed,
            rng: SimRng::for_run(seed),
            now_ns: 0,
            queue: EventQueue::new(),
            network: Network::new(options.plan.link_delays.clone()),
            broker: BrokerNode::start(
                config,
                Clock::new(options.plan.drift_ppm),
                options.plan.compact_above_bytes,
            ),
            slots,
            history: History::new(),
            processed: BTreeSet::new(),
            streams: StreamProgress {
                producers_left: stream_producers_left,
                ..StreamProgress::default()
            },
            saga_store: SagaStore::default(),
            sqs: SqsProgress {
                producers_left: sqs_producers,
                healing: false,
            },
            topology,
            trace: Trace::new(false),
            summary: Summary::default(),
            phase: Phase::Safety,
            outputs: Vec::new(),
            paused: BTreeMap::new(),
            released: Vec::new(),
            options,
        }
    }

    /// Keeps the trace's text lines (for comparing runs and reading failures).
    #[must_use]
    pub fn keeping_trace(mut self) -> Simulation {
        self.trace = Trace::new(true);
        self
    }

    /// The line a run prints before anything else: `SEED=<n> plan=<...>`.
    #[must_use]
    pub fn plan_line(&self) -> String {
        crate::plan_line(self.seed, &self.options)
    }

    /// Runs both phases and judges the history.
    #[must_use]
    pub fn run(self) -> Report {
        self.run_keeping_history().0
    }

    /// Runs both phases, judges the history, and hands it back with the report.
    #[must_use]
    pub fn run_keeping_history(mut self) -> (Report, History) {
        self.schedule_start();
        let settled = self.run_events();
        self.finish(settled)
    }

    fn schedule_start(&mut self) {
        for client in 0..self.slots.len() {
            let at_ns = self.rng.below(10 * MS);
            self.queue.push(at_ns, SimEvent::Reconnect { client });
        }
        self.schedule_first_faults();
        let end_ns = self.options.plan.safety_phase_ns;
        self.queue.push(end_ns, SimEvent::EndSafetyPhase);
    }

    /// Dispatches events until the queue is empty (`true`: the run settled)
    /// or a bound passes (`false`).
    fn run_events(&mut self) -> bool {
        while self.summary.events < EVENTS_MAX {
            let Some((at_ns, event)) = self.queue.pop() else {
                return true;
            };
            if let Phase::Heal { deadline_ns } = self.phase {
                if at_ns > deadline_ns {
                    return false;
                }
            }
            assert!(at_ns >= self.now_ns, "simulated time never runs backwards");
            self.now_ns = at_ns;
            self.trace.record(at_ns, &event);
            self.summary.events += 1;
            self.dispatch(event);
            if !self.released.is_empty() {
                self.release_flow();
            }
        }
        false
    }

    fn dispatch(&mut self, event: SimEvent) {
        match event {
            SimEvent::ToBroker { conn, packet } => self.packet_arrived(conn, packet),
            SimEvent::ToClient {
                client,
                conn,
                channel,
                reply,
            } => self.reply_arrived(client, conn, channel, reply),
            SimEvent::StreamToClient {
                client,
                conn,
                request,
                reply,
            } => self.stream_reply_arrived(client, conn, request, *reply),
            SimEvent::PubSubToClient {
                client,
                conn,
                reply,
            } => self.pubsub_reply_arrived(client, conn, *reply),
            SimEvent::SqsToClient {
                client,
                conn,
                request,
                reply,
            } => self.sqs_reply_arrived(client, conn, request, *reply),
            SimEvent::BrokerDisconnect { conn, incarnation } => {
                if self.broker_is(incarnation) {
                    self.broker_input(Input::Disconnect { conn });
                }
            }
            SimEvent::ClientClosed { client, conn } => self.client_closed(client, conn),
            SimEvent::Reconnect { client } => self.reconnect(client),
            SimEvent::ClientTimer { client, at_ns } => self.client_timer(client, at_ns),
            SimEvent::BrokerTimer { incarnation, at_ns } => {
                if self.broker_is(incarnation) {
                    let step = self
                        .broker
                        .timer_fired(self.now_ns, at_ns, &mut self.outputs);
                    self.carry_out(step);
                }
            }
            SimEvent::FsyncDone { incarnation } => {
                if self.broker_is(incarnation) {
                    let step = self.broker.fsync_done(self.now_ns, &mut self.outputs);
                    self.carry_out(step);
                }
            }
            SimEvent::Fault(kind) => self.fault(kind),
            SimEvent::ConnectionTimeout { client, conn } => {
                if self.network.is_partitioned(client, self.now_ns) {
                    self.drop_connection(conn);
                }
            }
            SimEvent::BrokerRestart => self.restart_broker(),
            SimEvent::EndSafetyPhase => self.end_safety_phase(),
        }
    }

    fn broker_is(&self, incarnation: u64) -> bool {
        self.broker.is_up() && self.broker.incarnation() == incarnation
    }

    fn packet_arrived(&mut self, conn: ConnectionId, packet: Packet) {
        if !self.network.is_open(conn) {
            return;
        }
        if !self.broker.is_up() {
            // Nobody listens: the connection attempt is refused.
            self.drop_connection(conn);
            return;
        }
        let Some(packet) = self.hold_in_flow(conn, packet) else {
            return;
        };
        let input = match packet {
            Packet::Connect => Input::Connect {
                conn,
                user: access::USER.to_owned(),
                vhost: "/".to_owned(),
                channel_max: u16::MAX,
            },
            Packet::Command(channel, command) => Input::Command {
                conn,
                channel,
                command,
            },
            Packet::Stream(request, command) => Input::Stream {
                conn,
                request,
                command,
            },
            Packet::PubSub(command) => Input::PubSub { conn, command },
            Packet::Sqs(request, command) => Input::Sqs {
                conn,
                request,
                command,
            },
        };
        self.broker_input(input);
    }

    fn broker_input(&mut self, input: Input) {
        let step = self.broker.handle(self.now_ns, input, &mut self.outputs);
        self.carry_out(step);
    }

    /// Schedules what the broker's step asked for and delivers its outputs.
    fn carry_out(&mut self, step: Step) {
        // What the step made durable (an fsync, a compaction) comes before
        // the confirms it released.
        for message in self.broker.take_durable() {
            self.history.record(self.now_ns, Entry::Durable { message });
        }
        let incarnation = self.broker.incarnation();
        if step.fsync {
            let done_ns = self.now_ns + self.options.plan.fsync.draw(&mut self.rng);
            self.queue
                .push(done_ns, SimEvent::FsyncDone { incarnation });
        }
        if let Some(at_ns) = step.timer_ns {
            let event = SimEvent::BrokerTimer { incarnation, at_ns };
            self.queue.push(at_ns.max(self.now_ns), event);
        }
        // The step's events happened in the broker, before its replies left it.
        let clock_ns = self.broker.clock_ns(self.now_ns);
        for event in self.broker.take_events() {
            let entry = Entry::Broker { clock_ns, event };
            self.history.record(self.now_ns, entry);
        }
        let outputs = std::mem::take(&mut self.outputs);
        for output in &outputs {
            match output {
                Output::Reply {
                    conn,
                    channel,
                    reply,
                } => self.send_to_client(*conn, *channel, reply.clone()),
                Output::Pause { conn, paused } => self.pause(*conn, *paused),
                Output::Persist(_) => unreachable!("the broker node keeps records on its disk"),
                Output::Stream {
                    conn,
                    request,
                    reply,
                } => self.send_stream_to_client(*conn, *request, reply.clone()),
                Output::PubSub { conn, reply } => self.send_pubsub_to_client(*conn, reply),
                Output::PubSubPublished { published } => {
                    for (conn, reply) in published.replies() {
                        self.send_pubsub_to_client(conn, &reply);
                    }
                }
                Output::Sqs {
                    conn,
                    request,
                    reply,
                } => self.send_sqs_to_client(*conn, *request, reply.clone()),
            }
        }
        self.outputs = outputs;
        self.outputs.clear();
    }

    fn send_to_client(&mut self, conn: ConnectionId, channel: ChannelId, reply: Reply) {
        let Some(client) = self.network.client_of(conn) else {
            return;
        };
        let closes = matches!(
            reply,
            Reply::Close {
                scope: brokerlab_core::CloseScope::Connection,
                ..
            }
        );
        let arrival = self
            .network
            .arrival(&mut self.rng, self.now_ns, conn, Direction::ToClient);
        if let Some(at_ns) = arrival {
            let event = SimEvent::ToClient {
                client,
                conn,
                channel,
                reply,
            };
            self.queue.push(at_ns, event);
        }
        if closes {
            // After connection.close the driver closes the socket.
            self.drop_connection(conn);
        }
    }

    fn send_stream_to_client(&mut self, conn: ConnectionId, request: u64, reply: Box<StreamReply>) {
        let Some(client) = self.network.client_of(conn) else {
            return;
        };
        let arrival = self
            .network
            .arrival(&mut self.rng, self.now_ns, conn, Direction::ToClient);
        if let Some(at_ns) = arrival {
            let event = SimEvent::StreamToClient {
                client,
                conn,
                request,
                reply,
            };
            self.queue.push(at_ns, event);
        }
    }

    fn send_pubsub_to_client(&mut self, conn: ConnectionId, reply: &brokerlab_core::PubSubReply) {
        if let brokerlab_core::PubSubReply::Disconnect(reason) = reply {
            // The subscriber fell behind: the driver closes its connection,
            // and what was still on its way to it is lost.
            if self.network.is_open(conn) {
                let entry = Entry::PubSubCutOff {
                    conn,
                    reason: *reason,
                };
                self.history.record(self.now_ns, entry);
            }
            self.drop_connection(conn);
            return;
        }
        let Some(client) = self.network.client_of(conn) else {
            return;
        };
        let arrival = self
            .network
            .arrival(&mut self.rng, self.now_ns, conn, Direction::ToClient);
        if let Some(at_ns) = arrival {
            let event = SimEvent::PubSubToClient {
                client,
                conn,
                reply: Box::new(reply.clone()),
            };
            self.queue.push(at_ns, event);
        }
    }

    fn send_sqs_to_client(
        &mut self,
        conn: ConnectionId,
        request: u64,
        reply: Box<brokerlab_core::SqsReply>,
    ) {
        let Some(client) = self.network.client_of(conn) else {
            return;
        };
        let arrival = self
            .network
            .arrival(&mut self.rng, self.now_ns, conn, Direction::ToClient);
        if let Some(at_ns) = arrival {
            let event = SimEvent::SqsToClient {
                client,
                conn,
                request,
                reply,
            };
            self.queue.push(at_ns, event);
        }
    }

    fn send_to_broker(&mut self, conn: ConnectionId, packet: Packet) {
        let arrival = self
            .network
            .arrival(&mut self.rng, self.now_ns, conn, Direction::ToBroker);
        if let Some(at_ns) = arrival {
            self.queue.push(at_ns, SimEvent::ToBroker { conn, packet });
        }
    }

    /// Closes `conn` (if open): in-flight messages are lost and both ends learn of it.
    fn drop_connection(&mut self, conn: ConnectionId) {
        self.forget_flow(conn);
        let Some(client) = self.network.close(conn) else {
            return;
        };
        self.history.record(self.now_ns, Entry::Closed { conn });
        let delays = self.options.plan.link_delays[client];
        if self.broker.is_up() {
            let incarnation = self.broker.incarnation();
            let at_ns = self.now_ns + delays.draw(&mut self.rng);
            self.queue
                .push(at_ns, SimEvent::BrokerDisconnect { conn, incarnation });
        }
        let at_ns = self.now_ns + delays.draw(&mut self.rng);
        self.queue
            .push(at_ns, SimEvent::ClientClosed { client, conn });
    }
}

mod clients;

impl Simulation {
    /// Judges the finished run: the prefix-closed safety checkers always,
    /// then liveness, then `no-lost-confirmed` if the run settled.
    fn finish(mut self, settled: bool) -> (Report, History) {
        self.record_counters();
        let mut checked = Vec::new();
        let mut violations = Vec::new();
        for (name, checker) in check::PREFIX_CHECKERS {
            checked.push(name);
            violations.extend(checker(&self.history, &self.topology));
        }
        checked.push(check::LIVENESS);
        let liveness = self.liveness(settled);
        let live = liveness.is_none();
        violations.extend(liveness);
        if live {
            for (name, checker) in check::FINAL_CHECKERS {
                checked.push(name);
                violations.extend(checker(&self.history, &self.topology));
            }
        }
        self.summary.simulated_ns = self.now_ns;
        self.summary.trace_digest = self.trace.digest();
        self.summary.count_messages(&self.history);
        let report = Report {
            seed: self.seed,
            summary: self.summary,
            checked,
            violations,
            lessons: check::pubsub_losses::lessons(&self.history),
            trace: self.trace.lines().map(<[String]>::to_vec),
        };
        (report, self.history)
    }

    /// Records the running broker's counters in the history.
    pub(super) fn record_counters(&mut self) {
        if let Some(counters) = self.broker.counters() {
            let entry = Entry::Counters {
                delivered: counters.delivered(),
                redelivered: counters.redelivered,
            };
            self.history.record(self.now_ns, entry);
        }
    }

    /// The heal phase must go quiet, with every producer done.
    fn liveness(&self, settled: bool) -> Option<Violation> {
        let unfinished = self
            .slots
            .iter()
            .filter(|slot| !slot.client.is_done())
            .count();
        let detail = if !settled {
            format!(
                "the run did not go quiet within {} of healing ({} events dispatched, {} pending)",
                Millis(self.heal_phase_max_ns()),
                self.summary.events,
                self.queue.len()
            )
        } else if unfinished > 0 {
            format!("the run went quiet with {unfinished} client(s) unfinished")
        } else {
            return None;
        };
        Some(Violation {
            checker: check::LIVENESS,
            kind: Kind::Liveness,
            focus: None,
            at_ns: self.now_ns,
            detail,
        })
    }

    /// How long the heal phase may take to go quiet.
    fn heal_phase_max_ns(&self) -> u64 {
        if self.options.workload.workload == crate::Workload::SqsVisibility {
            SQS_HEAL_PHASE_MAX_NS
        } else {
            HEAL_PHASE_MAX_NS
        }
    }

    /// The history recorded so far.
    #[must_use]
    pub fn history(&self) -> &History {
        &self.history
    }
}
