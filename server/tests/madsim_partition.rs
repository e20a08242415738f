//! A network partition between the client node and the broker node in
//! madsim. Both sides stop hearing heartbeats: the client gives its
//! connections up, the broker closes them and requeues what the consumer
//! held. After the partition heals the client reconnects, republishes what
//! was never confirmed, and every confirmed message is consumed.
#![cfg(madsim)]

mod simnet;

use simnet::{broker_node, client_node, heal, on, partition, within, AmqpClient};
use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

const QUEUE: &str = "jobs";
/// Messages confirmed before the partition.
const BEFORE: u64 = 8;
/// Messages published into the partition, never confirmed there.
const DURING: u64 = 4;
/// Deliveries the consumer holds unacked when the partition begins.
const HELD: u16 = 3;
/// Heartbeat interval both clients ask for.
const HEARTBEAT_S: u16 = 2;
/// How long the partition lasts: several heartbeat timeouts.
const PARTITION: Duration = Duration::from_secs(30);

fn body(n: u64) -> Vec<u8> {
    format!("message {n}").into_bytes()
}

#[madsim::test]
async fn a_partition_ends_connections_by_heartbeat_and_loses_nothing_confirmed() {
    let handle = madsim::runtime::Handle::current();
    let broker = broker_node(&handle);
    let client = client_node(&handle);
    let (mut producer, mut consumer, held) = on(&client, async {
        let mut producer = within("open the producer", AmqpClient::open(HEARTBEAT_S)).await;
        within("declare", producer.declare_durable(QUEUE))
            .await
            .expect("declared");
        within("select", producer.select_confirms())
            .await
            .expect("confirm mode");
        for n in 0..BEFORE {
            producer
                .publish_persistent(QUEUE, &body(n))
                .await
                .expect("published");
        }
        within("confirms", producer.await_confirms(BEFORE))
            .await
            .expect("every publish confirmed");
        let mut consumer = within("open the consumer", AmqpClient::open(HEARTBEAT_S)).await;
        within("consume", consumer.consume(QUEUE, HELD))
            .await
            .expect("subscribed");
        let mut held = BTreeSet::new();
        for _ in 0..HELD {
            let delivery = within("delivery", consumer.next_delivery())
                .await
                .expect("delivered");
            assert!(!delivery.redelivered);
            held.insert(delivery.body);
        }
        (producer, consumer, held)
    })
    .await;

    partition(&client, &broker);
    // The old clients stay open to the end: only the broker's own heartbeat
    // check can release what the consumer held.
    let (old_sessions, producer_gone, consumer_gone) = on(&client, async move {
        for n in BEFORE..BEFORE + DURING {
            producer
                .publish_persistent(QUEUE, &body(n))
                .await
                .expect("written into the partition");
        }
        let producer_gone = within("producer", producer.await_confirms(BEFORE + DURING)).await;
        let consumer_gone = within("consumer", consumer.next_delivery())
            .await
            .map(|_| ());
        ((producer, consumer), producer_gone, consumer_gone)
    })
    .await;
    // Either side may notice first: the client by the broker's silence
    // (TimedOut), or the broker by the client's, whose closed socket madsim
    // reports to the client's next write at once (ConnectionReset).
    let connection_lost = |result: io::Result<()>| {
        matches!(result, Err(error)
            if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::ConnectionReset))
    };
    assert!(
        connection_lost(producer_gone),
        "the producer's connection ends, unconfirmed"
    );
    assert!(
        connection_lost(consumer_gone),
        "the consumer's connection ends, with no delivery"
    );
    madsim::time::sleep(PARTITION).await;
    heal(&client, &broker);

    let delivered = on(&client, async {
        // Publishes into the partition were never confirmed: republish them.
        let mut producer = within("reconnect the producer", AmqpClient::open(HEARTBEAT_S)).await;
        within("select", producer.select_confirms())
            .await
            .expect("confirm mode");
        for n in BEFORE..BEFORE + DURING {
            producer
                .publish_persistent(QUEUE, &body(n))
                .await
                .expect("republished");
        }
        within("confirms", producer.await_confirms(DURING))
            .await
            .expect("republishes confirmed");
        let mut consumer = within("reconnect the consumer", AmqpClient::open(HEARTBEAT_S)).await;
        within("consume", consumer.consume(QUEUE, 100))
            .await
            .expect("subscribed");
        let mut delivered = Vec::new();
        for _ in 0..BEFORE + DURING {
            let delivery = within("delivery", consumer.next_delivery())
                .await
                .expect("delivered");
            consumer.ack(delivery.tag).await.expect("acked");
            delivered.push(delivery);
        }
        assert!(
            within("get", consumer.is_empty(QUEUE))
                .await
                .expect("basic.get answered"),
            "nothing beyond the confirmed messages is in the queue"
        );
        delivered
    })
    .await;
    let bodies: BTreeSet<Vec<u8>> = delivered.iter().map(|d| d.body.clone()).collect();
    let confirmed: BTreeSet<Vec<u8>> = (0..BEFORE + DURING).map(body).collect();
    assert_eq!(bodies, confirmed, "every confirmed message, each once");
    for delivery in &delivered {
        assert_eq!(
            delivery.redelivered,
            held.contains(&delivery.body),
            "exactly what the dead consumer held comes back flagged redelivered"
        );
    }
    drop(old_sessions);
}
