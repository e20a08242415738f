# kafka-python's admin client grows a topic: from the one partition it was
# created with to three, which a producer then writes to; shrinking it back
# is refused with INVALID_PARTITIONS, as Kafka refuses it.
import os
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewPartitions
from kafka.errors import InvalidPartitionsError

servers = [f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"]
producer = KafkaProducer(bootstrap_servers=servers)
producer.send("growing", b"first").get(timeout=10)

admin = KafkaAdminClient(bootstrap_servers=servers)
admin.create_partitions({"growing": NewPartitions(total_count=3)})
consumer = KafkaConsumer(bootstrap_servers=servers)
partitions = consumer.partitions_for_topic("growing")
if partitions != {0, 1, 2}:
    sys.exit(f"partitions after growing: {partitions}")
# A producer's metadata is as old as its last refresh: a new one sees three.
producer.close()
producer = KafkaProducer(bootstrap_servers=servers)
written = producer.send("growing", b"third", partition=2).get(timeout=10)
if (written.partition, written.offset) != (2, 0):
    sys.exit(f"written at {written}")
try:
    admin.create_partitions({"growing": NewPartitions(total_count=2)})
    sys.exit("shrinking was accepted")
except InvalidPartitionsError:
    pass
producer.close()
consumer.close()
admin.close()
print("grown to 3 partitions; shrinking refused")
