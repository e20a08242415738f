// The seed document's Redis Pub/Sub examples in Node.js (the `redis`
// package: publisher, subscriber, pattern subscribe, multiple channels),
// with the assertions of the test: each subscriber receives what was
// published to its channels after it subscribed, with the channel named,
// and each publish counts its receivers.
const assert = require('assert');
const redis = require('redis');

const url = `redis://127.0.0.1:${process.env.BROKERLAB_RESP_PORT}`;
const received = { events: [], pattern: [], multi: [] };

// ========== Subscriber ==========
async function subscribe() {
  const subscriber = redis.createClient({ url });
  await subscriber.connect();
  await subscriber.subscribe('events', (message) => {
    const event = JSON.parse(message);
    console.log('Received:', event);
    received.events.push(event);
  });
  console.log('Subscribed to events');
  return subscriber;
}

// ========== Pattern Subscribe ==========
async function patternSubscribe() {
  const subscriber = redis.createClient({ url });
  await subscriber.connect();
  // Subscribe to all channels starting with 'user.'
  await subscriber.pSubscribe('user.*', (message, channel) => {
    console.log('Channel:', channel);
    console.log('Message:', JSON.parse(message));
    received.pattern.push([channel, JSON.parse(message)]);
  });
  console.log('Subscribed to user.* pattern');
  return subscriber;
}

// ========== Multiple Channels ==========
async function multiSubscribe() {
  const subscriber = redis.createClient({ url });
  await subscriber.connect();
  await subscriber.subscribe(['channel1', 'channel2', 'channel3'],
    (message, channel) => {
      console.log(`[${channel}]`, message);
      received.multi.push([channel, message]);
    }
  );
  return subscriber;
}

// ========== Publisher ==========
async function publish() {
  const publisher = redis.createClient({ url });
  await publisher.connect();
  const message = { event: 'user-login', userId: '123' };
  const counts = [];
  counts.push(await publisher.publish('events', JSON.stringify(message)));
  console.log('Published:', message);
  counts.push(await publisher.publish('user.login', JSON.stringify({ userId: '123' })));
  counts.push(await publisher.publish('user', JSON.stringify({ userId: 'none' })));
  for (const channel of ['channel1', 'channel2', 'channel3', 'channel4']) {
    counts.push(await publisher.publish(channel, `to ${channel}`));
  }
  await publisher.quit();
  return counts;
}

async function until(condition) {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out: ${JSON.stringify(received)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

(async () => {
  const subscribers = [await subscribe(), await patternSubscribe(), await multiSubscribe()];
  const counts = await publish();
  assert.deepStrictEqual(counts, [1, 1, 0, 1, 1, 1, 0]);
  await until(() => received.events.length === 1 && received.pattern.length === 1 && received.multi.length === 3);
  assert.deepStrictEqual(received.events, [{ event: 'user-login', userId: '123' }]);
  assert.deepStrictEqual(received.pattern, [['user.login', { userId: '123' }]]);
  assert.deepStrictEqual(received.multi, [
    ['channel1', 'to channel1'], ['channel2', 'to channel2'], ['channel3', 'to channel3'],
  ]);
  for (const subscriber of subscribers) {
    await subscriber.quit();
  }
  console.log('ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
