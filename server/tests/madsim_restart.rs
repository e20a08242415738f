//! A broker node killed and restarted in madsim: its memory is gone, its
//! simulated disk kept. Every confirmed persistent message is there after
//! the restart and comes back flagged redelivered, whether it had been
//! delivered before the kill or not.
#![cfg(madsim)]

mod simnet;

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
