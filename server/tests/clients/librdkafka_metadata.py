# confluent-kafka's (librdkafka's) AdminClient lists what exists, as kcat -L
# does: the one broker at the address the client reached, each topic
# created with its partitions, each led by that broker with it as the only
# replica and in sync; a deleted topic is listed no more.
import os
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

port = int(os.environ["BROKERLAB_KAFKA_PORT"])
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
for future in admin.create_topics([NewTopic("listed-one", 1, 1), NewTopic("listed-four", 4, 1)]).values():
    future.result(10)

listed = admin.list_topics(timeout=10)
brokers = {b.id: (b.host, b.port) for b in listed.brokers.values()}
if brokers != {0: ("127.0.0.1", port)}:
    sys.exit(f"brokers listed: {brokers}")
for name, count in [("listed-one", 1), ("listed-four", 4)]:
    topic = listed.topics.get(name)
    if topic is None or topic.error is not None:
        sys.exit(f"{name} listed as {topic and topic.error}")
    if sorted(topic.partitions) != list(range(count)):
        sys.exit(f"{name} has partitions {sorted(topic.partitions)}")
    for p in topic.partitions.values():
        if (p.error, p.leader, p.replicas, p.isrs) != (None, 0, [0], [0]):
            sys.exit(f"{name}/{p.id}: {p.error} leader {p.leader} replicas {p.replicas} isrs {p.isrs}")

for future in admin.delete_topics(["listed-four"]).values():
    future.result(10)
deadline = time.time() + 10
while "listed-four" in admin.list_topics(timeout=10).topics:
    if time.time() > deadline:
        sys.exit("the deleted topic is still listed")
    time.sleep(0.1)
if "listed-one" not in admin.list_topics(timeout=10).topics:
    sys.exit("the other topic went with it")
print(f"broker {brokers}; listed-one and listed-four listed, listed-four deleted")
