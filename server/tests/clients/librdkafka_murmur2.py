# confluent-kafka (librdkafka) with the Java client's partitioner
# (partitioner=murmur2_random) puts each keyed record on
# murmur2(key) & 0x7fffffff % partitions, computed here as Kafka's Java
# Utils.murmur2 computes it, and each partition reads back its records in
# the order they were produced.
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "murmur2"
PARTITIONS = 5
RECORDS = 500


def murmur2(data):
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2, in 32-bit arithmetic."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key):
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


# Kafka's own test vectors for Utils.murmur2 (UtilsTest.testMurmur2).
for text, expected in [("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
                       ("a-little-bit-longer-string", -1486304829),
                       ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), ("abc", 479470107)]:
    got = murmur2(text.encode())
    if got - (1 << 32 if got >= 1 << 31 else 0) != expected:
        sys.exit(f"murmur2({text!r}) = {got}, not Kafka's {expected}")

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
    sent[partition_of(key)].append((key, f"{i}".encode()))
    producer.poll(0)
if producer.flush(10):
    sys.exit("records undelivered")
wrong = [(k, p, partition_of(k)) for k, p in placed if p != partition_of(k)]
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
