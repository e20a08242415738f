//! End to end in madsim's simulated network and time: a client node
//! publishes persistent messages with confirms to a broker node, consumes
//! and acks them, over the server's real connection code and the same codec.
//! Run with `RUSTFLAGS="--cfg madsim" cargo test -p brokerlab-server`;
//! `MADSIM_TEST_SEED=N` replays one seed.
#![cfg(madsim)]

mod simnet;

use simnet::{broker_node, client_node, on, within, AmqpClient};

const QUEUE: &str = "jobs";
const MESSAGES: u64 = 20;

#[madsim::test]
async fn confirmed_messages_are_consumed_once_in_order_and_acked_through_the_simulated_network() {
    let handle = madsim::runtime::Handle::current();
    let _broker = broker_node(&handle);
    let client = client_node(&handle);
    on(&client, async {
        let mut producer = within("open the producer", AmqpClient::open(0)).await;
        within("declare", producer.declare_durable(QUEUE))
            .await
            .expect("declared");
        within("select", producer.select_confirms())
            .await
            .expect("confirm mode");
        for n in 0..MESSAGES {
            let body = format!("message {n}");
            producer
                .publish_persistent(QUEUE, body.as_bytes())
                .await
                .expect("published");
        }
        within("confirms", producer.await_confirms(MESSAGES))
            .await
            .expect("every publish confirmed");

        let mut consumer = within("open the consumer", AmqpClient::open(0)).await;
        within("consume", consumer.consume(QUEUE, 5))
            .await
            .expect("subscribed");
        for n in 0..MESSAGES {
            let delivery = within("delivery", consumer.next_delivery())
                .await
                .expect("delivered");
            assert_eq!(
                delivery.body,
                format!("message {n}").into_bytes(),
                "in publish order"
            );
            assert!(
                !delivery.redelivered,
                "a first delivery is not flagged redelivered"
            );
            consumer.ack(delivery.tag).await.expect("acked");
        }
        assert!(
            within("get", producer.is_empty(QUEUE))
                .await
                .expect("basic.get answered"),
            "every message was acked, so the queue is empty"
        );
        within("close", consumer.close()).await.expect("closed");
        within("close", producer.close()).await.expect("closed");
    })
    .await;
}
