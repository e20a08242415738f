# Three confluent-kafka (librdkafka) consumers of one group subscribe to a
# topic of six partitions: their assignments are disjoint and cover all
# six, and every record produced reaches exactly one of them. One then
# leaves (close(), which sends LeaveGroup): the other two take over its
# partitions, again disjoint and covering all six, and read what follows.
import os
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "group-of-three"
PARTITIONS = 6
ALL = set(range(PARTITIONS))

admin = AdminClient({"bootstrap.servers": servers})
for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
    future.result(10)

assigned = {}
revoked = {}


def consumer(name):
    c = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": "three",
            "client.id": name,
            "auto.offset.reset": "earliest",
            "heartbeat.interval.ms": 300,
        }
    )
    assigned[name] = []
    revoked[name] = []

    def on_assign(_, partitions):
        assigned[name].append(sorted(p.partition for p in partitions))

    def on_revoke(_, partitions):
        revoked[name].append(sorted(p.partition for p in partitions))

    c.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke)
    return c


members = {name: consumer(name) for name in ("a", "b", "c")}
received = {name: [] for name in members}


def poll_all():
    for name, c in members.items():
        message = c.poll(0.05)
        if message is None:
            continue
        if message.error():
            sys.exit(f"{name}: {message.error()}")
        received[name].append((message.partition(), message.value().decode()))


def assignments():
    return {name: {tp.partition for tp in c.assignment()} for name, c in members.items()}


def wait_split(what):
    deadline = time.time() + 30
    while time.time() < deadline:
        poll_all()
        split = assignments()
        owned = [p for parts in split.values() for p in parts]
        if all(split.values()) and sorted(owned) == sorted(ALL):
            # Stable: the same split a moment later.
            for _ in range(10):
                poll_all()
            if assignments() == split:
                return split
    sys.exit(f"{what}: no disjoint split covering {sorted(ALL)}: {assignments()}")


def wait_received(values):
    deadline = time.time() + 20
    while time.time() < deadline:
        got = [v for r in received.values() for _, v in r]
        if len(got) >= len(values):
            break
        poll_all()
    for _ in range(20):
        poll_all()
    got = [v for r in received.values() for _, v in r]
    if sorted(got) != sorted(values):
        sys.exit(f"sent {len(values)} records, the group received {len(got)}")


def check_owners(split):
    for name, records in received.items():
        strays = {p for p, _ in records} - split[name]
        if strays:
            sys.exit(f"{name} received from partitions {strays} it does not own: {split}")


producer = Producer({"bootstrap.servers": servers})


def produce(prefix, count):
    values = [f"{prefix}-{i}" for i in range(count)]
    for i, value in enumerate(values):
        producer.produce(TOPIC, value=value.encode(), partition=i % PARTITIONS)
    if producer.flush(10):
        sys.exit("records undelivered")
    return values


first = wait_split("three members")
wait_received(produce("first", 60))
check_owners(first)

leaver = members.pop("c")
leaver.close()
leaver_parts = first["c"]
for name in received:
    received[name].clear()
del received["c"]
second = wait_split("two members after one left")
if not leaver_parts <= second["a"] | second["b"]:
    sys.exit(f"the leaver's partitions {leaver_parts} were not moved: {second}")
wait_received(produce("second", 60))
check_owners(second)

for c in members.values():
    c.close()
print(f"three members: {first}; after c left: {second}; callbacks {assigned} {revoked}")
