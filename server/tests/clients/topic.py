"""The seed document's topic-exchange example (exchange 'logs', one exclusive
server-named queue per pattern: 'error.*', '*.critical' and '#'), written with
pika, plus the assertions of the test: each subscriber receives exactly the
routing keys its pattern matches, and nothing else.
"""
import json
import os
import time

import pika

PORT = int(os.environ["BROKERLAB_PORT"])
PARAMETERS = pika.ConnectionParameters('localhost', port=PORT)
DEADLINE_S = 10


def subscribe_to_topic(pattern, received):
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    exchange = 'logs'
    channel.exchange_declare(exchange=exchange, exchange_type='topic', durable=False)
    q = channel.queue_declare(queue='', exclusive=True)
    channel.queue_bind(queue=q.method.queue, exchange=exchange, routing_key=pattern)
    print('Waiting for logs matching:', pattern)

    def callback(ch, method, properties, body):
        message = json.loads(body)
        print('[', method.routing_key, ']', pattern, message)
        received.append(method.routing_key)

    channel.basic_consume(queue=q.method.queue, on_message_callback=callback, auto_ack=True)
    return connection


def publish_to_topic(routing_keys):
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    exchange = 'logs'
    channel.exchange_declare(exchange=exchange, exchange_type='topic', durable=False)
    for routing_key in routing_keys:
        message = {'level': routing_key.split('.')[0], 'message': 'Database connection failed'}
        channel.basic_publish(exchange=exchange, routing_key=routing_key, body=json.dumps(message))
        print('Published to', routing_key, ':', message)
    connection.close()


ROUTING_KEYS = ['error.critical', 'error.disk', 'info.critical', 'info.startup', 'error.db.down']
EXPECTED = {
    'error.*': ['error.critical', 'error.disk'],
    '*.critical': ['error.critical', 'info.critical'],
    '#': ROUTING_KEYS,
}

inboxes = {pattern: [] for pattern in EXPECTED}
subscribers = [subscribe_to_topic(pattern, inbox) for pattern, inbox in inboxes.items()]
publish_to_topic(ROUTING_KEYS)
deadline = time.monotonic() + DEADLINE_S
while inboxes != EXPECTED and time.monotonic() < deadline:
    for subscriber in subscribers:
        subscriber.process_data_events(time_limit=0.05)
# Anything that should not have arrived has had its chance to.
for subscriber in subscribers:
    subscriber.process_data_events(time_limit=0.2)
    subscriber.close()

assert inboxes == EXPECTED, inboxes
print('topic: every pattern received exactly its matching routing keys')
