# A confluent-kafka (librdkafka) consumer reads four of ten records, commits
# synchronously after the fourth and closes; a new consumer of the same
# group resumes at the committed offset (the fifth record), and
# committed() reports it. A third, after the second committed everything,
# finds nothing left.
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "committed-restart"

producer = Producer({"bootstrap.servers": servers})
for i in range(10):
    producer.produce(TOPIC, value=f"{i}".encode())
if producer.flush(10):
    sys.exit("records undelivered")


def consumer():
    c = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": "restarts",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([TOPIC])
    return c


def read(c, count, timeout=20):
    values = []
    while len(values) < count:
        message = c.poll(timeout)
        if message is None:
            break
        if message.error():
            sys.exit(f"consume error: {message.error()}")
        values.append((message.offset(), message.value().decode()))
    return values


first = consumer()
got = read(first, 4)
if got != [(i, f"{i}") for i in range(4)]:
    sys.exit(f"the first consumer read {got}")
committed = first.commit(asynchronous=False)
if [(tp.partition, tp.offset) for tp in committed] != [(0, 4)]:
    sys.exit(f"committed {committed}")
first.close()

second = consumer()
got = read(second, 6)
if got != [(i, f"{i}") for i in range(4, 10)]:
    sys.exit(f"the restarted consumer read {got}, not offsets 4 to 9")
[stored] = second.committed([TopicPartition(TOPIC, 0)], timeout=10)
if stored.offset != 4:
    sys.exit(f"committed() says {stored.offset}, not 4")
second.commit(asynchronous=False)
second.close()

third = consumer()
got = read(third, 1, timeout=5)
if got:
    sys.exit(f"after everything was committed a new consumer read {got}")
third.close()
print("resumed at the committed offset 4, then at 10 with nothing left")
