"""A pika session touching most client methods, for the fuzz seed corpus."""
import os, pika
PORT = int(os.environ["BROKERLAB_PORT"])
params = pika.ConnectionParameters('localhost', port=PORT, heartbeat=0)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.confirm_delivery()
ch.exchange_declare('tour.x', 'topic', durable=True, arguments={'alternate-exchange': 'amq.fanout'})
ch.exchange_declare('tour.h', 'headers', auto_delete=True)
ch.exchange_bind('tour.h', 'tour.x', routing_key='a.#')
ch.queue_declare('tour.q', durable=True, arguments={
    'x-message-ttl': 60000, 'x-max-length': 10, 'x-overflow': 'reject-publish',
    'x-dead-letter-exchange': 'amq.direct', 'x-dead-letter-routing-key': 'dead',
    'x-max-priority': 5, 'x-delivery-limit': 3})
ch.queue_bind('tour.q', 'tour.x', routing_key='a.*')
ch.queue_bind('tour.q', 'tour.h', arguments={'x-match': 'any', 'k': 'v', 'n': 1})
props = pika.BasicProperties(content_type='application/json', content_encoding='utf-8',
    headers={'k': 'v', 'nested': {'deep': [1, 2, True, None, b'bytes', {'t': 'x'}]}, 'n': -7},
    delivery_mode=2, priority=3, correlation_id='c1', reply_to='amq.rabbitmq.reply-to',
    expiration='30000', message_id='m1', timestamp=1700000000, type='t', user_id='guest',
    app_id='tour', cluster_id='')
for i in range(3):
    ch.basic_publish('tour.x', 'a.b', b'{"n": %d}' % i, props, mandatory=True)
try:
    ch.basic_publish('', 'nowhere', b'x' * 5000, pika.BasicProperties(), mandatory=True)
except pika.exceptions.UnroutableError:
    pass
ch.basic_qos(prefetch_count=2)
method, p, body = ch.basic_get('tour.q')
ch.basic_ack(method.delivery_tag)
method, p, body = ch.basic_get('tour.q')
ch.basic_reject(method.delivery_tag, requeue=True)
method, p, body = ch.basic_get('tour.q')
ch.basic_nack(method.delivery_tag, multiple=True, requeue=False)
ch.basic_recover(requeue=True)
tag = ch.basic_consume('tour.q', lambda *a: None, consumer_tag='ctag', arguments={'x-priority': 1})
conn.process_data_events(0.2)
ch.basic_cancel(tag)
ch.queue_purge('tour.q')
ch.queue_unbind('tour.q', 'tour.x', routing_key='a.*')
ch.exchange_unbind('tour.h', 'tour.x', routing_key='a.#')
ch2 = conn.channel()
ch2.tx_select()
ch2.basic_publish('', 'tour.q', b'in a transaction')
ch2.tx_rollback()
ch2.basic_publish('', 'tour.q', b'committed')
ch2.tx_commit()
q = ch2.queue_declare('', exclusive=True)
ch2.queue_declare('tour.q', passive=True)
try:
    ch2.queue_declare('missing', passive=True)
except pika.exceptions.ChannelClosedByBroker:
    pass
ch.queue_delete('tour.q', if_unused=False, if_empty=False)
ch.exchange_delete('tour.h')
ch.exchange_delete('tour.x', if_unused=True)
conn.close()
