# Headers and a 1 MB record round-trip through confluent-kafka (librdkafka):
# headers come back as (key, value) pairs in order, an empty value
# included; a 1,000,000-byte value (under Kafka's default
# max.message.bytes of 1,048,588) comes back byte for byte, with the
# producer's message.max.bytes raised to the broker's limit as a client
# sending large records would set it.
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "headers-large"

headers = [("trace", b"abc"), ("retry", b"1"), ("empty", b""), ("binary", bytes(range(256)))]
large = bytes((i * 7 + i // 251) % 256 for i in range(1_000_000))

producer = Producer({"bootstrap.servers": servers, "message.max.bytes": 1_048_588})
producer.produce(TOPIC, key=b"h", value=b"with headers", headers=headers)
producer.produce(TOPIC, key=b"big", value=large)
producer.produce(TOPIC, key=b"after", value=b"small again")
if producer.flush(20):
    sys.exit("records undelivered")

consumer = Consumer(
    {
        "bootstrap.servers": servers,
        "group.id": "headers-large",
        "enable.auto.commit": False,
    }
)
consumer.assign([TopicPartition(TOPIC, 0, 0)])
got = []
while len(got) < 3:
    message = consumer.poll(20)
    if message is None:
        sys.exit(f"read {len(got)} of 3 records, then nothing")
    if message.error():
        sys.exit(f"consume error: {message.error()}")
    got.append(message)
consumer.close()

first, big, after = got
if (first.key(), first.value()) != (b"h", b"with headers"):
    sys.exit(f"first record {first.key()} {first.value()}")
if first.headers() != headers:
    sys.exit(f"headers came back as {first.headers()}")
if big.headers() is not None and big.headers() != []:
    sys.exit(f"the large record has headers {big.headers()}")
if big.key() != b"big" or big.value() != large:
    sys.exit(f"the 1 MB record came back as {len(big.value() or b'')} bytes, not identical")
if (after.offset(), after.value()) != (2, b"small again"):
    sys.exit(f"third record {after.offset()} {after.value()}")
print(f"headers {[k for k, _ in first.headers()]} and a {len(big.value())}-byte record round-tripped")
