# confluent-kafka (librdkafka) with the Java client's partitioner
# (partitioner=murmur2_random) puts each keyed record on
# murmur2(key) & 0x7fffffff % partitions, computed as Kafka's Java
# Utils.murmur2 computes it (murmur2.py), and each partition reads back its records in
# the order they were produced.
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from murmur2 import partition_of

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "murmur2"
PARTITIONS = 5
RECORDS = 500


admin = AdminClient({"bootstrap.servers": servers})
for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
    future.result(10)

producer = Producer({"bootstrap.servers": servers, "partitioner": "murmur2_random"})
placed = []


def report(error, message):
    if error is not None:
        sys.exit(f"delivery failed: {error}")
    placed.append((message.key(), message.partition()))


sent = {p: [] for p in range(PARTITIONS)}
for i in range(RECORDS):
    key = f"user-{i % 37}".encode()
    producer.produce(TOPIC, key=key, value=f"{i}".encode(), on_delivery=report)
    sent[partition_of(key, PARTITIONS)].append((key, f"{i}".encode()))
    producer.poll(0)
if producer.flush(10):
    sys.exit("records undelivered")
wrong = [(k, p, partition_of(k, PARTITIONS)) for k, p in placed if p != partition_of(k, PARTITIONS)]
if wrong:
    sys.exit(f"{len(wrong)} records off murmur2's partition, e.g. {wrong[:3]}")
if len([p for p in sent.values() if p]) < 2:
    sys.exit(f"the keys used too few partitions: {[len(p) for p in sent.values()]}")

consumer = Consumer({"bootstrap.servers": servers, "group.id": "murmur2", "enable.auto.commit": False})
consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
read = {p: [] for p in range(PARTITIONS)}
for _ in range(RECORDS):
    message = consumer.poll(10)
    if message is None:
        sys.exit(f"read {sum(map(len, read.values()))} of {RECORDS}, then nothing")
    if message.error():
        sys.exit(f"consume error: {message.error()}")
    read[message.partition()].append((message.key(), message.value()))
consumer.close()
if read != sent:
    for p in range(PARTITIONS):
        if read[p] != sent[p]:
            sys.exit(f"partition {p} read {read[p][:5]}..., sent {sent[p][:5]}...")
print(f"{RECORDS} keyed records on murmur2's partitions, in order: {[len(p) for p in read.values()]}")
