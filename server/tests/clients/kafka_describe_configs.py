# DescribeConfigs from two admin clients: kafka-python's and confluent-kafka's
# (librdkafka) describe a topic and the broker, and read Kafka's names and
# values back: the topic's retention, segment and message size (Kafka's
# defaults, but 64 MiB segments), and the broker's num.partitions; a
# missing topic is refused.
import os
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as PyConfigResource, ConfigResourceType

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "described"

admin = AdminClient({"bootstrap.servers": servers})
created = admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
created[TOPIC].result(20)

described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, TOPIC)])
configs = list(described.values())[0].result(20)
values = {name: entry.value for name, entry in configs.items()}
expected = {"cleanup.policy": "delete", "retention.ms": "604800000", "retention.bytes": "-1",
            "segment.bytes": "67108864", "max.message.bytes": "1048588"}
if values != expected:
    sys.exit(f"the topic's configs: {values}")
if not all(entry.is_default for entry in configs.values()):
    sys.exit("every value is the broker's default")

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
print("ok")
