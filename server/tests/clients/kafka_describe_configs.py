# Topic configs through two admin clients, kafka-python's and
# confluent-kafka's (librdkafka): a topic created with its own retention.ms
# is described with it (the rest at the defaults: Kafka's, but 64 MiB
# segments) and the broker with its num.partitions; a missing topic is
# refused, and so is a config the broker does not serve (INVALID_CONFIG).
import os
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as PyConfigResource, ConfigResourceType

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "described"

admin = AdminClient({"bootstrap.servers": servers})
created = admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1,
                                        config={"retention.ms": "3600000"})])
created[TOPIC].result(20)

described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, TOPIC)])
configs = list(described.values())[0].result(20)
values = {name: entry.value for name, entry in configs.items()}
expected = {"cleanup.policy": "delete", "retention.ms": "3600000", "retention.bytes": "-1",
            "segment.bytes": "67108864", "max.message.bytes": "1048588"}
if values != expected:
    sys.exit(f"the topic's configs: {values}")
defaults = [name for name, entry in configs.items() if entry.is_default]
if sorted(defaults) != sorted(set(expected) - {"retention.ms"}):
    sys.exit(f"only retention.ms was set on the topic, yet the defaults are {defaults}")

broker = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "0")])
broker_values = {name: e.value for name, e in list(broker.values())[0].result(20).items()}
if broker_values.get("num.partitions") != "1":
    sys.exit(f"broker: {broker_values}")

python_admin = KafkaAdminClient(bootstrap_servers=servers)
# kafka-python 3 answers {type: {name: {key: {"value": ...}}}}, every key with config_filter "all".
described = python_admin.describe_configs([PyConfigResource(ConfigResourceType.TOPIC, TOPIC)],
                                          config_filter="all")
python_admin.close()
topics = [by_name for by_name in described.values()]
found = {key: data["value"] for by_name in topics for key, data in by_name.get(TOPIC, {}).items()}
if found != expected:
    sys.exit(f"kafka-python read {described}")

missing = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "no-such-topic")])
try:
    list(missing.values())[0].result(20)
except Exception as error:
    print(f"a missing topic is refused: {error}")
else:
    sys.exit("a missing topic was described")
compacted = admin.create_topics([NewTopic("compacted", num_partitions=1, replication_factor=1,
                                          config={"cleanup.policy": "compact"})])
try:
    compacted["compacted"].result(20)
except Exception as error:
    if error.args[0].code() != 40:
        sys.exit(f"cleanup.policy=compact refused otherwise: {error}")
else:
    sys.exit("a compacted topic was created, and compaction is not served")
print("ok")
