# kafka-python's default partitioner puts each keyed record on
# murmur2(key) & 0x7fffffff % partitions, computed as Kafka's Java
# Utils.murmur2 computes it (murmur2.py), and a consumer assigned every
# partition reads each partition's records in the order they were sent.
import os
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from murmur2 import partition_of

servers = [f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"]
TOPIC = "kafka-python-murmur2"
PARTITIONS = 5
RECORDS = 300

admin = KafkaAdminClient(bootstrap_servers=servers)
admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
admin.close()

producer = KafkaProducer(bootstrap_servers=servers)
sent = {p: [] for p in range(PARTITIONS)}
futures = []
for i in range(RECORDS):
    key = f"account-{i % 23}".encode()
    value = f"{i}".encode()
    futures.append((key, producer.send(TOPIC, key=key, value=value)))
    sent[partition_of(key, PARTITIONS)].append((key, value))
producer.flush(10)
for key, future in futures:
    metadata = future.get(timeout=10)
    if metadata.partition != partition_of(key, PARTITIONS):
        sys.exit(f"{key} landed on {metadata.partition}, not {partition_of(key, PARTITIONS)}")
producer.close()
if len([p for p in sent.values() if p]) < 2:
    sys.exit(f"the keys used too few partitions: {[len(p) for p in sent.values()]}")

consumer = KafkaConsumer(bootstrap_servers=servers, consumer_timeout_ms=5000)
consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
consumer.seek_to_beginning()
read = {p: [] for p in range(PARTITIONS)}
for message in consumer:
    read[message.partition].append((message.key, message.value))
    if sum(map(len, read.values())) == RECORDS:
        break
consumer.close()
if read != sent:
    sys.exit(f"read {[len(p) for p in read.values()]}, sent {[len(p) for p in sent.values()]}, or out of order")
print(f"{RECORDS} keyed records on murmur2's partitions, in order: {[len(p) for p in read.values()]}")
