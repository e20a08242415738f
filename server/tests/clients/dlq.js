// The seed document's amqplib dead-letter setup (setupDLQ) and consumer with
// retry (consumeWithRetry), plus the assertions of the test: of three tasks,
// the one that processes is acked, the one that fails is nacked without
// requeue and arrives in 'dlq' through 'dlx' with routing key 'failed' and an
// x-death entry, and the one with x-retry-count 3 is given up (acked).
const assert = require('node:assert/strict');
const amqp = require('amqplib');

const URL = `amqp://localhost:${process.env.BROKERLAB_PORT}`;

// ========== RabbitMQ DLQ ==========
async function setupDLQ(channel) {
  // Dead letter exchange
  await channel.assertExchange('dlx', 'direct');
  // Dead letter queue
  await channel.assertQueue('dlq', { durable: true });
  await channel.bindQueue('dlq', 'dlx', 'failed');
  // Main queue with DLQ
  await channel.assertQueue('tasks', {
    durable: true,
    arguments: {
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'failed',
    },
  });
}

async function processMessage(message) {
  if (message.task !== 'ok') throw new Error(`cannot process ${message.task}`);
}

// ========== Consumer with Retry ==========
function consumeWithRetry(channel, expected) {
  const handled = [];
  return new Promise((resolve) => {
    channel.consume('tasks', async (msg) => {
      const message = JSON.parse(msg.content.toString());
      try {
        await processMessage(message);
        channel.ack(msg);
        handled.push(['acked', message.task]);
      } catch (error) {
        console.error('Processing failed:', error.message);
        // Get retry count
        const headers = msg.properties.headers || {};
        const retryCount = headers['x-retry-count'] || 0;
        if (retryCount < 3) {
          // Retry
          channel.nack(msg, false, false); // Send to DLX
          handled.push(['dead-lettered', message.task]);
        } else {
          // Give up
          console.error('Max retries exceeded');
          channel.ack(msg); // Remove from queue
          handled.push(['given up', message.task]);
        }
      }
      if (handled.length === expected) resolve(handled);
    });
  });
}

async function main() {
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  await setupDLQ(channel);
  const tasks = [['ok', undefined], ['broken', undefined], ['hopeless', { 'x-retry-count': 3 }]];
  for (const [task, headers] of tasks) {
    channel.sendToQueue('tasks', Buffer.from(JSON.stringify({ task })), { persistent: true, headers });
  }
  const handled = await consumeWithRetry(channel, tasks.length);
  console.log('handled:', handled);
  assert.deepEqual(handled, [['acked', 'ok'], ['dead-lettered', 'broken'], ['given up', 'hopeless']]);

  const dead = await channel.get('dlq', { noAck: true });
  assert.ok(dead, 'the failed task reached the dead-letter queue');
  assert.deepEqual(JSON.parse(dead.content.toString()), { task: 'broken' });
  assert.equal(dead.fields.exchange, 'dlx');
  assert.equal(dead.fields.routingKey, 'failed');
  assert.equal(dead.properties.deliveryMode, 2);
  const death = dead.properties.headers['x-death'][0];
  console.log('x-death:', death);
  assert.equal(death.queue, 'tasks');
  assert.equal(death.reason, 'rejected');
  assert.equal(death.exchange, '');
  assert.deepEqual(death['routing-keys'], ['tasks']);
  assert.equal(Number(death.count), 1);
  assert.equal(await channel.get('dlq', { noAck: true }), false, 'only the failed task is dead-lettered');
  assert.equal((await channel.checkQueue('tasks')).messageCount, 0);
  await channel.close();
  await connection.close();
  console.log('dlq: the failed task was dead-lettered with its x-death, the others were acked');
}

main().catch((error) => { console.error(error); process.exit(1); });
