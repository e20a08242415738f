"""Redis Pub/Sub as redis-py sees it, case by case: what each publish
counts, what each subscriber receives, what PUBSUB answers, and the error
texts of refused commands. Prints one JSON line of observations per case;
server/tests/resp_clients.rs runs it against Debian's redis-server and
against brokerlab and compares the lines. It also asserts what Redis's
documentation promises, so that it checks brokerlab on its own too.
"""
import json
import os
import socket
import sys
import time

import redis

PORT = int(os.environ["BROKERLAB_RESP_PORT"])
WAIT_S = 2


def client(**options):
    return redis.Redis(host='127.0.0.1', port=PORT, **options)


def raw(protocol=2):
    """A connection of redis-py's own, for replies its client hides."""
    connection = redis.Connection(host='127.0.0.1', port=PORT, protocol=protocol)
    connection.connect()
    return connection


def ask(connection, *args):
    connection.send_command(*args)
    try:
        return plain(connection.read_response())
    except redis.RedisError as error:
        return {'error': str(error)}


def encode(*args):
    """A request as every client sends it: an array of bulk strings."""
    out = b'*%d\r\n' % len(args)
    for arg in args:
        arg = arg.encode()
        out += b'$%d\r\n%s\r\n' % (len(arg), arg)
    return out


def read_all(wire):
    """What the server sends until it has been quiet for a moment."""
    wire.settimeout(0.3)
    got = b''
    while True:
        try:
            chunk = wire.recv(65536)
        except socket.timeout:
            return got
        if not chunk:
            return got
        got += chunk


def plain(value):
    """A reply as JSON can hold it."""
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def drain(pubsub, count):
    """The next `count` messages of a subscriber (confirmations included)."""
    got = []
    while len(got) < count:
        message = pubsub.get_message(timeout=WAIT_S)
        if message is None:
            break
        got.append(plain({k: message[k] for k in ('type', 'pattern', 'channel', 'data')}))
    return got


def nothing_more(pubsub):
    return pubsub.get_message(timeout=0.3) is None


observations = []


def observe(case, value):
    observations.append(case)
    print(json.dumps({case: value}, sort_keys=True))
    sys.stdout.flush()


publisher = client()

# A subscriber by channel and by a matching pattern receives twice, and
# the publish counts both.
sub = client().pubsub()
sub.subscribe('news.tech')
sub.psubscribe('news.*')
confirmations = drain(sub, 2)
count = publisher.publish('news.tech', 'x')
got = drain(sub, 2)
assert count == 2 and len(got) == 2, (count, got)
observe('channel_and_pattern', {'confirmations': confirmations, 'count': count, 'got': got})
sub.close()

# Nothing is stored: a late subscriber gets nothing published before.
early = publisher.publish('late', 'before')
late = client().pubsub()
late.subscribe('late')
drain(late, 1)
after = publisher.publish('late', 'after')
got = drain(late, 1)
assert early == 0 and after == 1 and [m['data'] for m in got] == ['after']
assert nothing_more(late)
observe('late_subscriber', {'early': early, 'after': after, 'got': got})
late.close()

# Globs: which patterns match which channels (counted by the publishes).
patterns = ['h?llo', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', 'h[b-a]llo', 'a\\*b', '[abc', '*', 'x*y*z', '[]]']
channels = ['hello', 'hallo', 'hbllo', 'hllo', 'a*b', 'axb', 'a', 'xyz', 'x-y-z', 'xz', ']', '']
globs = client().pubsub()
globs.psubscribe(*patterns)
drain(globs, len(patterns))
counts = {channel: publisher.publish(channel, 'g') for channel in channels}
received = drain(globs, sum(counts.values()))
matched = sorted([m['pattern'], m['channel']] for m in received)
# h?llo, h[ae]llo and *; nothing matches the empty channel, not even *.
assert counts['hello'] == 3 and counts[''] == 0, counts
observe('globs', {'counts': counts, 'matched': matched})
globs.close()

# PUBSUB CHANNELS, NUMSUB and NUMPAT.
a, b = client().pubsub(), client().pubsub()
a.subscribe('c.one', 'c.two', 'other')
b.subscribe('c.one')
b.psubscribe('p.*', 'q.*')
drain(a, 3)
drain(b, 3)
introspection = {
    'channels': sorted(plain(publisher.pubsub_channels())),
    'channels_c': sorted(plain(publisher.pubsub_channels('c.*'))),
    'numsub': plain(publisher.pubsub_numsub('c.one', 'c.two', 'none')),
    'numpat': publisher.pubsub_numpat(),
}
assert introspection['numsub'] == [['c.one', 2], ['c.two', 1], ['none', 0]], introspection
observe('introspection', introspection)
a.close()
b.close()

# One publisher's messages arrive in its order.
ordered = client().pubsub()
ordered.subscribe('ordered')
drain(ordered, 1)
for n in range(200):
    publisher.publish('ordered', str(n))
got = [m['data'] for m in drain(ordered, 200)]
assert got == [str(n) for n in range(200)], got[:5]
observe('publisher_order', {'received': len(got), 'in_order': got == [str(n) for n in range(200)]})
ordered.close()

# RESP2's subscribed context: what is allowed and how it is refused.
connection = raw()
context = {
    'subscribe': ask(connection, 'SUBSCRIBE', 'ctx'),
    'ping': ask(connection, 'PING'),
    'ping_arg': ask(connection, 'PING', 'hi'),
    'get': ask(connection, 'GET', 'k'),
    'publish': ask(connection, 'PUBLISH', 'ctx', 'm'),
    'pubsub': ask(connection, 'PUBSUB', 'NUMPAT'),
    'unknown': ask(connection, 'NOSUCHCOMMAND', 'x'),
    'psubscribe': ask(connection, 'PSUBSCRIBE', 'ctx*'),
    'punsubscribe_all': ask(connection, 'PUNSUBSCRIBE'),
    'unsubscribe_all': ask(connection, 'UNSUBSCRIBE'),
    'unsubscribe_none': ask(connection, 'UNSUBSCRIBE'),
    'ping_after': ask(connection, 'PING'),
}
observe('resp2_subscribed_context', context)
connection.disconnect()

# Refusals outside it.
connection = raw()
refusals = {
    'unknown': ask(connection, 'FOO', 'a', 'b'),
    'unknown_long': ask(connection, 'foo', 'x' * 200),
    'publish_arity': ask(connection, 'PUBLISH', 'a'),
    'subscribe_arity': ask(connection, 'SUBSCRIBE'),
    'ping_arity': ask(connection, 'PING', 'a', 'b'),
    'pubsub_sub': ask(connection, 'PUBSUB', 'NOPE'),
    'pubsub_numpat_arity': ask(connection, 'PUBSUB', 'NUMPAT', 'x'),
    'hello_version': ask(connection, 'HELLO', '4'),
    'hello_option': ask(connection, 'HELLO', '3', 'NOPE'),
    'client_name': ask(connection, 'CLIENT', 'SETNAME', 'a b'),
    'client_setname': ask(connection, 'CLIENT', 'SETNAME', 'observer'),
    'client_getname': ask(connection, 'CLIENT', 'GETNAME'),
    'auth_password_alone': ask(connection, 'AUTH', 'secret'),
    'auth_wrong': ask(connection, 'AUTH', 'nobody', 'secret'),
    'reset': ask(connection, 'RESET'),
    'client_getname_after_reset': ask(connection, 'CLIENT', 'GETNAME'),
    'quit': ask(connection, 'QUIT'),
}
observe('refusals', refusals)
connection.disconnect()

# RESP3: messages are push frames and other commands run while subscribed.
resp3 = client(protocol=3)
pubsub3 = resp3.pubsub()
pubsub3.subscribe('three')
pubsub3.psubscribe('thr*')
drain(pubsub3, 2)
count = publisher.publish('three', 'm3')
got = drain(pubsub3, 2)
observe('resp3', {'count': count, 'got': got})
pubsub3.close()
# RESP3 on the wire (redis-py hands push frames to a handler of its own):
# in the subscribed context PING, PUBLISH and PUBSUB run, and the
# publisher's own message arrives as a push before the publish's count.
wire = socket.create_connection(('127.0.0.1', PORT))
wire.sendall(encode('HELLO', '3'))
read_all(wire)
wire.sendall(b''.join([
    encode('SUBSCRIBE', 'r3'),
    encode('PING'),
    encode('PUBLISH', 'r3', 'self'),
    encode('PUBSUB', 'NUMSUB', 'r3'),
]))
observe('resp3_subscribed_context', read_all(wire).decode('latin-1'))
wire.close()

# RESET drops the subscriptions.
connection = raw()
reset = {
    'subscribe': ask(connection, 'SUBSCRIBE', 'gone'),
    'reset': ask(connection, 'RESET'),
    'publish_after': publisher.publish('gone', 'x'),
    'ping': ask(connection, 'PING'),
}
assert reset['publish_after'] == 0, reset
observe('reset', reset)
connection.disconnect()
publisher.close()
print(json.dumps({'cases': observations}))
