# Record headers as Kafka keeps them, through confluent-kafka (librdkafka):
# a list, not a map, so a key may repeat and each of its values comes back
# in place (Kafka's Headers.add appends; lastHeader picks the last).
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "headers-repeated"

headers = [("trace", b"abc"), ("retry", b"1"), ("trace", b"def"), ("retry", b"2")]
producer = Producer({"bootstrap.servers": servers})
producer.produce(TOPIC, value=b"v", headers=headers)
if producer.flush(10):
    sys.exit("record undelivered")
consumer = Consumer({"bootstrap.servers": servers, "group.id": "headers", "enable.auto.commit": False})
consumer.assign([TopicPartition(TOPIC, 0, 0)])
message = consumer.poll(20)
consumer.close()
if message is None or message.error():
    sys.exit(f"no record: {message and message.error()}")
if message.headers() != headers:
    sys.exit(f"headers {headers} came back as {message.headers()}")
print(f"headers {message.headers()} round-tripped")
