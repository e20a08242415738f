// The seed document's KafkaJS examples, unmodified but for the broker's
// port (BROKERLAB_KAFKA_PORT), the undefined processOrder they call (here
// it counts what arrives), and their end: the consumer stops once the
// single order and the batch of 100 keyed orders have all arrived, and
// the script asserts what came, in order within the partition.
const port = process.env.BROKERLAB_KAFKA_PORT;
const deadline = setTimeout(() => {
  console.error('timed out waiting for the orders');
  process.exit(1);
}, 45000);

const received = [];
let allArrived;
const arrived = new Promise((resolve) => { allArrived = resolve; });
async function processOrder(order) {
  received.push(order);
  if (received.length === 101) allArrived();
}

// ========== Install ==========
// npm install kafkajs
const { Kafka } = require('kafkajs');
const kafka = new Kafka({
  clientId: 'my-app',
  brokers: [`localhost:${port}`]
});
// ========== Producer ==========
async function produceMessage() {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: 'orders',
    messages: [
      {
        key: 'order-12345',
        value: JSON.stringify({
          orderId: '12345',
          customerId: '67890',
          total: 99.99
        })
      }
    ]
  });
  console.log('Message sent');
  await producer.disconnect();
}
// ========== Consumer ==========
let consumer;
async function consumeMessages() {
  consumer = kafka.consumer({ groupId: 'order-processor' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders', fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const order = JSON.parse(message.value.toString());
      console.log('Received:', {
        partition,
        offset: message.offset,
        key: message.key?.toString(),
        value: order
      });
      // Process order
      await processOrder(order);
    }
  });
}
// ========== Batch Producer ==========
async function produceBatch() {
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < 100; i++) {
    messages.push({
      key: `order-${i}`,
      value: JSON.stringify({ orderId: i, status: 'pending' })
    });
  }
  await producer.send({
    topic: 'orders',
    messages
  });
  console.log('Batch sent:', messages.length);
  await producer.disconnect();
}

(async () => {
  await produceMessage();
  await produceBatch();
  await consumeMessages();
  await arrived;
  await consumer.disconnect();
  clearTimeout(deadline);
  const assert = require('assert');
  assert.deepStrictEqual(received[0], { orderId: '12345', customerId: '67890', total: 99.99 });
  for (let i = 0; i < 100; i++) {
    assert.deepStrictEqual(received[i + 1], { orderId: i, status: 'pending' });
  }
  console.log('all 101 orders received in order');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
