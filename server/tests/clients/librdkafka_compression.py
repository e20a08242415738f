# Compressed record batches through confluent-kafka (librdkafka): for each
# codec a producer may set (compression.type gzip, snappy, lz4, zstd), a
# batch of keyed records with headers is acknowledged and read back whole,
# in order, by a consumer, which reads what the broker serves whatever codec
# the producer used.
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
RECORDS = 500

for codec in ("gzip", "snappy", "lz4", "zstd"):
    topic = f"compressed-{codec}"
    producer = Producer({"bootstrap.servers": servers, "compression.type": codec,
                         "linger.ms": 50, "acks": "all"})
    failures = []
    report = lambda error, _message: error and failures.append(error)
    sent = []
    for i in range(RECORDS):
        key, value = f"key-{i % 7}".encode(), (f"record {i} of {codec} " * 8).encode()
        headers = [("codec", codec.encode()), ("index", str(i).encode())]
        producer.produce(topic, key=key, value=value, headers=headers, partition=0,
                         on_delivery=report)
        sent.append((key, value, headers))
    if producer.flush(20) or failures:
        sys.exit(f"{codec}: {len(failures)} records failed: {failures[:3]}")

    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"read-{codec}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < RECORDS:
        message = consumer.poll(10)
        if message is None:
            break
        if message.error():
            sys.exit(f"{codec}: {message.error()}")
        got.append((message.key(), message.value(), message.headers()))
    consumer.close()
    if got != sent:
        sys.exit(f"{codec}: {len(got)} of {RECORDS} records came back, first difference at "
                 f"{next((i for i, (a, b) in enumerate(zip(got, sent)) if a != b), len(got))}")
    print(f"{codec}: {RECORDS} records round-tripped in order")
