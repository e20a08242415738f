// Preloaded (`node --require`) before one of amqplib's shipped examples,
// which connect to the default URL, amqp://localhost: points that default at
// the server under test (its port in BROKERLAB_PORT). The examples
// themselves run unmodified.
const amqp = require('amqplib');

const connect = amqp.connect;
amqp.connect = (url, options) =>
  connect(url ?? `amqp://localhost:${process.env.BROKERLAB_PORT}`, options);
