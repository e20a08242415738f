"""The seed document's publish-subscribe example (fanout exchange
'notifications', an exclusive server-named queue per subscriber, auto-ack),
written with pika, plus the assertions of the test: two subscribers each
receive the one published notification.
"""
import json
import os
import time

import pika

PORT = int(os.environ["BROKERLAB_PORT"])
PARAMETERS = pika.ConnectionParameters('localhost', port=PORT)
DEADLINE_S = 10


def subscribe_to_messages(received):
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    exchange = 'notifications'
    channel.exchange_declare(exchange=exchange, exchange_type='fanout', durable=False)
    q = channel.queue_declare(queue='', exclusive=True)
    channel.queue_bind(queue=q.method.queue, exchange=exchange, routing_key='')
    print('Waiting for notifications...')

    def callback(ch, method, properties, body):
        message = json.loads(body)
        print('Received notification:', message)
        received.append(message)

    channel.basic_consume(queue=q.method.queue, on_message_callback=callback, auto_ack=True)
    return connection


def publish_message():
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    exchange = 'notifications'
    channel.exchange_declare(exchange=exchange, exchange_type='fanout', durable=False)
    message = {'event': 'user-registered', 'userId': '123'}
    channel.basic_publish(exchange=exchange, routing_key='', body=json.dumps(message))
    print('Published:', message)
    connection.close()
    return message


inboxes = [[], []]
subscribers = [subscribe_to_messages(inbox) for inbox in inboxes]
sent = publish_message()
deadline = time.monotonic() + DEADLINE_S
while any(len(inbox) < 1 for inbox in inboxes) and time.monotonic() < deadline:
    for subscriber in subscribers:
        subscriber.process_data_events(time_limit=0.1)
for subscriber in subscribers:
    subscriber.close()

assert inboxes == [[sent], [sent]], inboxes
print('pubsub: both subscribers received the notification')
