# The seed document's kafka-python example, unmodified but for the port
# (BROKERLAB_KAFKA_PORT) and the consumer's end: it stops after the first
# message, or after consumer_timeout_ms without one, and closes (which
# commits the group's position). The consumer's group starts from the
# latest offset (kafka-python's default auto_offset_reset), so a first run
# receives nothing and a second run receives the message it produced.
# BROKERLAB_EXPECTED, when set, is the JSON of the one message expected.
import os

port = os.environ["BROKERLAB_KAFKA_PORT"]
timeout_ms = int(os.environ.get("BROKERLAB_CONSUMER_TIMEOUT_MS", "15000"))

# ========== Install ==========
# pip install kafka-python
from kafka import KafkaProducer, KafkaConsumer
import json
# ========== Producer ==========
producer = KafkaProducer(
    bootstrap_servers=[f'localhost:{port}'],
    value_serializer=lambda v: json.dumps(v).encode('utf-8')
)
message = {'orderId': '12345', 'status': 'pending'}
producer.send('orders', key=b'order-12345', value=message)
producer.flush()
print('Message sent')
# ========== Consumer ==========
consumer = KafkaConsumer(
    'orders',
    bootstrap_servers=[f'localhost:{port}'],
    group_id='order-processor',
    value_deserializer=lambda m: json.loads(m.decode('utf-8')),
    consumer_timeout_ms=timeout_ms,
)
received = []
for message in consumer:
    print(f'Received: {message.value}')
    # Process message
    received.append((message.key, message.value))
    break
consumer.close()
producer.close()

expected = os.environ.get("BROKERLAB_EXPECTED")
if expected is not None:
    assert received == [(b'order-12345', json.loads(expected))], received
