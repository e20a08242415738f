"""The seed document's pika work-queue consumer (durable queue, prefetch 1,
manual ack), unchanged but for the port, plus the assertions of the test.

It expects BROKERLAB_EXPECTED messages, all the producer's persistent
message, stops consuming after the last, and checks on the way that prefetch
1 holds (every other message is still ready while one is being processed)
and at the end that the queue is empty.
"""
import json
import os

import pika

PORT = int(os.environ["BROKERLAB_PORT"])
EXPECTED = int(os.environ.get("BROKERLAB_EXPECTED", "1"))
SENT = {'task': 'process-order', 'orderId': '12345'}
received = []


def ready_in_tasks():
    """Ready messages in 'tasks', asked on a connection of its own."""
    probe = pika.BlockingConnection(pika.ConnectionParameters('localhost', port=PORT))
    count = probe.channel().queue_declare(queue='tasks', durable=True, passive=True).method.message_count
    probe.close()
    return count


# ========== Consumer ==========
def callback(ch, method, properties, body):
    message = json.loads(body)
    print('Received:', message)
    assert message == SENT, message
    assert properties.delivery_mode == 2, properties
    received.append(message)
    # Prefetch 1: the broker holds back everything but the message in hand.
    ready = ready_in_tasks()
    assert ready == EXPECTED - len(received), (ready, len(received))
    # Process message
    ch.basic_ack(delivery_tag=method.delivery_tag)
    if len(received) == EXPECTED:
        ch.stop_consuming()


connection = pika.BlockingConnection(
    pika.ConnectionParameters('localhost', port=PORT)
)
channel = connection.channel()
channel.queue_declare(queue='tasks', durable=True)
channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue='tasks', on_message_callback=callback)
print('Waiting for messages...')
channel.start_consuming()
connection.close()

assert len(received) == EXPECTED, received
assert ready_in_tasks() == 0, "every message was acked"
print('work queue: %d messages received and acked' % len(received))
