// The seed document's KafkaJS consumer groups: three members of group
// 'processors' share topic 'orders' (three partitions: the server runs with
// --kafka-partitions 3). The seed's functions are unmodified but for the
// broker's port (BROKERLAB_KAFKA_PORT); the script watches them from the
// outside (kafka.consumer is wrapped to see each member's assignment and
// records), waits until the three split the partitions, then runs the seed's
// batch producer and an idempotent producer (100 keyed records each), and
// asserts that every record reached exactly one member, each partition one
// member, in offset order.
const assert = require('assert');
const port = process.env.BROKERLAB_KAFKA_PORT;
const deadline = setTimeout(() => {
  console.error('timed out; assignments:', JSON.stringify(assignments), 'records:', seen.length);
  process.exit(1);
}, 50000);

// ========== Install ==========
// npm install kafkajs
const { Kafka } = require('kafkajs');
const kafka = new Kafka({
  clientId: 'my-app',
  brokers: [`localhost:${port}`]
});

const consumers = [];
const assignments = {};
const seen = [];
const createConsumer = kafka.consumer.bind(kafka);
kafka.consumer = (config) => {
  const consumer = createConsumer(config);
  const index = consumers.push(consumer) - 1;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assignments[index] = {
      generation: payload.generationId ?? null,
      partitions: payload.memberAssignment.orders || [],
    };
  });
  const run = consumer.run.bind(consumer);
  consumer.run = (options) => run({
    ...options,
    eachMessage: async (delivered) => {
      seen.push({ member: index, partition: delivered.partition, offset: Number(delivered.message.offset), key: delivered.message.key.toString() });
      return options.eachMessage(delivered);
    },
  });
  return consumer;
};

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
// ========== Consumer Groups ==========
async function consumeInGroup(groupId, memberId) {
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders' });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      console.log(`[${memberId}] Processing from partition ${partition}:`,
        JSON.parse(message.value.toString())
      );
    }
  });
}

function split() {
  const current = Object.values(assignments);
  if (current.length !== 3) return false;
  const all = current.flatMap((a) => a.partitions).sort();
  return current.every((a) => a.partitions.length === 1) && JSON.stringify(all) === '[0,1,2]';
}

async function until(condition) {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 100));
}

(async () => {
  // Multiple consumers in same group - messages distributed
  consumeInGroup('processors', 'worker-1');
  consumeInGroup('processors', 'worker-2');
  consumeInGroup('processors', 'worker-3');
  await until(split);
  console.log('assignments:', JSON.stringify(assignments));
  await produceBatch();
  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await idempotent.connect();
  const messages = [];
  for (let i = 100; i < 200; i++) messages.push({ key: `order-${i}`, value: JSON.stringify({ orderId: i }) });
  await idempotent.send({ topic: 'orders', acks: -1, messages });
  await idempotent.disconnect();
  await until(() => seen.length >= 200);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await Promise.all(consumers.map((consumer) => consumer.disconnect()));
  clearTimeout(deadline);
  assert.strictEqual(seen.length, 200, 'each record once');
  const keys = new Set(seen.map((s) => s.key));
  assert.strictEqual(keys.size, 200, 'every key');
  const owner = {};
  const last = {};
  for (const s of seen) {
    assert.ok(owner[s.partition] === undefined || owner[s.partition] === s.member, 'one member per partition');
    owner[s.partition] = s.member;
    assert.ok(last[s.partition] === undefined || s.offset === last[s.partition] + 1, 'offsets in order');
    last[s.partition] = s.offset;
  }
  assert.strictEqual(new Set(Object.values(owner)).size, 3, 'three members consumed');
  console.log('200 records over three members, each partition to one of them');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
