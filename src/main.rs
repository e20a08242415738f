//! The `brokerlab` command line.

#![forbid(unsafe_code)]

use brokerlab::core::Mutant;
use brokerlab::models;
use brokerlab::sim::{self, Options, Workload};
use brokerlab::walkthrough::{self, PATTERNS};
use clap::{Parser, Subcommand};
use std::fs;
use std::io::IsTerminal;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

/// mimalloc rather than glibc's malloc, whose arena locks kept the model
/// checker's second thread from helping (reports/bench-models.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `brokerlab check`'s exit code when a property fails (the simulator's safety code).
const EXIT_PROPERTY_FAILS: u8 = 129;
/// Seeds per workload of the standard sweep.
const SWEEP_SEEDS: u64 = 1000;

/// brokerlab: a reference AMQP 0-9-1 broker on a sans-IO core, and the lab that proves it.
#[derive(Parser)]
#[command(name = "brokerlab", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Subcommand)]
enum Commands {
    /// Walk through one of the seed document's patterns step by step.
    Walkthrough {
        /// Which pattern: work-queue, pubsub, routing, request-reply, dlq-retry, ttl,
        /// priority, ordering-by-key, idempotency, prefetch, event-bus, circuit-breaker,
        /// metrics, graceful-shutdown, back-pressure, saga, durability, or all of them in turn.
        #[arg(long, default_value = "work-queue")]
        pattern: String,
    },
    /// Serve AMQP 0-9-1 (and Kafka with --kafka-listen, Redis Pub/Sub with --resp-listen, Amazon SQS with --sqs-listen) until ctrl-c or SIGTERM (user guest/guest on vhost "/", loopback only).
    Serve {
        /// Address to accept connections on.
        #[arg(long, default_value = "127.0.0.1:5672")]
        listen: std::net::SocketAddr,
        /// Directory of the broker's log.
        #[arg(long, default_value = "brokerlab-data")]
        data_dir: std::path::PathBuf,
        /// Users, vhosts and permissions: a RabbitMQ definitions file (JSON).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// The memory alarm: above this many bytes of messages held (ready,
        /// unacknowledged, or still arriving), a connection that publishes is
        /// blocked (connection.blocked) until the bytes are below three
        /// quarters of it.
        #[arg(long, default_value_t = brokerlab::server::MEMORY_HIGH_WATERMARK_BYTES)]
        memory_high_watermark: u64,
        /// Credit flow: a connection publishing into a consumed queue that
        /// holds more ready messages than this stops being read until the
        /// queue is back to half of it (its consumers' pace); 0 turns it off.
        #[arg(long, default_value_t = brokerlab::server::FLOW_READY_HIGH)]
        flow_ready_mark: usize,
        #[command(flatten)]
        limits: ServeLimits,
        #[command(flatten)]
        http: ServeHttp,
        #[command(flatten)]
        kafka: ServeKafka,
        #[command(flatten)]
        resp: ServeResp,
        #[command(flatten)]
        sqs: ServeSqs,
    },
    /// Load any AMQP 0-9-1 broker and report messages per second and latency percentiles.
    ///
    /// Deletes and declares the queue, subscribes the consumers, publishes
    /// through the default exchange for the duration, then deletes the queue.
    Perf {
        /// The broker: amqp://user:password@host:port/vhost (a bare `/` is vhost "/").
        #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/")]
        uri: String,
        /// Publishing connections.
        #[arg(long, default_value_t = 1)]
        producers: u16,
        /// Consuming connections.
        #[arg(long, default_value_t = 1)]
        consumers: u16,
        /// Message body size in bytes (at least 8, for the timestamp).
        #[arg(long, default_value_t = 16)]
        size: usize,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 10)]
        duration_s: u64,
        /// Publisher confirms (at most --unconfirmed publishes in flight per producer).
        #[arg(long)]
        confirm: bool,
        /// Unconfirmed publishes per producer with --confirm.
        #[arg(long, default_value_t = 256)]
        unconfirmed: usize,
        /// Persistent messages in a durable queue.
        #[arg(long)]
        persistent: bool,
        /// Unacknowledged deliveries per consumer.
        #[arg(long, default_value_t = 256)]
        prefetch: u16,
        /// Messages per second per producer (0: as fast as the broker takes them).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// The queue to load.
        #[arg(long, default_value = "brokerlab-perf")]
        queue: String,
        /// Load an SQS JSON-protocol server at this address (host:port)
        /// instead: workers send, receive and delete in batches of 10.
        #[arg(long)]
        sqs: Option<String>,
        /// SQS workers, each on its own connection (with --sqs).
        #[arg(long, default_value_t = 8)]
        workers: u16,
        /// Load a Kafka-protocol broker at these bootstrap servers
        /// (host:port,...) instead, with librdkafka (a build with the
        /// `kafka-perf` feature): producers and one consumer group on a
        /// topic named by --queue.
        #[arg(long)]
        kafka: Option<String>,
        /// The Kafka producers' acks: 0, 1 or all (with --kafka).
        #[arg(long, default_value = "1")]
        acks: String,
        /// Idempotent Kafka producers, which implies acks=all (with --kafka).
        #[arg(long)]
        idempotent: bool,
        /// The Kafka producers' linger.ms (with --kafka).
        #[arg(long, default_value_t = 5)]
        linger_ms: u32,
        /// The Kafka topic's partitions (with --kafka).
        #[arg(long, default_value_t = 1)]
        partitions: u16,
        /// Records produced into the Kafka topic before the clock starts, for
        /// the consumers to read (with --kafka; --producers 0 measures consuming alone).
        #[arg(long, default_value_t = 0)]
        backlog: u64,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run one seed of the deterministic simulator and check its history.
    ///
    /// Prints the seed's plan, a summary and any violation. Exit codes: 0 pass,
    /// 127 panic in the system under test, 128 liveness violation, 129 safety violation.
    Sim {
        /// Which workload: work-queue, pubsub, topic, dlq-retry, ttl, priority,
        /// idempotent-consumer, request-reply, mixed, stream-keyed, stream-idempotent, saga,
        /// pubsub-redis, sqs-visibility, circuit-breaker.
        #[arg(long, default_value = "work-queue")]
        workload: String,
        /// The seed: it draws the plan and every choice of the run.
        #[arg(long, required_unless_present = "plan")]
        seed: Option<u64>,
        /// Run a deliberately broken broker (lose-on-requeue, no-redelivered-flag, ...).
        #[arg(long)]
        mutant: Option<String>,
        /// Messages in all (default: drawn from the seed).
        #[arg(long)]
        messages: Option<u64>,
        /// Replay a saved plan (seed and options, as `--shrink` writes one) instead of drawing one.
        #[arg(long)]
        plan: Option<std::path::PathBuf>,
        /// Write every event the simulation dispatched, in order, to this file.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Print the history the checkers judged (client and broker entries).
        #[arg(long)]
        history: bool,
        /// Print the history as a Mermaid sequence chart.
        #[arg(long)]
        chart: bool,
        /// When the run fails, shrink it, print the smallest failing case with its
        /// chart, and save its plan as shrunk-<workload>-<seed>.json for --plan.
        #[arg(long)]
        shrink: bool,
        /// Write the run (with --shrink, its shrunk counterexample) as one
        /// self-contained HTML page: a space-time diagram with the violation
        /// highlighted, a step slider showing what the broker held, and the replay command.
        #[arg(long)]
        html: Option<std::path::PathBuf>,
    },
    /// Run the simulator over many seeds of every workload, with swarm faults (the default).
    ///
    /// Prints a summary per workload, every failing seed with its plan, and
    /// the wall-clock figures. Exit code: the highest of the runs' (0 when
    /// every run passed).
    Sweep {
        /// A workload, or `all`.
        #[arg(long, default_value = "all")]
        workload: String,
        /// Seeds per workload: a count from 0 (`1000`) or a range (`5000..6000`).
        #[arg(long, default_value_t = SWEEP_SEEDS.to_string())]
        seeds: String,
        /// Run only shard I of N (the seeds equal to I modulo N), to split a sweep over machines.
        #[arg(long)]
        shard: Option<String>,
        /// Where to write summary.json and summary.md.
        #[arg(long, default_value = "target/brokerlab-sweep")]
        out: std::path::PathBuf,
        /// Threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Sweep a deliberately broken broker.
        #[arg(long)]
        mutant: Option<String>,
        /// Messages per run, in all (default: drawn from each seed, 10 to 180).
        #[arg(long)]
        messages: Option<u64>,
        /// Shrink the first failing seed, print its smallest case and chart, and
        /// write it as a page for the browser, counterexample-<workload>-<seed>.html, to --out.
        #[arg(long)]
        shrink: bool,
        /// `merge DIR...`: combine the summaries of a sharded sweep.
        #[command(subcommand)]
        action: Option<SweepAction>,
    },
    /// Model-check the real core with stateright and print each property's verdict.
    ///
    /// Prints states explored, unique states, time, states per second, every
    /// property's verdict and each counterexample as numbered steps. A panic
    /// in the core is a counterexample to `no-panic`, with its message. Exit
    /// codes: 0 every property holds, 129 a property fails.
    Check {
        /// Which model: work-queue, crash-recovery, ordering, dlq, ttl, idempotency,
        /// single-active-consumer, memory-alarm, credit-flow, restricted-user,
        /// consumer-group, idempotent-producer, stream-fetch, saga, pubsub.
        #[arg(long, default_value = "work-queue")]
        model: String,
        /// Checker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Check a deliberately broken broker (lose-on-requeue, no-redelivered-flag, ...).
        #[arg(long)]
        mutant: Option<String>,
        /// Explore no deeper than this many steps (default: exhaustively).
        #[arg(long)]
        depth: Option<usize>,
        /// How many messages the producer publishes (the saga's steps in saga; 1 to 4 in
        /// pubsub; default: the model's standard).
        #[arg(long)]
        messages: Option<u8>,
        /// How many times the broker may crash (crash-recovery, idempotency, consumer-group,
        /// idempotent-producer, saga; default: the model's standard).
        #[arg(long)]
        crashes: Option<u8>,
        /// Explore one state per class of consumer renamings (depth first).
        #[arg(long)]
        symmetry: bool,
        /// The network: ordered (TCP, the default), lossy, unordered or duplicating
        /// (work-queue, ordering, idempotency; the unordered ones without crashes).
        #[arg(long)]
        network: Option<String>,
    },
    /// Serve Stateright Explorer over a model: step through the real broker's states in a browser.
    Explore {
        /// Which model (as for check).
        #[arg(long, default_value = "work-queue")]
        model: String,
        /// Address to serve the explorer on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
        /// Explore a deliberately broken broker.
        #[arg(long)]
        mutant: Option<String>,
        /// How many messages the producer publishes (default: the model's standard).
        #[arg(long)]
        messages: Option<u8>,
        /// How many times the broker may crash (default: the model's standard).
        #[arg(long)]
        crashes: Option<u8>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pattern = match cli.command {
        Some(Commands::Walkthrough { pattern }) => pattern,
        Some(Commands::Serve {
            listen,
            data_dir,
            config,
            memory_high_watermark,
            flow_ready_mark,
            limits,
            http,
            kafka,
            resp,
            sqs,
        }) => {
            return run_serve(
                listen,
                data_dir,
                config,
                (memory_high_watermark, flow_ready_mark),
                (limits, http, kafka, resp, sqs),
            )
        }
        Some(Commands::Perf {
            uri,
            producers,
            consumers,
            size,
            duration_s,
            confirm,
            unconfirmed,
            persistent,
            prefetch,
            rate,
            queue,
            sqs,
            workers,
            kafka,
            acks,
            idempotent,
            linger_ms,
            partitions,
            backlog,
            json,
        }) => {
            if let Some(bootstrap) = kafka {
                let options = KafkaLoad {
                    bootstrap,
                    producers,
                    consumers,
                    size_bytes: size,
                    duration: std::time::Duration::from_secs(duration_s),
                    acks,
                    idempotent,
                    rate_per_s: rate,
                    linger_ms,
                    topic: queue,
                    partitions,
                    backlog,
                };
                return run_kafka_perf(options, json);
            }
            if let Some(address) = sqs {
                let options = brokerlab::server::perf::SqsOptions {
                    address,
                    workers,
                    size_bytes: size,
                    duration: std::time::Duration::from_secs(duration_s),
                    queue,
                };
                return run_sqs_perf(options, json);
            }
            let target = match uri.parse() {
                Ok(target) => target,
                Err(error) => {
                    eprintln!("brokerlab perf: bad --uri {uri}: {error}");
                    return ExitCode::from(2);
                }
            };
            let options = brokerlab::server::perf::Options {
                target,
                producers,
                consumers,
                size_bytes: size,
                duration: std::time::Duration::from_secs(duration_s),
                confirm,
                persistent,
                prefetch,
                queue,
                unconfirmed_max: unconfirmed,
                rate_per_s: rate,
            };
            return run_perf(options, json);
        }
        Some(Commands::Sim {
            workload,
            seed,
            mutant,
            messages,
            plan,
            trace,
            history,
            chart,
            shrink,
            html,
        }) => {
            let show = Show {
                trace,
                history,
                chart,
                shrink,
                html,
            };
            let what = match plan {
                Some(path) => What::Saved(path),
                None => What::Drawn {
                    workload,
                    seed: seed.expect("clap requires --seed without --plan"),
                    mutant,
                    messages,
                },
            };
            return run_sim(what, &show);
        }
        Some(Commands::Sweep {
            action: Some(SweepAction::Merge { dirs, out }),
            ..
        }) => return run_merge(&dirs, &out),
        Some(Commands::Sweep {
            workload,
            seeds,
            shard,
            out,
            jobs,
            mutant,
            messages,
            shrink,
            action: None,
        }) => {
            let options = SweepOptions {
                jobs,
                messages,
                shrink,
                shard,
                out: Some(out),
            };
            return run_sweep(&workload, &seeds, mutant.as_deref(), options);
        }
        Some(Commands::Check {
            model,
            threads,
            mutant,
            depth,
            messages,
            crashes,
            symmetry,
            network,
        }) => {
            let options = models::check::Options {
                threads,
                depth,
                symmetry,
                stop_at_failure: false,
                stop_at_property: None,
            };
            let overrides = (messages, crashes, network.as_deref());
            return run_check(&model, mutant.as_deref(), overrides, &options);
        }
        Some(Commands::Explore {
            model,
            listen,
            mutant,
            messages,
            crashes,
        }) => return run_explore(&model, listen, mutant.as_deref(), messages, crashes),
        None => {
            let options = SweepOptions {
                jobs: None,
                messages: None,
                shrink: false,
                shard: None,
                out: None,
            };
            return run_sweep("all", &SWEEP_SEEDS.to_string(), None, options);
        }
    };
    let patterns: Vec<&str> = match pattern.as_str() {
        "all" => PATTERNS.to_vec(),
        one if PATTERNS.contains(&one) => vec![one],
        other => {
            eprintln!(
                "unknown pattern '{other}'; known: {}, all",
                PATTERNS.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    match run_all(&patterns) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("brokerlab: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the walkthroughs one after the other, separated by a blank line.
fn run_all(patterns: &[&str]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for (index, pattern) in patterns.iter().enumerate() {
        if index > 0 {
            writeln!(out, "\n")?;
        }
        walkthrough::run(pattern, &mut out).expect("the pattern was checked against PATTERNS")?;
    }
    Ok(())
}

/// `brokerlab check`: checks one model and exits 0 when every property holds, 129 otherwise.
fn run_check(
    name: &str,
    mutant: Option<&str>,
    (messages, crashes, network): (Option<u8>, Option<u8>, Option<&str>),
    options: &models::check::Options,
) -> ExitCode {
    let network = match network.map(|network| (network, models::Links::by_name(network))) {
        None => None,
        Some((_, Some(links))) => Some(links),
        Some((network, None)) => {
            let known = models::Links::NAMES.join(", ");
            eprintln!("unknown network '{network}'; known: {known}");
            return ExitCode::from(2);
        }
    };
    let Some((config, model)) = model_or_exit(name, mutant, messages, crashes, network) else {
        return ExitCode::from(2);
    };
    let search = if options.symmetry {
        "depth first, with symmetry"
    } else {
        "breadth first"
    };
    println!("model {name}: {config}");
    println!("checking {search} on {} threads", options.threads);
    let outcome = models::check::check(model, options);
    print!("{}", models::check::report(&outcome, options));
    if outcome.all_hold() {
        println!("\nresult: every property holds");
        ExitCode::SUCCESS
    } else {
        println!("\nresult: a property fails (exit {EXIT_PROPERTY_FAILS})");
        ExitCode::from(EXIT_PROPERTY_FAILS)
    }
}

/// What `brokerlab sim` prints besides the report.
#[derive(Clone, Debug)]
struct Show {
    trace: Option<PathBuf>,
    history: bool,
    chart: bool,
    shrink: bool,
    html: Option<PathBuf>,
}

/// Which run `brokerlab sim` makes: one drawn from a seed, or a saved plan.
enum What {
    Drawn {
        workload: String,
        seed: u64,
        mutant: Option<String>,
        messages: Option<u64>,
    },
    Saved(PathBuf),
}

/// A plan file: a seed and the options of its run, as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct PlanFile {
    seed: u64,
    options: Options,
}

fn workload_by_name(name: &str) -> Result<Workload, ExitCode> {
    Workload::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Workload::ALL.iter().map(|known| known.name()).collect();
        eprintln!("unknown workload '{name}'; known: {}", known.join(", "));
        ExitCode::from(2)
    })
}

fn mutant_by_name(name: Option<&str>) -> Result<Option<Mutant>, ExitCode> {
    match name.map(|name| (name, Mutant::from_name(name))) {
        None => Ok(None),
        Some((_, Some(mutant))) => Ok(Some(mutant)),
        Some((name, None)) => {
            let known: Vec<&str> = Mutant::ALL.iter().map(|known| known.name()).collect();
            eprintln!("unknown mutant '{name}'; known: {}", known.join(", "));
            Err(ExitCode::from(2))
        }
    }
}

/// The seed and options of the run `what` names.
fn plan_of(what: What) -> Result<(u64, Options), ExitCode> {
    match what {
        What::Drawn {
            workload,
            seed,
            mutant,
            messages,
        } => {
            let workload = workload_by_name(&workload)?;
            let mutant = mutant_by_name(mutant.as_deref())?;
            Ok((seed, sim::sweep::options(workload, seed, mutant, messages)))
        }
        What::Saved(path) => {
            let read = fs::read_to_string(&path).map_err(|error| error.to_string());
            let plan = read.and_then(|text| {
                serde_json::from_str::<PlanFile>(&text).map_err(|error| error.to_string())
            });
            match plan {
                Ok(plan) => Ok((plan.seed, plan.options)),
                Err(error) => {
                    eprintln!(
                        "brokerlab sim: cannot read the plan {}: {error}",
                        path.display()
                    );
                    Err(ExitCode::from(2))
                }
            }
        }
    }
}

/// `brokerlab sim`: runs one seed and exits with the simulator's exit code.
fn run_sim(what: What, show: &Show) -> ExitCode {
    let replay = replay_command(&what);
    let (seed, options) = match plan_of(what) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    println!("{}", sim::plan_line(seed, &options));
    let mut simulation = sim::Simulation::new(seed, options.clone());
    if show.trace.is_some() {
        simulation = simulation.keeping_trace();
    }
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        simulation.run_keeping_history()
    }));
    let Ok((report, history)) = run else {
        println!("PANIC in the system under test (its message is above)");
        println!("result: panic (exit {})", sim::EXIT_PANIC);
        return ExitCode::from(sim::EXIT_PANIC);
    };
    if let (Some(path), Some(lines)) = (&show.trace, &report.trace) {
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        if let Err(error) = fs::write(path, text) {
            eprintln!(
                "brokerlab sim: cannot write the trace to {}: {error}",
                path.display()
            );
        }
    }
    if show.history {
        for timed in history.entries() {
            println!("{} {:?}", sim::plan::Millis(timed.at_ns), timed.entry);
        }
    }
    if show.chart {
        println!("{}", sim::chart::sequence_chart(&history));
    }
    println!("{report}");
    if let Some(attempt) = report
        .violations
        .iter()
        .find_map(|violation| violation.focus)
    {
        println!("history of attempt {attempt:#x}, as far as it shows the violation:");
        for timed in history.excerpt(attempt) {
            println!("  {} {:?}", sim::plan::Millis(timed.at_ns), timed.entry);
        }
    }
    let shrunk = match (show.shrink, report.violations.first()) {
        (true, Some(violation)) => Some(print_shrunk(seed, options.clone(), violation.checker)),
        _ => None,
    };
    if let Some(path) = &show.html {
        let written = match shrunk {
            Some((shrunk, plan_path)) => {
                let replay = format!("brokerlab sim --plan {}", plan_path.display());
                write_viewer(path, seed, shrunk, &replay)
            }
            None => write_page(path, seed, &options, &report, &history, &replay),
        };
        if let Err(error) = written {
            eprintln!("brokerlab sim: cannot write {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::from(report.exit_code())
}

/// Runs `seed` with `options` and writes its page for the browser to `path`.
fn write_viewer(path: &Path, seed: u64, options: Options, replay: &str) -> io::Result<()> {
    let (report, history) = sim::Simulation::new(seed, options.clone()).run_keeping_history();
    write_page(path, seed, &options, &report, &history, replay)
}

/// Writes the page of a finished run to `path`.
fn write_page(
    path: &Path,
    seed: u64,
    options: &Options,
    report: &sim::report::Report,
    history: &sim::history::History,
    replay: &str,
) -> io::Result<()> {
    let title = sim::plan_line(seed, options);
    let text = report.to_string();
    let page = sim::html::Page {
        title: &title,
        report: &text,
        violation: report.violations.first(),
        replay,
    };
    fs::write(path, sim::html::page(history, &page))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The command that replays the run `what` names, as it was given.
fn replay_command(what: &What) -> String {
    match what {
        What::Drawn {
            workload,
            seed,
            mutant,
            messages,
        } => {
            let mut command = format!("brokerlab sim --workload {workload} --seed {seed}");
            if let Some(mutant) = mutant {
                command.push_str(&format!(" --mutant {mutant}"));
            }
            if let Some(messages) = messages {
                command.push_str(&format!(" --messages {messages}"));
            }
            command
        }
        What::Saved(path) => format!("brokerlab sim --plan {}", path.display()),
    }
}

/// Shrinks a failing run, prints the smallest case, its report and its
/// chart, and saves its plan for `brokerlab sim --plan`. Returns the
/// smallest options and where their plan was saved.
fn print_shrunk(seed: u64, options: Options, checker: &str) -> (Options, PathBuf) {
    let shrunk = sim::shrink::shrink(seed, options.clone(), checker);
    println!(
        "\nshrunk {checker} in {} steps ({} runs):",
        shrunk.steps, shrunk.runs
    );
    println!("  from {}", sim::plan_line(seed, &options));
    println!("  to   {}", sim::plan_line(seed, &shrunk.options));
    let path = PathBuf::from(format!(
        "shrunk-{}-{seed}.json",
        shrunk.options.workload.workload.name()
    ));
    let plan = PlanFile {
        seed,
        options: shrunk.options.clone(),
    };
    let json = serde_json::to_string_pretty(&plan).expect("a plan serialises");
    match fs::write(&path, json + "\n") {
        Ok(()) => println!("  saved: brokerlab sim --plan {}", path.display()),
        Err(error) => eprintln!("cannot save the shrunk plan to {}: {error}", path.display()),
    }
    let (_, history) = sim::Simulation::new(seed, shrunk.options.clone()).run_keeping_history();
    println!("{}", shrunk.report);
    println!("{}", sim::chart::sequence_chart(&history));
    (shrunk.options, path)
}

/// What `brokerlab sweep` does besides sweeping.
#[derive(Subcommand)]
enum SweepAction {
    /// Merge the summaries of a sweep's shards into one.
    ///
    /// Each DIR holds the summary.json of one `brokerlab sweep --shard I/N`
    /// (its --out); every shard of the same sweep must be there once. Prints
    /// the merged summary and writes summary.json and summary.md to --out.
    /// Exit code: the highest of the shards' (2 when the summaries are not
    /// the shards of one sweep).
    Merge {
        /// The shards' output directories.
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
        /// Where to write the merged summary.json and summary.md.
        #[arg(long, default_value = "target/brokerlab-sweep-merged")]
        out: std::path::PathBuf,
    },
}

/// `brokerlab sweep merge`: one summary from the shards'.
fn run_merge(dirs: &[std::path::PathBuf], out: &std::path::Path) -> ExitCode {
    let merged = match brokerlab::sweep::merge(dirs) {
        Ok(merged) => merged,
        Err(error) => {
            eprintln!("brokerlab sweep merge: {error}");
            return ExitCode::from(2);
        }
    };
    print!("{}", merged.text);
    match brokerlab::sweep::write_merged(&merged, out) {
        Ok(()) => println!(
            "summaries: {}, {}",
            out.join("summary.json").display(),
            out.join("summary.md").display()
        ),
        Err(error) => eprintln!(
            "brokerlab sweep merge: could not write {}: {error}",
            out.display()
        ),
    }
    ExitCode::from(merged.exit_code)
}

/// How `brokerlab sweep` runs.
#[derive(Clone, Debug)]
struct SweepOptions {
    jobs: Option<usize>,
    messages: Option<u64>,
    shrink: bool,
    shard: Option<String>,
    out: Option<PathBuf>,
}

/// `1000` (seeds 0..1000) or `5000..6000`.
fn parse_seeds(text: &str) -> Option<std::ops::Range<u64>> {
    match text.split_once("..") {
        Some((from, to)) => {
            let (from, to) = (from.parse().ok()?, to.parse().ok()?);
            (from <= to).then_some(from..to)
        }
        None => Some(0..text.parse().ok()?),
    }
}

/// `I/N` with I below N.
fn parse_shard(text: &str) -> Option<(u64, u64)> {
    let (index, count) = text.split_once('/')?;
    let (index, count) = (index.parse().ok()?, count.parse().ok()?);
    (index < count).then_some((index, count))
}

/// `brokerlab sweep` (and the default command): many seeds on every core.
fn run_sweep(workload: &str, seeds: &str, mutant: Option<&str>, options: SweepOptions) -> ExitCode {
    let Some(seeds) = parse_seeds(seeds) else {
        eprintln!("brokerlab sweep: --seeds takes a count (1000) or a range (5000..6000)");
        return ExitCode::from(2);
    };
    let shard = match options.shard.as_deref().map(parse_shard) {
        None => None,
        Some(Some(shard)) => Some(shard),
        Some(None) => {
            eprintln!("brokerlab sweep: --shard takes I/N with I below N");
            return ExitCode::from(2);
        }
    };
    let workloads = if workload == "all" {
        Workload::ALL.to_vec()
    } else {
        match workload_by_name(workload) {
            Ok(workload) => vec![workload],
            Err(code) => return code,
        }
    };
    let mutant = match mutant_by_name(mutant) {
        Ok(mutant) => mutant,
        Err(code) => return code,
    };
    let jobs = options
        .jobs
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, usize::from));
    let plan = brokerlab::sweep::Plan {
        workloads,
        seeds: seeds.clone(),
        jobs,
        mutant,
        messages: options.messages,
        shard,
    };
    let shard_text = shard.map_or(String::new(), |(i, n)| format!(", shard {i}/{n}"));
    println!(
        "brokerlab sweep: seeds {}..{}{shard_text} of {} workload(s), swarm faults, {jobs} job(s)",
        seeds.start,
        seeds.end,
        plan.workloads.len()
    );
    let started = Instant::now();
    let sweep = brokerlab::sweep::run_with_progress(&plan, io::stderr().is_terminal());
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    print!("{sweep}");
    let runs = sweep.runs() as f64;
    let figures = format!(
        "wall: {wall:.2}s, {:.0} seeds/s ({:.0} seeds/hour), {:.2}M events/s, {:.0}x real time",
        runs / wall,
        runs / wall * 3600.0,
        sweep.events() as f64 / wall / 1e6,
        sweep.simulated_ns() as f64 / 1e9 / wall
    );
    println!("{figures}");
    if let Some(out) = &options.out {
        match brokerlab::sweep::write_summaries(&sweep, &plan, &figures, out) {
            Ok(()) => println!("summaries: {0}/summary.json, {0}/summary.md", out.display()),
            Err(error) => eprintln!("cannot write the summaries to {}: {error}", out.display()),
        }
    }
    let failed = sweep.failures().next().cloned();
    if let (true, Some(failed)) = (options.shrink, &failed) {
        let run = sim::sweep::options(failed.workload, failed.seed, mutant, options.messages);
        if let Some(checker) = failed.failed.first().filter(|name| **name != "panic") {
            let (shrunk, plan_path) = print_shrunk(failed.seed, run, checker);
            if let Some(out) = &options.out {
                let page = out.join(format!(
                    "counterexample-{}-{}.html",
                    failed.workload.name(),
                    failed.seed
                ));
                let replay = format!("brokerlab sim --plan {}", plan_path.display());
                if let Err(error) = write_viewer(&page, failed.seed, shrunk, &replay) {
                    eprintln!("cannot write {}: {error}", page.display());
                }
            }
        }
    }
    match failed {
        None => println!("result: every run passed"),
        Some(_) => println!("result: failures (exit {})", sweep.exit_code()),
    }
    ExitCode::from(sweep.exit_code())
}

/// The model `name` with the command line's overrides and its configuration
/// in words, or `None` (having said why) when a name is unknown.
fn model_or_exit(
    name: &str,
    mutant: Option<&str>,
    messages: Option<u8>,
    crashes: Option<u8>,
    network: Option<models::Links>,
) -> Option<(String, models::properties::BrokerModel)> {
    let mutant = match mutant.map(|name| (name, Mutant::from_name(name))) {
        None => None,
        Some((_, Some(mutant))) => Some(mutant),
        Some((name, None)) => {
            let known: Vec<&str> = Mutant::ALL.iter().map(|known| known.name()).collect();
            eprintln!("unknown mutant '{name}'; known: {}", known.join(", "));
            return None;
        }
    };
    let overrides = models::check::Overrides {
        messages,
        crashes,
        mutant,
        network,
    };
    if let Some(refusal) = overrides.refusal(name) {
        eprintln!("{refusal}");
        return None;
    }
    let model = models::check::model_by_name(name, &overrides);
    if model.is_none() {
        let known = models::check::MODELS.join(", ");
        eprintln!("unknown model '{name}'; known: {known}");
    }
    model
}

/// `brokerlab explore`: serves Stateright Explorer until the process is stopped.
fn run_explore(
    name: &str,
    listen: std::net::SocketAddr,
    mutant: Option<&str>,
    messages: Option<u8>,
    crashes: Option<u8>,
) -> ExitCode {
    let Some((config, model)) = model_or_exit(name, mutant, messages, crashes, None) else {
        return ExitCode::from(2);
    };
    println!("model {name}: {config}");
    println!("Stateright Explorer on http://{listen} (ctrl-c to stop)");
    match models::explore::serve(model, listen, 2) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("brokerlab explore: cannot listen on {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The limits of `brokerlab serve`, each defaulting to the server's
/// (RabbitMQ's where it has one; docs/server.md lists them).
#[derive(clap::Args, Debug)]
struct ServeLimits {
    /// Most connections logged in at once; past it a login is refused (530).
    #[arg(long, default_value_t = brokerlab::server::CONNECTIONS_MAX)]
    connections_max: usize,
    /// Most sockets in the handshake at once; past it the oldest gives way.
    #[arg(long, default_value_t = brokerlab::server::HANDSHAKES_MAX)]
    handshakes_max: usize,
    /// The whole handshake, protocol header to connection.open, must fit in this.
    #[arg(long, default_value_t = brokerlab::server::HANDSHAKE_TIMEOUT_MS)]
    handshake_timeout_ms: u64,
    /// A refused login holds its socket this long (unless answered with close-ok).
    #[arg(long, default_value_t = brokerlab::server::FAILED_LOGIN_DELAY_MS)]
    failed_login_delay_ms: u64,
    /// Encoded frames a connection holds for its socket before replies wait.
    #[arg(long, default_value_t = brokerlab::server::OUTGOING_BUFFER_MAX_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    outgoing_buffer_max_bytes: usize,
    /// A connection whose socket takes nothing for this long is closed.
    #[arg(long, default_value_t = brokerlab::server::SEND_TIMEOUT_MS)]
    send_timeout_ms: u64,
    /// Most consumers on one channel; past it basic.consume is refused (530).
    #[arg(long, default_value_t = brokerlab::server::CONSUMERS_PER_CHANNEL_MAX)]
    consumers_per_channel_max: usize,
    /// Most queues in one vhost (RabbitMQ's vhost limit `max-queues`); past
    /// it a new queue's declare is refused (406). Unlimited when not given.
    #[arg(long)]
    queues_per_vhost_max: Option<usize>,
    /// The largest frame, offered in connection.tune (at least 4096).
    #[arg(long, default_value_t = brokerlab::server::FRAME_MAX_BYTES, value_parser = clap::value_parser!(u32).range(4096..))]
    frame_max_bytes: u32,
    /// The highest channel number, offered in connection.tune.
    #[arg(long, default_value_t = brokerlab::core::Config::default().channel_max, value_parser = clap::value_parser!(u16).range(1..))]
    channel_max: u16,
    /// The largest message body; a larger publish closes its channel (406).
    #[arg(long, default_value_t = brokerlab::core::Config::default().max_message_size_bytes, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=brokerlab::core::MESSAGE_SIZE_LIMIT_BYTES as u64))]
    max_message_size_bytes: usize,
}

/// The HTTP listeners of `brokerlab serve`, each off unless given.
#[derive(clap::Args, Debug)]
struct ServeHttp {
    /// Serve `/metrics` in the Prometheus text format, with RabbitMQ's
    /// metric names, on this address (RabbitMQ's is port 15692).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Serve the management HTTP API (a subset of RabbitMQ's, basic auth
    /// against the users) on this address (RabbitMQ's is port 15672).
    #[arg(long)]
    management_listen: Option<std::net::SocketAddr>,
}

/// The Kafka listener of `brokerlab serve`, off unless given.
#[derive(clap::Args, Debug)]
struct ServeKafka {
    /// Serve Kafka's wire protocol on this address (Kafka's is port 9092),
    /// on the same broker and log as AMQP.
    #[arg(long)]
    kafka_listen: Option<std::net::SocketAddr>,
    /// Metadata naming a topic that does not exist creates it (Kafka's
    /// `auto.create.topics.enable`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    kafka_auto_create_topics: bool,
    /// Partitions of a topic created without a count (Kafka's `num.partitions`).
    #[arg(long, default_value_t = brokerlab::server::DEFAULT_PARTITIONS, value_parser = clap::value_parser!(u32).range(1..))]
    kafka_partitions: u32,
    /// A Kafka client on loopback is served without SASL; with false, every
    /// client must authenticate with SASL/PLAIN as one of the users.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    kafka_anonymous_loopback: bool,
}

/// The RESP listener of `brokerlab serve`, off unless given.
#[derive(clap::Args, Debug)]
struct ServeResp {
    /// Serve Redis Pub/Sub over RESP2 and RESP3 on this address (Redis's
    /// is port 6379), on the same broker as AMQP.
    #[arg(long)]
    resp_listen: Option<std::net::SocketAddr>,
    /// A RESP client on loopback is logged in from the start (Redis's
    /// passwordless `default` user); with false, every client must AUTH
    /// as one of the users.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    resp_anonymous_loopback: bool,
}

/// The SQS listener of `brokerlab serve`, off unless given.
#[derive(clap::Args, Debug)]
struct ServeSqs {
    /// Serve Amazon SQS's JSON protocol on this address (ElasticMQ's is
    /// port 9324), for SQS queues in vhost "/" of the same broker.
    #[arg(long)]
    sqs_listen: Option<std::net::SocketAddr>,
    /// An SQS access key and its secret, as ACCESS_KEY:SECRET (repeatable):
    /// with any given, every SQS request must be signed (SigV4) by one of
    /// them; with none, SQS clients on loopback are served with any
    /// credentials, and others are refused.
    #[arg(long = "sqs-access-key", value_parser = parse_access_key)]
    sqs_access_keys: Vec<(String, String)>,
}

/// An `ACCESS_KEY:SECRET` pair.
fn parse_access_key(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((key, secret)) if !key.is_empty() && !secret.is_empty() => {
            Ok((key.to_owned(), secret.to_owned()))
        }
        _ => Err("expected ACCESS_KEY:SECRET".to_owned()),
    }
}

/// `brokerlab serve`: logs to stderr and serves until a signal.
fn run_serve(
    listen: std::net::SocketAddr,
    data_dir: std::path::PathBuf,
    config: Option<std::path::PathBuf>,
    (memory_high_watermark, flow_ready_mark): (u64, usize),
    (limits, http, kafka, resp, sqs): (ServeLimits, ServeHttp, ServeKafka, ServeResp, ServeSqs),
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    let users = match config.as_deref().map(brokerlab::server::Users::from_file) {
        None => brokerlab::server::Users::default(),
        Some(Ok(users)) => users,
        Some(Err(error)) => {
            eprintln!("brokerlab serve: --config {error}");
            return ExitCode::from(2);
        }
    };
    let options = brokerlab::server::Options {
        listen,
        data_dir,
        users,
        config: brokerlab::core::Config {
            flow: brokerlab::server::flow(flow_ready_mark),
            memory_alarm: Some(brokerlab::core::MemoryAlarm::new(memory_high_watermark)),
            channel_max: limits.channel_max,
            max_message_size_bytes: limits.max_message_size_bytes,
            consumers_per_channel_max: Some(limits.consumers_per_channel_max),
            queues_per_vhost_max: limits.queues_per_vhost_max,
            ..brokerlab::core::Config::default()
        },
        connections_max: limits.connections_max,
        handshakes_max: limits.handshakes_max,
        handshake_timeout_ms: limits.handshake_timeout_ms,
        failed_login_delay_ms: limits.failed_login_delay_ms,
        outgoing_buffer_max_bytes: limits.outgoing_buffer_max_bytes,
        send_timeout_ms: limits.send_timeout_ms,
        frame_max_bytes: limits.frame_max_bytes,
        metrics_listen: http.metrics_listen,
        management_listen: http.management_listen,
        kafka_listen: kafka.kafka_listen,
        kafka_auto_create_topics: kafka.kafka_auto_create_topics,
        kafka_partitions: kafka.kafka_partitions,
        kafka_anonymous_loopback: kafka.kafka_anonymous_loopback,
        resp_listen: resp.resp_listen,
        resp_anonymous_loopback: resp.resp_anonymous_loopback,
        sqs_listen: sqs.sqs_listen,
        sqs_access_keys: sqs.sqs_access_keys.into_iter().collect(),
    };
    match brokerlab::server::serve_until_signal(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("brokerlab serve: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `brokerlab perf --sqs`: runs the SQS load and prints its figures (as JSON with `--json`).
/// `brokerlab perf --kafka`'s settings, whether or not the build can load
/// Kafka (without the feature they are parsed and refused).
#[cfg_attr(not(feature = "kafka-perf"), allow(dead_code))]
struct KafkaLoad {
    bootstrap: String,
    producers: u16,
    consumers: u16,
    size_bytes: usize,
    duration: std::time::Duration,
    acks: String,
    idempotent: bool,
    rate_per_s: u32,
    linger_ms: u32,
    topic: String,
    partitions: u16,
    backlog: u64,
}

/// `brokerlab perf --kafka`: runs the Kafka load and prints its figures.
#[cfg(feature = "kafka-perf")]
fn run_kafka_perf(load: KafkaLoad, json: bool) -> ExitCode {
    let options = brokerlab::server::perf::KafkaOptions {
        bootstrap: load.bootstrap,
        producers: load.producers,
        consumers: load.consumers,
        size_bytes: load.size_bytes,
        duration: load.duration,
        acks: load.acks,
        idempotent: load.idempotent,
        rate_per_s: load.rate_per_s,
        linger_ms: load.linger_ms,
        topic: load.topic,
        partitions: load.partitions,
        backlog: load.backlog,
    };
    match brokerlab::server::perf::run_kafka(options) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("brokerlab perf: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Without the `kafka-perf` feature there is no Kafka client to load with.
#[cfg(not(feature = "kafka-perf"))]
fn run_kafka_perf(_load: KafkaLoad, _json: bool) -> ExitCode {
    eprintln!(
        "brokerlab perf: --kafka needs a build with the kafka-perf feature and the system's \
         librdkafka (apt install librdkafka-dev; cargo build --release --features kafka-perf)"
    );
    ExitCode::from(2)
}

fn run_sqs_perf(options: brokerlab::server::perf::SqsOptions, json: bool) -> ExitCode {
    match brokerlab::server::perf::run_sqs(options) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            let latency = &report.receive_latency;
            println!(
                "sent {}, received {}, deleted {} in {:?}: {:.0} messages/s through the cycle; receive latency p50 {} us, p95 {} us, p99 {} us, max {} us",
                report.sent,
                report.received,
                report.deleted,
                report.options.duration,
                report.cycled_per_s(),
                latency.p50_us,
                latency.p95_us,
                latency.p99_us,
                latency.max_us
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("brokerlab perf: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `brokerlab perf`: runs the load and prints its figures (as JSON with `--json`).
fn run_perf(options: brokerlab::server::perf::Options, json: bool) -> ExitCode {
    match brokerlab::server::perf::run(options) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("brokerlab perf: {error}");
            ExitCode::FAILURE
        }
    }
}
