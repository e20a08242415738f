"""basic.qos with a non-zero prefetch_size, through pika: RabbitMQ 3.10
closes the whole connection with 540 NOT_IMPLEMENTED."""
import os

import pika

PARAMS = pika.ConnectionParameters("localhost", int(os.environ["BROKERLAB_PORT"]))

connection = pika.BlockingConnection(PARAMS)
channel = connection.channel()
try:
    channel.basic_qos(prefetch_size=1024, prefetch_count=10)
except pika.exceptions.ConnectionClosedByBroker as error:
    assert (error.reply_code, error.reply_text) == (
        540,
        "NOT_IMPLEMENTED - prefetch_size!=0 (1024)",
    ), error
    print("qos_prefetch_size: the connection closed with 540")
else:
    raise AssertionError("basic.qos with prefetch_size 1024 was accepted")
