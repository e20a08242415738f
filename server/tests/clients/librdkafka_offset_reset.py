# auto.offset.reset for a group with no committed offset, with
# confluent-kafka (librdkafka): "earliest" reads the records already in the
# log from offset 0; "latest" reads none of them, only a record produced
# once its position is set.
import os
import sys
import time

from confluent_kafka import Consumer, Producer

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "offset-reset"

producer = Producer({"bootstrap.servers": servers})
for i in range(5):
    producer.produce(TOPIC, value=f"old-{i}".encode())
if producer.flush(10):
    sys.exit("records undelivered")


def consumer(group, reset):
    c = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": group,
            "auto.offset.reset": reset,
        }
    )
    c.subscribe([TOPIC])
    return c


def read(c, count, timeout):
    values = []
    deadline = time.time() + timeout
    while len(values) < count and time.time() < deadline:
        message = c.poll(0.2)
        if message is None:
            continue
        if message.error():
            sys.exit(f"consume error: {message.error()}")
        values.append((message.offset(), message.value().decode()))
    return values


earliest = consumer("reset-earliest", "earliest")
got = read(earliest, 5, 20)
if got != [(i, f"old-{i}") for i in range(5)]:
    sys.exit(f"earliest read {got}")
earliest.close()

latest = consumer("reset-latest", "latest")
# Wait until the group assigned the partition, then give the reset its
# ListOffsets (librdkafka's position() says nothing before a record is
# consumed); a record produced before the reset would be missed, and the
# check below would say so.
deadline = time.time() + 20
while not latest.assignment():
    message = latest.poll(0.2)
    if message is not None and not message.error():
        sys.exit(f"latest read an old record: {message.value()}")
    if time.time() > deadline:
        sys.exit("latest was assigned nothing")
got = read(latest, 1, 2)
if got:
    sys.exit(f"latest read old records: {got}")
producer.produce(TOPIC, value=b"new")
if producer.flush(10):
    sys.exit("record undelivered")
got = read(latest, 2, 5)
if got != [(5, "new")]:
    sys.exit(f"latest read {got}, not only the new record")
latest.close()
print("earliest read offsets 0 to 4; latest only offset 5")
