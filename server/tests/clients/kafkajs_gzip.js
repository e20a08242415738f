// kafkajs with CompressionTypes.GZIP (its built-in codec): a compressed
// batch of keyed records is acknowledged and read back in order.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const kafka = new Kafka({
  clientId: 'gzip',
  brokers: [`127.0.0.1:${process.env.BROKERLAB_KAFKA_PORT}`],
  logLevel: logLevel.NOTHING,
});
const topic = 'kafkajs-gzip';
const count = 100;

async function main() {
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: count }, (_, i) => ({
    key: `key-${i % 5}`,
    value: `gzip record ${i} `.repeat(4),
    partition: 0,
  }));
  await producer.send({ topic, compression: CompressionTypes.GZIP, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-gzip-readers' });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${count} arrived`)), 20000);
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push([message.key.toString(), message.value.toString()]);
        if (got.length === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  messages.forEach((m, i) => {
    if (got[i][0] !== m.key || got[i][1] !== m.value) {
      throw new Error(`record ${i} came back as ${got[i]}`);
    }
  });
  console.log(`${count} gzip records round-tripped in order`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
