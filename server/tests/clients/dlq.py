"""The seed document's dead-letter setup (direct exchange 'dlx', durable
queue 'dlq' bound with 'failed', durable 'tasks' with x-dead-letter-exchange
and x-dead-letter-routing-key) and its consumer with retry, written with pika,
plus the assertions of the test.

Three tasks are published: one that processes, one that fails (nacked
without requeue, so dead-lettered to 'dlq' with routing key 'failed' and an
x-death entry), and one that fails with x-retry-count 3 (given up: acked and
gone). 'dlq' then holds exactly the failed task and 'tasks' is empty.
"""
import json
import os

import pika

PORT = int(os.environ["BROKERLAB_PORT"])
PARAMETERS = pika.ConnectionParameters('localhost', port=PORT)


def setup_dlq(channel):
    # Dead letter exchange
    channel.exchange_declare(exchange='dlx', exchange_type='direct', durable=True)
    # Dead letter queue
    channel.queue_declare(queue='dlq', durable=True)
    channel.queue_bind(queue='dlq', exchange='dlx', routing_key='failed')
    # Main queue with DLQ
    channel.queue_declare(queue='tasks', durable=True, arguments={
        'x-dead-letter-exchange': 'dlx',
        'x-dead-letter-routing-key': 'failed',
    })


def process_message(message):
    if message['task'] != 'ok':
        raise ValueError('cannot process %r' % message)


def consume_with_retry(channel, expected):
    handled = []

    def callback(ch, method, properties, body):
        message = json.loads(body)
        try:
            process_message(message)
            ch.basic_ack(delivery_tag=method.delivery_tag)
            handled.append(('acked', message['task']))
        except ValueError as error:
            print('Processing failed:', error)
            # Get retry count
            headers = properties.headers or {}
            retry_count = headers.get('x-retry-count', 0)
            if retry_count < 3:
                # Retry
                ch.basic_nack(delivery_tag=method.delivery_tag, multiple=False, requeue=False)  # Send to DLX
                handled.append(('dead-lettered', message['task']))
            else:
                # Give up
                print('Max retries exceeded')
                ch.basic_ack(delivery_tag=method.delivery_tag)  # Remove from queue
                handled.append(('given up', message['task']))
        if len(handled) == expected:
            ch.stop_consuming()

    channel.basic_consume(queue='tasks', on_message_callback=callback)
    channel.start_consuming()
    return handled


connection = pika.BlockingConnection(PARAMETERS)
channel = connection.channel()
setup_dlq(channel)
channel.basic_qos(prefetch_count=10)
for task, headers in [('ok', None), ('broken', None), ('hopeless', {'x-retry-count': 3})]:
    channel.basic_publish(exchange='', routing_key='tasks',
                          body=json.dumps({'task': task}),
                          properties=pika.BasicProperties(delivery_mode=2, headers=headers))
handled = consume_with_retry(channel, 3)
print('handled:', handled)
assert handled == [('acked', 'ok'), ('dead-lettered', 'broken'), ('given up', 'hopeless')], handled

method, properties, body = channel.basic_get(queue='dlq', auto_ack=True)
assert method is not None, 'the failed task reached the dead-letter queue'
assert json.loads(body) == {'task': 'broken'}, body
assert method.exchange == 'dlx' and method.routing_key == 'failed', method
death = properties.headers['x-death'][0]
print('x-death:', death)
assert death['queue'] == 'tasks' and death['reason'] == 'rejected', death
assert death['count'] == 1 and death['exchange'] == '' and death['routing-keys'] == ['tasks'], death
assert properties.delivery_mode == 2, properties
assert channel.basic_get(queue='dlq', auto_ack=True)[0] is None, 'only the failed task is dead-lettered'
assert channel.queue_declare(queue='tasks', durable=True, passive=True).method.message_count == 0
connection.close()
print('dlq: the failed task was dead-lettered with its x-death, the others were acked')
