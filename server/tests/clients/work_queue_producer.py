"""The seed document's pika work-queue producer, unchanged but for the port.

Run by server/tests/pika_clients.rs against `brokerlab serve`; the port comes
from BROKERLAB_PORT because the test server listens on an ephemeral port.
"""
import json
import os

import pika

PORT = int(os.environ["BROKERLAB_PORT"])

# ========== Producer ==========
connection = pika.BlockingConnection(
    pika.ConnectionParameters('localhost', port=PORT)
)
channel = connection.channel()
channel.queue_declare(queue='tasks', durable=True)
message = {'task': 'process-order', 'orderId': '12345'}
channel.basic_publish(
    exchange='',
    routing_key='tasks',
    body=json.dumps(message),
    properties=pika.BasicProperties(
        delivery_mode=2,  # Make message persistent
    )
)
print('Sent:', message)
connection.close()
