"""The seed document's Redis Pub/Sub example in Python (redis-py), with
the assertions of the test: the subscriber, subscribed to 'events' before
the publish, receives the one published event; the publish counts one
receiver; a message published with nobody subscribed is gone.
"""
import json
import os
import time

import redis

PORT = int(os.environ["BROKERLAB_RESP_PORT"])
DEADLINE_S = 10

# ========== Subscriber ==========
r = redis.Redis(host='localhost', port=PORT, decode_responses=True)
pubsub = r.pubsub()
pubsub.subscribe('events')
print('Subscribed to events')

# ========== Publisher ==========
publisher = redis.Redis(host='localhost', port=PORT, decode_responses=True)
assert publisher.publish('nobody-listens', 'lost') == 0, 'nobody is subscribed there'
message = {'event': 'user-login', 'userId': '123'}
# The subscription is confirmed before the publish: wait for it.
confirmation = pubsub.get_message(timeout=DEADLINE_S)
assert confirmation['type'] == 'subscribe', confirmation
receivers = publisher.publish('events', json.dumps(message))
print('Published:', message)
assert receivers == 1, f'one subscriber, counted {receivers}'

received = []
deadline = time.monotonic() + DEADLINE_S
for message_in in pubsub.listen():
    if message_in['type'] == 'message':
        event = json.loads(message_in['data'])
        print('Received:', event)
        received.append(event)
        break
    assert time.monotonic() < deadline, 'nothing arrived'
assert received == [message], received
pubsub.close()
r.close()
publisher.close()
print('ok')
