# SASL/PLAIN through confluent-kafka (librdkafka) against a listener that
# serves no client anonymously: with the AMQP listener's guest/guest a
# record is produced and read back; with a wrong password the producer
# reports an authentication failure and delivers nothing.
import os
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

servers = f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"
TOPIC = "sasl-plain"


def sasl(password):
    return {
        "bootstrap.servers": servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "guest",
        "sasl.password": password,
    }


producer = Producer(sasl("guest"))
producer.produce(TOPIC, key=b"k", value=b"authenticated")
if producer.flush(20):
    sys.exit("the authenticated producer's record was not delivered")

consumer = Consumer(dict(sasl("guest"), **{"group.id": "sasl-plain", "enable.auto.commit": False}))
consumer.assign([TopicPartition(TOPIC, 0, 0)])
message = consumer.poll(20)
consumer.close()
if message is None or message.error():
    sys.exit(f"the authenticated consumer read {message and message.error()}")
if message.value() != b"authenticated":
    sys.exit(f"read {message.value()}")

errors = []
refused = Producer(dict(sasl("wrong"), **{"error_cb": errors.append, "message.timeout.ms": 3000}))
delivered = []
refused.produce(TOPIC, value=b"never", on_delivery=lambda error, message: delivered.append(error))
refused.flush(10)
if not any(error.code() == KafkaError._AUTHENTICATION for error in errors):
    sys.exit(f"no authentication error reported: {errors}")
if not any("Invalid username or password" in error.str() for error in errors):
    sys.exit(f"not Kafka's message: {[error.str() for error in errors]}")
if delivered != [] and all(error is None for error in delivered):
    sys.exit("a record was delivered with a wrong password")
print("ok")
