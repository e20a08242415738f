"""A RabbitMQ stream queue through pika: declare a durable queue with
x-queue-type stream, publish with confirms, then consume from `first` and
from offset 3 with a prefetch of 2 and acks, checking each delivery's
x-stream-offset header; a second consumer sees every message too (reads
are non-destructive), and basic.get is refused with 540, as RabbitMQ 3.10
answers. Runs unchanged against RabbitMQ (BROKERLAB_PORT=5673 when it
listens there)."""
import os
import uuid

import pika

PARAMS = pika.ConnectionParameters("localhost", int(os.environ["BROKERLAB_PORT"]))
STREAM = "events-" + uuid.uuid4().hex[:8]
COUNT = 6


def consume(channel, offset, expected):
    """Reads `expected` deliveries from `offset` with prefetch 2, acking each."""
    got = []

    def on_message(ch, method, properties, body):
        got.append((body.decode(), properties.headers["x-stream-offset"], properties.app_id))
        ch.basic_ack(method.delivery_tag)
        if len(got) == expected:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=2)
    tag = channel.basic_consume(STREAM, on_message, arguments={"x-stream-offset": offset})
    channel.connection.call_later(5, channel.stop_consuming)
    channel.start_consuming()
    channel.basic_cancel(tag)
    return got


connection = pika.BlockingConnection(PARAMS)
channel = connection.channel()
declared = channel.queue_declare(
    STREAM, durable=True, arguments={"x-queue-type": "stream", "x-max-age": "7D"}
)
assert (declared.method.message_count, declared.method.consumer_count) == (0, 0)
channel.confirm_delivery()
for index in range(COUNT):
    channel.basic_publish(
        "", STREAM, f"m{index}".encode(), pika.BasicProperties(app_id="stream_queue.py")
    )

expected = [(f"m{index}", index, "stream_queue.py") for index in range(COUNT)]
first = consume(connection.channel(), "first", COUNT)
assert first == expected, first
from_three = consume(connection.channel(), 3, COUNT - 3)
assert from_three == expected[3:], from_three
again = consume(connection.channel(), 0, COUNT)
assert again == expected, again

try:
    connection.channel().basic_get(STREAM)
except pika.exceptions.ConnectionClosedByBroker as error:
    assert (error.reply_code, error.reply_text) == (
        540,
        f"NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{STREAM}' in vhost '/'",
    ), error
else:
    raise AssertionError("basic.get on a stream queue was accepted")

cleanup = pika.BlockingConnection(PARAMS)
cleanup.channel().queue_delete(STREAM)
cleanup.close()
print(f"stream_queue: {COUNT} messages read from first, from 3 and again, basic.get refused")
