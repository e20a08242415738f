//! Every workload, end to end: the correct core passes a range of seeds of
//! each, and the runs meet the behaviour the workload exists for.

use brokerlab_sim::{run_catching, Options, Report, Simulation, Workload, EXIT_PASS};

fn run(workload: Workload, seed: u64) -> Report {
    let options = Options::swarm(seed, workload);
    run_catching(seed, options)
        .unwrap_or_else(|panic| panic!("{} seed {seed} panicked: {panic}", workload.name()))
}

fn passes(workload: Workload, seeds: u64) -> Vec<Report> {
    (0..seeds)
        .map(|seed| {
            let report = run(workload, seed);
            assert_eq!(
                report.exit_code(),
                EXIT_PASS,
                "{} seed {seed}:\n{report}",
                workload.name()
            );
            report
        })
        .collect()
}

#[test]
fn pubsub_passes_with_every_copy_consumed() {
    passes(Workload::Pubsub, 40);
}

#[test]
fn pubsub_redis_passes_and_reports_what_each_subscriber_missed() {
    let reports = passes(Workload::PubsubRedis, 40);
    assert!(reports.iter().all(|report| !report.lessons.is_empty()));
    assert!(reports.iter().all(|report| report.summary.deliveries > 0));
    // Stalling subscribers are cut off by the output-buffer limit in some runs.
    let cut_off = reports
        .iter()
        .filter(|report| {
            (report.lessons.iter()).any(|lesson| lesson.contains("output-buffer limit"))
        })
        .count();
    assert!(
        cut_off >= 3,
        "only {cut_off} of 40 runs cut a subscriber off"
    );
    let unexplained: Vec<(u64, &String)> = reports
        .iter()
        .flat_map(|report| report.lessons.iter().map(|lesson| (report.seed, lesson)))
        .filter(|(_, lesson)| lesson.contains("unexplained"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "subscribers missed messages for no reason: {unexplained:?}"
    );
}

#[test]
fn sqs_visibility_passes_with_redeliveries_and_redrives() {
    let reports = passes(Workload::SqsVisibility, 40);
    assert!(reports.iter().all(|report| report.summary.confirms > 0));
    // Visibility timeouts run out (messages are received again) in most
    // runs, and messages given up often enough reach the dead-letter queue.
    let redelivered = (reports.iter())
        .filter(|report| report.summary.redeliveries > 0)
        .count();
    let redriven = (reports.iter())
        .filter(|report| report.summary.dead_lettered > 0)
        .count();
    assert!(
        redelivered >= 30,
        "only {redelivered} of 40 runs redelivered"
    );
    assert!(
        redriven >= 10,
        "only {redriven} of 40 runs redrove a message"
    );
}

#[test]
fn sqs_visibility_replays_to_a_byte_identical_trace() {
    for seed in 0..20 {
        let options = Options::swarm(seed, Workload::SqsVisibility);
        let first = Simulation::new(seed, options.clone()).keeping_trace().run();
        let second = Simulation::new(seed, options).keeping_trace().run();
        assert!(first.trace.as_ref().is_some_and(|lines| !lines.is_empty()));
        assert_eq!(first.trace, second.trace, "seed {seed}: traces differ");
        assert_eq!(first.to_string(), second.to_string(), "seed {seed}");
    }
}

#[test]
fn circuit_breaker_passes_with_every_payment_handed_back_and_consumed() {
    passes(Workload::CircuitBreaker, 40);
}

#[test]
fn topic_passes_with_every_routed_copy_consumed() {
    passes(Workload::Topic, 40);
}

#[test]
fn dlq_retry_passes_with_retries_through_the_wait_queue() {
    passes(Workload::DlqRetry, 40);
}

#[test]
fn ttl_passes_without_expired_deliveries() {
    passes(Workload::Ttl, 40);
}

#[test]
fn priority_passes_in_priority_order() {
    passes(Workload::Priority, 40);
}

#[test]
fn idempotent_consumer_passes_with_one_effect_per_message() {
    passes(Workload::IdempotentConsumer, 40);
}

#[test]
fn mixed_passes() {
    passes(Workload::Mixed, 20);
}

#[test]
fn request_reply_passes_with_every_request_answered() {
    let reports = passes(Workload::RequestReply, 40);
    assert!(reports.iter().all(|report| report.summary.deliveries > 0));
}

#[test]
fn credit_flow_pauses_publishers_without_losing_or_stalling_anything() {
    // A third of the swarm's runs turn credit flow on at a small mark; in
    // some of those the producers outrun the consumers and are paused.
    let reports = passes(Workload::WorkQueue, 60);
    let paused = reports
        .iter()
        .filter(|report| report.summary.flow_pauses > 0)
        .count();
    assert!(paused >= 3, "only {paused} of 60 runs paused a publisher");
    let unflowed = (0..60)
        .map(|seed| Options::swarm(seed, Workload::WorkQueue))
        .filter(|options| options.plan.credit_flow.is_none())
        .count();
    assert!(unflowed >= 20, "most runs keep credit flow off");
    // Producers that republished on every late confirm once made this run
    // pile up duplicates behind each pause and never finish.
    let report = run(Workload::WorkQueue, 231);
    assert!(report.summary.flow_pauses > 0);
    assert_eq!(report.exit_code(), EXIT_PASS, "{report}");
}

#[test]
fn the_memory_alarm_blocks_publishers_without_losing_or_stalling_anything() {
    // A quarter of the swarm's runs turn the memory alarm on at 4 to 64
    // messages' bytes: in some of them the broker holds more than that,
    // and publishers are blocked until the consumers bring the bytes down.
    let reports = passes(Workload::WorkQueue, 80);
    let alarmed: Vec<_> = (0..80)
        .filter(|&seed| {
            Options::swarm(seed, Workload::WorkQueue)
                .plan
                .memory_alarm
                .is_some()
        })
        .collect();
    assert!(
        alarmed.len() >= 10,
        "only {} runs with the alarm",
        alarmed.len()
    );
    let blocked = alarmed
        .iter()
        .filter(|&&seed| {
            let options = Options::swarm(seed, Workload::WorkQueue);
            options.plan.credit_flow.is_none() && reports[seed as usize].summary.flow_pauses > 0
        })
        .count();
    assert!(
        blocked >= 1,
        "no run without credit flow was paused by the alarm"
    );
}

#[test]
fn stream_keyed_passes_with_every_acknowledged_record_read() {
    let reports = passes(Workload::StreamKeyed, 40);
    // A reader that resets to the latest offset under tight retention may
    // skip every record; every other run reads.
    let resets_to_earliest = |seed: u64| {
        !Options::swarm(seed, Workload::StreamKeyed)
            .workload
            .stream
            .reset_latest
    };
    assert!((0..40)
        .filter(|seed| resets_to_earliest(*seed))
        .all(|seed| reports[seed as usize].summary.deliveries > 0));
}

#[test]
fn stream_keyed_passes_through_rebalance_storms() {
    let reports = passes(Workload::StreamKeyed, 40);
    let rebalance = brokerlab_sim::simulation::FaultKind::ALL
        .iter()
        .position(|kind| kind.name() == "rebalance")
        .expect("a fault kind");
    let stormed = reports
        .iter()
        .filter(|report| report.summary.faults[rebalance] > 0)
        .count();
    assert!(stormed >= 5, "only {stormed} runs with a rebalance storm");
}

#[test]
fn stream_idempotent_passes_while_links_drop_under_its_producers() {
    let reports = passes(Workload::StreamIdempotent, 40);
    // Link drops are on in every seed of the workload (index 0 of the fault counts).
    assert!(
        reports
            .iter()
            .filter(|report| report.summary.faults[0] > 0)
            .count()
            > 20
    );
}

#[test]
fn saga_passes_with_every_confirmed_saga_ended_all_or_nothing() {
    let reports = passes(Workload::Saga, 40);
    // Participants received commands, and applied some, in every run.
    assert!(reports
        .iter()
        .all(|report| report.summary.deliveries > 0 && report.summary.effects > 0));
}
