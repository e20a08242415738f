// The seed document's amqplib publish-subscribe example (fanout exchange
// 'notifications', an exclusive server-named queue per subscriber, noAck),
// plus the assertions of the test: two subscribers each receive the one
// published notification.
const assert = require('node:assert/strict');
const amqp = require('amqplib');

const URL = `amqp://localhost:${process.env.BROKERLAB_PORT}`;

async function publishMessage() {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const exchange = 'notifications';
  await channel.assertExchange(exchange, 'fanout', { durable: false });
  const message = { event: 'user-registered', userId: '123' };
  channel.publish(exchange, '', Buffer.from(JSON.stringify(message)));
  console.log('Published:', message);
  await channel.close();
  await connection.close();
  return message;
}

async function subscribeToMessages(received) {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const exchange = 'notifications';
  await channel.assertExchange(exchange, 'fanout', { durable: false });
  const q = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(q.queue, exchange, '');
  console.log('Waiting for notifications...');
  await channel.consume(q.queue, (msg) => {
    const message = JSON.parse(msg.content.toString());
    console.log('Received notification:', message);
    received.push(message);
  }, { noAck: true });
  return connection;
}

async function main() {
  const inboxes = [[], []];
  const subscribers = [];
  for (const inbox of inboxes) subscribers.push(await subscribeToMessages(inbox));
  const sent = await publishMessage();
  const deadline = Date.now() + 10000;
  while (inboxes.some((inbox) => inbox.length < 1) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const subscriber of subscribers) await subscriber.close();
  assert.deepEqual(inboxes, [[sent], [sent]]);
  console.log('pubsub: both subscribers received the notification');
}

main().catch((error) => { console.error(error); process.exit(1); });
