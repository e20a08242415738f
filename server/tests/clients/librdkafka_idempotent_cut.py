# confluent-kafka (librdkafka) produces with enable.idempotence=true and
# acks=all through a TCP proxy that cuts the connection twice mid-stream:
# each time just after the broker has taken a Produce request and before its
# answer reaches the producer, so the producer must retry batches the log
# already holds. Reading everything back, each record is there exactly
# once and each partition holds its records in the order they were sent.
#
# The proxy stands in for the broker in the addresses the broker gives out
# (Metadata's and FindCoordinator's host and port), as a load balancer with
# its own advertised listener would, so every connection passes through it.
import os
import socket
import struct
import sys
import threading

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BROKER_PORT = int(os.environ["BROKERLAB_KAFKA_PORT"])
TOPIC = "idempotent-cut"
PARTITIONS = 3
RECORDS = 3000
# Produce requests forwarded before each cut.
CUT_AFTER = (4, 9)


def read_frame(sock):
    size = b""
    while len(size) < 4:
        chunk = sock.recv(4 - len(size))
        if not chunk:
            return None
        size += chunk
    (length,) = struct.unpack(">i", size)
    body = bytearray()
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            return None
        body += chunk
    return size + bytes(body)


class Proxy:
    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.produces = 0
        self.cuts = 0
        # The broker's address as it writes it in a response (host as a
        # string, then the port as an int32), and the proxy's in its place.
        host = b"127.0.0.1"
        broker = host + struct.pack(">i", BROKER_PORT)
        mine = host + struct.pack(">i", self.port)
        # Classic strings (int16 length) and compact ones (varint length + 1).
        self.rewrites = [
            (struct.pack(">h", len(host)) + broker, struct.pack(">h", len(host)) + mine),
            (bytes([len(host) + 1]) + broker, bytes([len(host) + 1]) + mine),
        ]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            broker = socket.create_connection(("127.0.0.1", BROKER_PORT))
            pending_cut = threading.Event()
            threading.Thread(
                target=self.upstream, args=(client, broker, pending_cut), daemon=True
            ).start()
            threading.Thread(
                target=self.downstream, args=(client, broker, pending_cut), daemon=True
            ).start()

    def close(self, *socks):
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def upstream(self, client, broker, pending_cut):
        try:
            while True:
                frame = read_frame(client)
                if frame is None:
                    break
                (api_key,) = struct.unpack(">h", frame[4:6])
                if api_key == 0:
                    with self.lock:
                        self.produces += 1
                        if self.cuts < len(CUT_AFTER) and self.produces == CUT_AFTER[self.cuts]:
                            self.cuts += 1
                            pending_cut.set()
                broker.sendall(frame)
                if pending_cut.is_set():
                    # Forward nothing more: the broker's answer to this
                    # Produce is dropped by downstream, then both sides close.
                    return
        except OSError:
            pass
        self.close(client, broker)

    def downstream(self, client, broker, pending_cut):
        try:
            while True:
                frame = read_frame(broker)
                if frame is None:
                    break
                if pending_cut.is_set():
                    # The broker answered: it has the batch. The producer never hears so.
                    break
                for old, new in self.rewrites:
                    frame = frame.replace(old, new)
                client.sendall(frame)
        except OSError:
            pass
        self.close(client, broker)


proxy = Proxy()
servers = f"127.0.0.1:{proxy.port}"

admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{BROKER_PORT}"})
for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
    future.result(10)

producer = Producer(
    {
        "bootstrap.servers": servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 50,
        "retry.backoff.ms": 50,
        "reconnect.backoff.ms": 50,
    }
)
delivered = []
failed = []


def report(error, message):
    if error is not None:
        failed.append(error)
    else:
        delivered.append((message.partition(), message.offset(), message.value()))


for i in range(RECORDS):
    producer.produce(TOPIC, key=f"key-{i % 17}".encode(), value=f"{i}".encode(), on_delivery=report)
    producer.poll(0)
    if i % 200 == 0:
        producer.flush(10)
remaining = producer.flush(30)
if remaining or failed:
    sys.exit(f"{remaining} records undelivered, failures: {failed[:5]}")
if proxy.cuts != len(CUT_AFTER):
    sys.exit(f"the proxy cut the connection {proxy.cuts} times, not {len(CUT_AFTER)}")
if len(delivered) != RECORDS:
    sys.exit(f"{len(delivered)} delivery reports for {RECORDS} records")

consumer = Consumer(
    {
        "bootstrap.servers": f"127.0.0.1:{BROKER_PORT}",
        "group.id": "idempotent-cut-reader",
        "enable.auto.commit": False,
    }
)
consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
read = {p: [] for p in range(PARTITIONS)}
ends = {}
for p in range(PARTITIONS):
    _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
    ends[p] = high
total = sum(ends.values())
if total != RECORDS:
    sys.exit(f"the log holds {total} records for {RECORDS} sent: {ends}")
count = 0
while count < total:
    message = consumer.poll(10)
    if message is None:
        sys.exit(f"read {count} of {total} records, then nothing")
    if message.error():
        sys.exit(f"consume error: {message.error()}")
    read[message.partition()].append(int(message.value()))
    count += 1
consumer.close()

values = [v for p in read.values() for v in p]
if sorted(values) != list(range(RECORDS)):
    duplicates = len(values) - len(set(values))
    sys.exit(f"{duplicates} duplicates, {RECORDS - len(set(values))} missing")
for p, values in read.items():
    if values != sorted(values):
        sys.exit(f"partition {p} out of order")
# Same key, same partition: each key's records are in one partition, in order.
print(
    f"{RECORDS} records through {proxy.cuts} cut connections, "
    f"each once and in order: {ends}"
)
