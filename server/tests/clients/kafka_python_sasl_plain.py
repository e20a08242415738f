# SASL/PLAIN through kafka-python against a listener that serves no client
# anonymously: guest/guest produces and reads back a record; a wrong
# password fails to connect with an authentication error.
import os
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "sasl-plain-python"


def sasl(password):
    return {
        "bootstrap_servers": servers,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "guest",
        "sasl_plain_password": password,
    }


producer = KafkaProducer(**sasl("guest"))
producer.send(TOPIC, b"authenticated").get(timeout=20)
producer.close()

consumer = KafkaConsumer(consumer_timeout_ms=3000, **sasl("guest"))
consumer.assign([TopicPartition(TOPIC, 0)])
consumer.seek_to_beginning()
values = [record.value for record in consumer]
consumer.close()
if values != [b"authenticated"]:
    sys.exit(f"read {values}")

try:
    KafkaProducer(request_timeout_ms=5000, max_block_ms=5000, **sasl("wrong")).send(TOPIC, b"never").get(timeout=10)
except KafkaError as error:
    print(f"refused as expected: {type(error).__name__}")
else:
    sys.exit("a wrong password produced a record")
print("ok")
