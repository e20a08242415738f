# One log, two protocols: a stream queue declared over AMQP (pika) is the
# Kafka topic "_2f.<queue>" (vhost "/" escaped, then the queue). A record a
# Kafka producer appends is consumed over AMQP, and a message published over
# AMQP is fetched by a Kafka consumer, each in the log's one order.
import os
import sys

import pika
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

amqp_port = int(os.environ["BROKERLAB_PORT"])
kafka = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
queue = "events-across"
topic = "_2f." + queue

connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "stream"})
channel.confirm_delivery()
channel.basic_publish(exchange="", routing_key=queue, body=b"from amqp",
                      properties=pika.BasicProperties(delivery_mode=2))

producer = KafkaProducer(bootstrap_servers=[kafka], acks="all")
producer.send(topic, key=b"k", value=b"from kafka").get(timeout=10)
producer.close()

# Over AMQP, from the first offset: both, in log order, with their offsets.
channel.basic_qos(prefetch_count=10)
seen = []
for method, properties, body in channel.consume(queue, arguments={"x-stream-offset": "first"},
                                                inactivity_timeout=5):
    if method is None:
        break
    seen.append((properties.headers["x-stream-offset"], body))
    channel.basic_ack(method.delivery_tag)
    if len(seen) == 2:
        break
channel.cancel()
connection.close()
if seen != [(0, b"from amqp"), (1, b"from kafka")]:
    sys.exit(f"over AMQP: {seen}")

# Over Kafka, from the beginning: the same two records at the same offsets.
consumer = KafkaConsumer(bootstrap_servers=[kafka], consumer_timeout_ms=5000)
partition = TopicPartition(topic, 0)
consumer.assign([partition])
consumer.seek_to_beginning(partition)
fetched = [(record.offset, record.value) for record in consumer][:2]
consumer.close()
if fetched != [(0, b"from amqp"), (1, b"from kafka")]:
    sys.exit(f"over Kafka: {fetched}")
print("one log:", seen)
