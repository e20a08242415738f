# aiokafka (asyncio, its own protocol code, not librdkafka's) against the
# Kafka listener: an idempotent producer with acks=all puts each keyed
# record on murmur2(key) % partitions (murmur2.py, as Kafka's Java client
# computes it); a consumer group member reads every record from the
# earliest offset, each partition in send order, and commits; a second
# member of the same group, started afterwards, resumes at the committed
# offsets and reads only what was sent after them; SASL/PLAIN is spoken
# when the server asks for it (BROKERLAB_KAFKA_SASL=1).
import asyncio
import os
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from murmur2 import partition_of

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "aiokafka-group"
PARTITIONS = int(os.environ.get("BROKERLAB_PARTITIONS", "3"))
RECORDS = 120
SASL = (
    {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "guest",
        "sasl_plain_password": "guest",
    }
    if os.environ.get("BROKERLAB_KAFKA_SASL") == "1"
    else {}
)


async def produce(first, count):
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True, **SASL)
    await producer.start()
    sent = {p: [] for p in range(PARTITIONS)}
    try:
        for i in range(first, first + count):
            key = f"account-{i % 17}".encode()
            value = f"{i}".encode()
            metadata = await producer.send_and_wait(TOPIC, value=value, key=key)
            if metadata.partition != partition_of(key, PARTITIONS):
                sys.exit(f"{key} landed on {metadata.partition}, not {partition_of(key, PARTITIONS)}")
            sent[metadata.partition].append((key, value))
    finally:
        await producer.stop()
    return sent


async def consume(expected):
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=servers,
        group_id="aiokafka-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **SASL,
    )
    await consumer.start()
    read = {p: [] for p in range(PARTITIONS)}
    try:
        while sum(map(len, read.values())) < expected:
            batches = await consumer.getmany(timeout_ms=10000)
            if not batches:
                sys.exit(f"read {sum(map(len, read.values()))} of {expected}, then nothing")
            for partition, records in batches.items():
                read[partition.partition].extend((r.key, r.value) for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return read


async def main():
    sent = await produce(0, RECORDS)
    if len([p for p in sent.values() if p]) < 2:
        sys.exit(f"the keys used too few partitions: {[len(p) for p in sent.values()]}")
    read = await consume(RECORDS)
    if read != sent:
        sys.exit(f"read {[len(p) for p in read.values()]}, sent {[len(p) for p in sent.values()]}, or out of order")
    later = await produce(RECORDS, 30)
    resumed = await consume(30)
    if resumed != later:
        sys.exit(f"the second member read {[len(p) for p in resumed.values()]}, not only the 30 sent after the commit")
    print(f"{RECORDS} + 30 keyed records on murmur2's partitions, in order, resumed at the committed offsets")


asyncio.run(main())
