// The seed document's AWS SQS example in Node.js (@aws-sdk/client-sqs:
// send with a message attribute, long-poll receive and delete, batch
// send), pointed at brokerlab's SQS listener by `endpoint` and otherwise
// unmodified, its queue URL included (the listener names a queue by the
// URL's last segment). The SDK checks every MD5 digest it is given.
// With the assertions of the test: every message sent is received once,
// with its attribute, and deleted.
const assert = require('assert');
const { SQSClient, SendMessageCommand, ReceiveMessageCommand, DeleteMessageCommand } = require('@aws-sdk/client-sqs');
const { CreateQueueCommand, GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');

const client = new SQSClient({
  region: 'us-east-1',
  endpoint: `http://127.0.0.1:${process.env.BROKERLAB_SQS_PORT}`,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const queueUrl = 'https://sqs.us-east-1.amazonaws.com/123456789/my-queue';
const received = [];

async function processMessage(body) {
  received.push(body);
}

// ========== Send Message ==========
async function sendMessage() {
  const command = new SendMessageCommand({
    QueueUrl: queueUrl,
    MessageBody: JSON.stringify({
      orderId: '12345',
      status: 'pending'
    }),
    MessageAttributes: {
      Type: {
        DataType: 'String',
        StringValue: 'Order'
      }
    }
  });
  const response = await client.send(command);
  console.log('Message sent:', response.MessageId);
}

// ========== Receive Messages ==========
async function receiveMessages() {
  const command = new ReceiveMessageCommand({
    QueueUrl: queueUrl,
    MaxNumberOfMessages: 10,
    WaitTimeSeconds: 20, // Long polling
    MessageAttributeNames: ['All']
  });
  const response = await client.send(command);
  if (response.Messages) {
    for (const message of response.Messages) {
      const body = JSON.parse(message.Body);
      console.log('Received:', body);
      if (body.status === 'pending') {
        assert.deepStrictEqual(message.MessageAttributes, { Type: { DataType: 'String', StringValue: 'Order' } });
      }
      // Process message
      await processMessage(body);
      // Delete message
      await client.send(new DeleteMessageCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: message.ReceiptHandle
      }));
    }
  }
}

// ========== Batch Send ==========
async function sendBatch() {
  const { SendMessageBatchCommand } = require('@aws-sdk/client-sqs');
  const entries = [];
  for (let i = 0; i < 10; i++) {
    entries.push({
      Id: `msg-${i}`,
      MessageBody: JSON.stringify({ orderId: i })
    });
  }
  const command = new SendMessageBatchCommand({
    QueueUrl: queueUrl,
    Entries: entries
  });
  await client.send(command);
  console.log('Batch sent');
}

async function main() {
  // The seed's queue exists before its example runs.
  await client.send(new CreateQueueCommand({ QueueName: 'my-queue' }));
  await sendMessage();
  await sendBatch();
  while (received.length < 11) {
    await receiveMessages();
  }
  assert.deepStrictEqual(received[0], { orderId: '12345', status: 'pending' });
  const orders = received.slice(1).map((body) => body.orderId).sort((a, b) => a - b);
  assert.deepStrictEqual(orders, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const attributes = await client.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
  }));
  assert.deepStrictEqual(attributes.Attributes, {
    ApproximateNumberOfMessages: '0',
    ApproximateNumberOfMessagesNotVisible: '0',
  });
  console.log('ok');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
