// The seed document's amqplib work queue (durable 'tasks', persistent
// messages, prefetch 1, manual ack), unchanged but for the port and a 10 ms
// "work" instead of 1 s, plus the assertions of the test: three tasks sent,
// three received persistent and acked one at a time, the queue empty after.
const assert = require('node:assert/strict');
const amqp = require('amqplib');

const URL = `amqp://localhost:${process.env.BROKERLAB_PORT}`;
const SENT = { task: 'process-order', orderId: '12345' };
const EXPECTED = 3;

// ========== Producer ==========
async function sendMessage() {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const queue = 'tasks';
  await channel.assertQueue(queue, { durable: true });
  const message = SENT;
  channel.sendToQueue(queue, Buffer.from(JSON.stringify(message)), { persistent: true });
  console.log('Sent:', message);
  await channel.close();
  await connection.close();
}

// ========== Consumer ==========
async function receiveMessages() {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const queue = 'tasks';
  await channel.assertQueue(queue, { durable: true });
  // Fair dispatch - one message at a time
  channel.prefetch(1);
  console.log('Waiting for messages...');
  let inHand = 0;
  let processed = 0;
  await new Promise((resolve, reject) => {
    channel.consume(queue, (msg) => {
      const message = JSON.parse(msg.content.toString());
      console.log('Received:', message);
      try {
        assert.deepEqual(message, SENT);
        assert.equal(msg.properties.deliveryMode, 2);
        inHand += 1;
        assert.equal(inHand, 1, 'prefetch 1: one unacked message at a time');
      } catch (error) {
        reject(error);
        return;
      }
      // Simulate work
      setTimeout(() => {
        console.log('Processed:', message);
        inHand -= 1;
        channel.ack(msg); // Acknowledge
        processed += 1;
        if (processed === EXPECTED) resolve();
      }, 10);
    });
  });
  const { messageCount } = await channel.checkQueue(queue);
  assert.equal(messageCount, 0, 'every message was acked');
  await channel.close();
  await connection.close();
  return processed;
}

async function main() {
  for (let i = 0; i < EXPECTED; i += 1) await sendMessage();
  const processed = await receiveMessages();
  console.log(`work queue: ${processed} messages received and acked`);
}

main().catch((error) => { console.error(error); process.exit(1); });
