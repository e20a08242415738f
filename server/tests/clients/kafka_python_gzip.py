# kafka-python with compression_type="gzip" (the codec it needs no extra
# package for): its gzip batches are acknowledged and read back in order.
import os
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

servers = [f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"]
TOPIC = "kafka-python-gzip"
RECORDS = 200

producer = KafkaProducer(bootstrap_servers=servers, compression_type="gzip", linger_ms=50)
futures = [producer.send(TOPIC, value=f"gzip record {i}".encode() * 4, partition=0)
           for i in range(RECORDS)]
producer.flush(10)
offsets = [future.get(timeout=10).offset for future in futures]
producer.close()
if offsets != list(range(RECORDS)):
    sys.exit(f"offsets {offsets[:5]}... are not 0..{RECORDS}")

consumer = KafkaConsumer(bootstrap_servers=servers, consumer_timeout_ms=5000)
consumer.assign([TopicPartition(TOPIC, 0)])
consumer.seek_to_beginning()
values = [record.value for record in consumer]
consumer.close()
if values != [f"gzip record {i}".encode() * 4 for i in range(RECORDS)]:
    sys.exit(f"{len(values)} of {RECORDS} records came back, or out of order")
print(f"{RECORDS} gzip records round-tripped in order")
