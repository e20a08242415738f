# Permissions on topics through confluent-kafka (librdkafka) and SASL/PLAIN:
# guest (every permission) produces to `shared`; `reader` (read only)
# reads it back, but its produce is refused with TOPIC_AUTHORIZATION_FAILED
# and its topic creation too, as Kafka refuses a principal its ACLs do not
# allow.
import os
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "shared"


def sasl(user, password):
    return {
        "bootstrap.servers": servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": password,
    }


guest = Producer(sasl("guest", "guest"))
guest.produce(TOPIC, value=b"from guest")
if guest.flush(20):
    sys.exit("guest's record was not delivered")

reports = []
reader = Producer(dict(sasl("reader", "r3ad"), **{"message.timeout.ms": 10000}))
reader.produce(TOPIC, value=b"from reader", on_delivery=lambda error, message: reports.append(error))
reader.flush(20)
if len(reports) != 1 or reports[0] is None or reports[0].code() != KafkaError.TOPIC_AUTHORIZATION_FAILED:
    sys.exit(f"reader's produce was not refused with TOPIC_AUTHORIZATION_FAILED: {reports}")

consumer = Consumer(dict(sasl("reader", "r3ad"), **{"group.id": "readers", "enable.auto.commit": False}))
consumer.assign([TopicPartition(TOPIC, 0, 0)])
message = consumer.poll(20)
consumer.close()
if message is None or message.error() or message.value() != b"from guest":
    sys.exit(f"reader read {message and (message.error() or message.value())}")

admin = AdminClient(sasl("reader", "r3ad"))
future = admin.create_topics([NewTopic("reader-made", num_partitions=1, replication_factor=1)])["reader-made"]
try:
    future.result(20)
except Exception as error:
    code = error.args[0].code() if error.args else None
    if code != KafkaError.TOPIC_AUTHORIZATION_FAILED:
        sys.exit(f"reader's topic creation failed otherwise: {error}")
else:
    sys.exit("reader created a topic without configure")
print("ok")
