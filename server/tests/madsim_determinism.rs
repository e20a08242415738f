//! Determinism: one seed, one history. The same scenario (confirmed
//! publishes, deliveries, a broker restart, a partition) runs twice in fresh
//! madsim runtimes with the seed of `MADSIM_TEST_SEED` (by default madsim's,
//! from the clock), and the client's traces, stamped with simulated time,
//! are equal; the next seed draws other network delays, so its trace differs.
#![cfg(madsim)]

mod simnet;

use madsim::runtime::{Builder, Handle, Runtime};
use simnet::{broker_node, client_node, heal, on, partition, restart, within, AmqpClient, Trace};
use std::time::{Duration, Instant};

const QUEUE: &str = "jobs";
const MESSAGES: u64 = 6;

/// Publishes and consumes around a restart and a partition, noting what the client sees.
async fn scenario() -> Trace {
    let handle = Handle::current();
    let broker = broker_node(&handle);
    let client = client_node(&handle);
    let start = Instant::now();
    let mut trace = on(&client, async move {
        let mut trace = Trace::default();
        let mut producer = within("open", AmqpClient::open(0)).await;
        within("declare", producer.declare_durable(QUEUE))
            .await
            .expect("declared");
        within("select", producer.select_confirms())
            .await
            .expect("confirm mode");
        for n in 0..MESSAGES {
            producer
                .publish_persistent(QUEUE, format!("m{n}").as_bytes())
                .await
                .expect("published");
            within("confirm", producer.await_confirms(n + 1))
                .await
                .expect("confirmed");
            trace.note(start, format!("confirmed m{n}"));
        }
        trace
    })
    .await;
    restart(&handle, &broker);
    partition(&client, &broker);
    madsim::time::sleep(Duration::from_secs(10)).await;
    heal(&client, &broker);
    trace.note(start, "restarted and healed");
    let after = on(&client, async move {
        let mut trace = Trace::default();
        let mut consumer = within("reconnect", AmqpClient::open(0)).await;
        trace.note(start, "reconnected");
        within("consume", consumer.consume(QUEUE, 2))
            .await
            .expect("subscribed");
        for _ in 0..MESSAGES {
            let delivery = within("delivery", consumer.next_delivery())
                .await
                .expect("delivered");
            let body = String::from_utf8_lossy(&delivery.body).into_owned();
            trace.note(
                start,
                format!(
                    "delivered {} {body} redelivered={}",
                    delivery.tag, delivery.redelivered
                ),
            );
            consumer.ack(delivery.tag).await.expect("acked");
        }
        trace
    })
    .await;
    trace.extend(after);
    trace
}

/// Runs the scenario in a fresh runtime with `seed`, on a thread of its own as madsim does.
fn run_with_seed(seed: u64) -> Trace {
    std::thread::spawn(move || {
        Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(scenario())
    })
    .join()
    .unwrap_or_else(|panic| {
        eprintln!("note: the scenario failed with MADSIM_TEST_SEED={seed}");
        std::panic::resume_unwind(panic)
    })
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let seed = Builder::from_env().seed;
    let first = run_with_seed(seed);
    let second = run_with_seed(seed);
    assert_eq!(
        first.events().len() as u64,
        2 + 2 * MESSAGES,
        "the scenario ran to its end"
    );
    assert_eq!(first, second, "MADSIM_TEST_SEED={seed} replays differently");
    let other = run_with_seed(seed.wrapping_add(1));
    assert_ne!(
        first, other,
        "the trace depends on the seed's network delays"
    );
}
