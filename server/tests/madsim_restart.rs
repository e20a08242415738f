//! A broker node killed and restarted in madsim: its memory is gone, its
//! simulated disk kept. Every confirmed persistent message is there after
//! the restart and comes back flagged redelivered, whether it had been
//! delivered before the kill or not; every Kafka record produced with
//! acks=-1 is there at its offset, over the Kafka listener.
#![cfg(madsim)]

mod simnet;

use simnet::kafka::KafkaClient;
use simnet::{broker_node, client_node, on, restart, within, AmqpClient};
use std::collections::BTreeSet;

const QUEUE: &str = "jobs";
const MESSAGES: u64 = 12;
/// Deliveries the consumer holds unacked when the broker dies.
const HELD: u16 = 4;

fn body(n: u64) -> Vec<u8> {
    format!("message {n}").into_bytes()
}

#[madsim::test]
async fn confirmed_persistent_messages_survive_a_broker_restart_and_come_back_flagged_redelivered()
{
    let handle = madsim::runtime::Handle::current();
    let broker = broker_node(&handle);
    let client = client_node(&handle);
    let before = on(&client, async {
        let mut producer = within("open the producer", AmqpClient::open(0)).await;
        within("declare", producer.declare_durable(QUEUE))
            .await
            .expect("declared");
        within("select", producer.select_confirms())
            .await
            .expect("confirm mode");
        for n in 0..MESSAGES {
            producer
                .publish_persistent(QUEUE, &body(n))
                .await
                .expect("published");
        }
        within("confirms", producer.await_confirms(MESSAGES))
            .await
            .expect("every publish confirmed");
        let mut consumer = within("open the consumer", AmqpClient::open(0)).await;
        within("consume", consumer.consume(QUEUE, HELD))
            .await
            .expect("subscribed");
        let mut held = Vec::new();
        for _ in 0..HELD {
            let delivery = within("delivery", consumer.next_delivery())
                .await
                .expect("delivered");
            held.push(delivery.body);
        }
        // The clients die with the broker; they are dropped only afterwards.
        (producer, consumer, held)
    })
    .await;
    assert_eq!(before.2.len(), usize::from(HELD));

    restart(&handle, &broker);
    drop(before);

    let delivered = on(&client, async {
        let mut consumer = within("reconnect", AmqpClient::open(0)).await;
        within("consume", consumer.consume(QUEUE, 100))
            .await
            .expect("subscribed");
        let mut delivered = Vec::new();
        for _ in 0..MESSAGES {
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
    let confirmed: BTreeSet<Vec<u8>> = (0..MESSAGES).map(body).collect();
    assert_eq!(bodies, confirmed, "every confirmed message, each once");
    assert!(
        delivered.iter().all(|d| d.redelivered),
        "every recovered message is flagged redelivered"
    );
}

const TOPIC: &str = "orders";
const BATCHES: usize = 5;
const PER_BATCH: usize = 4;

fn record(n: usize) -> String {
    format!("order {n}")
}

#[madsim::test]
async fn kafka_records_produced_with_acks_all_survive_a_broker_restart_at_their_offsets() {
    let handle = madsim::runtime::Handle::current();
    let broker = broker_node(&handle);
    let client = client_node(&handle);
    let before = on(&client, async {
        let mut producer = within("open the producer", KafkaClient::open()).await;
        let partitions = within("create", producer.create_topic(TOPIC))
            .await
            .expect("the topic is created");
        assert_eq!(partitions, 1);
        for batch in 0..BATCHES {
            let values: Vec<String> = (0..PER_BATCH)
                .map(|i| record(batch * PER_BATCH + i))
                .collect();
            let base = within("produce", producer.produce(TOPIC, &values, -1))
                .await
                .expect("acknowledged once synced");
            assert_eq!(base, i64::try_from(batch * PER_BATCH).expect("small"));
        }
        producer
    })
    .await;

    restart(&handle, &broker);
    drop(before);

    let fetched = on(&client, async {
        let mut consumer = within("reconnect", KafkaClient::open()).await;
        let mut fetched = Vec::new();
        while fetched.len() < BATCHES * PER_BATCH {
            let offset = i64::try_from(fetched.len()).expect("small");
            let values = within("fetch", consumer.fetch(TOPIC, offset))
                .await
                .expect("fetched");
            assert!(!values.is_empty(), "records missing after offset {offset}");
            fetched.extend(values);
        }
        fetched
    })
    .await;
    let produced: Vec<String> = (0..BATCHES * PER_BATCH).map(record).collect();
    assert_eq!(
        fetched, produced,
        "every acknowledged record, once, in order"
    );
}
