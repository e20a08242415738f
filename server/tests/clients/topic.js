// The seed document's amqplib topic-exchange example (exchange 'logs',
// subscribers on 'error.*', '*.critical' and '#'), plus the assertions of the
// test: each subscriber receives exactly the routing keys its pattern matches.
const assert = require('node:assert/strict');
const amqp = require('amqplib');

const URL = `amqp://localhost:${process.env.BROKERLAB_PORT}`;
const ROUTING_KEYS = ['error.critical', 'error.disk', 'info.critical', 'info.startup', 'error.db.down'];
const EXPECTED = {
  'error.*': ['error.critical', 'error.disk'],
  '*.critical': ['error.critical', 'info.critical'],
  '#': ROUTING_KEYS,
};

async function publishToTopic(routingKeys) {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const exchange = 'logs';
  await channel.assertExchange(exchange, 'topic', { durable: false });
  for (const routingKey of routingKeys) {
    const message = { level: routingKey.split('.')[0], message: 'Database connection failed' };
    channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(message)));
    console.log('Published to', routingKey, ':', message);
  }
  await channel.close();
  await connection.close();
}

async function subscribeToTopic(pattern, received) {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  const exchange = 'logs';
  await channel.assertExchange(exchange, 'topic', { durable: false });
  const q = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(q.queue, exchange, pattern);
  console.log('Waiting for logs matching:', pattern);
  await channel.consume(q.queue, (msg) => {
    const message = JSON.parse(msg.content.toString());
    console.log('[', msg.fields.routingKey, ']', pattern, message);
    received.push(msg.fields.routingKey);
  }, { noAck: true });
  return connection;
}

async function main() {
  const inboxes = {};
  const subscribers = [];
  // Subscribe to different patterns
  for (const pattern of Object.keys(EXPECTED)) {
    inboxes[pattern] = [];
    subscribers.push(await subscribeToTopic(pattern, inboxes[pattern]));
  }
  await publishToTopic(ROUTING_KEYS);
  const total = Object.values(EXPECTED).reduce((sum, keys) => sum + keys.length, 0);
  const deadline = Date.now() + 10000;
  const arrived = () => Object.values(inboxes).reduce((sum, keys) => sum + keys.length, 0);
  while (arrived() < total && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Anything that should not have arrived has had its chance to.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const subscriber of subscribers) await subscriber.close();
  assert.deepEqual(inboxes, EXPECTED);
  console.log('topic: every pattern received exactly its matching routing keys');
}

main().catch((error) => { console.error(error); process.exit(1); });
