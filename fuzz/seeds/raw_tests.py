"""Writes the frames of the server's raw-socket tests (server/tests/
hostile_clients.rs and bad_input.rs) as seeds for the frames and handshake
targets: `python3 fuzz/seeds/raw_tests.py fuzz/corpus/frames fuzz/corpus/handshake`."""
import os
import struct
import sys

HEADER = b"AMQP\x00\x00\x09\x01"


def frame(kind, channel, payload):
    return bytes([kind]) + struct.pack(">HI", channel, len(payload)) + payload + b"\xce"


def long(data):
    return struct.pack(">I", len(data)) + data


def short(text):
    return bytes([len(text)]) + text.encode()


def nested_tables(depth):
    table = long(b"")
    for _ in range(depth):
        table = long(b"\x01aF" + table)
    return table


def nested_arrays(depth):
    array = long(b"")
    for _ in range(1, depth):
        array = long(b"A" + array)
    return long(b"\x01aA" + array)


def start_ok(client_properties, mechanism="PLAIN", response=b"\0guest\0guest"):
    payload = b"\x00\x0a\x00\x0b" + client_properties + short(mechanism) + long(response) + short("en_US")
    return frame(1, 0, payload)


def amqplain(user, password):
    def entry(name, value):
        return short(name) + b"S" + long(value.encode())
    return entry("LOGIN", user) + entry("PASSWORD", password)


def tune_ok(channel_max=2047, frame_max=131072, heartbeat=0):
    return frame(1, 0, b"\x00\x0a\x00\x1f" + struct.pack(">HIH", channel_max, frame_max, heartbeat))


def open_vhost(vhost="/"):
    return frame(1, 0, b"\x00\x0a\x00\x28" + short(vhost) + b"\x00\x00")


def channel_open(channel=1):
    return frame(1, channel, b"\x00\x14\x00\x0a\x00")


def declare(name, arguments):
    return frame(1, 1, b"\x00\x32\x00\x0a\x00\x00" + short(name) + b"\x00" + arguments)


def publish(exchange, key):
    return frame(1, 1, b"\x00\x3c\x00\x28\x00\x00" + short(exchange) + short(key) + b"\x00")


def content_header(headers_table, body_size=0):
    return frame(2, 1, b"\x00\x3c\x00\x00" + struct.pack(">Q", body_size) + b"\x20\x00" + headers_table)


def logged_in(channel_max=2047):
    caps = long(short("capabilities") + b"F" + long(short("connection.blocked") + b"t\x01"))
    return HEADER + start_ok(caps) + tune_ok(channel_max) + open_vhost() + channel_open()


close = frame(1, 0, b"\x00\x0a\x00\x32\x00\x00" + short("bye") + b"\x00\x00\x00\x00")
SEEDS = {
    "start-ok-tables-past-the-limit": HEADER + start_ok(nested_tables(33)),
    "start-ok-tables-6000-deep": HEADER + start_ok(nested_tables(6000)),
    "start-ok-arrays-past-the-limit": HEADER + start_ok(nested_arrays(33)),
    "start-ok-amqplain": HEADER + start_ok(long(b""), "AMQPLAIN", amqplain("guest", "guest")) + tune_ok() + open_vhost(),
    "start-ok-wrong-password": HEADER + start_ok(long(b""), "PLAIN", b"\0guest\0nope"),
    "start-ok-unknown-mechanism": HEADER + start_ok(long(b""), "EXTERNAL", b""),
    "tune-ok-channel-max-0": HEADER + start_ok(long(b"")) + tune_ok(0) + open_vhost() + channel_open(),
    "tune-ok-frame-max-too-small": HEADER + start_ok(long(b"")) + tune_ok(2047, 1024) + open_vhost(),
    "open-unknown-vhost": HEADER + start_ok(long(b"")) + tune_ok() + open_vhost("nope"),
    "pipelined-open": logged_in(),
    "declare-arguments-past-the-limit": logged_in() + declare("q", nested_tables(33)),
    "declare-arguments-a-few-deep": logged_in() + declare("q", nested_tables(3)),
    "content-header-headers-past-the-limit": logged_in() + publish("", "q") + content_header(nested_tables(40)),
    "garbage-after-a-refused-frame": logged_in() + frame(1, 4000, b"\x00\x14\x00\x0a\x00") + bytes([9, 0, 0, 0, 0, 0, 0]) + b"\x00" * 256,
    "bad-frame-end": logged_in() + frame(1, 1, b"\x00\x14\x00\x0a\x00")[:-1] + b"\x00",
    "frame-above-frame-max": logged_in() + bytes([3, 0, 1]) + struct.pack(">I", 1 << 20),
    "body-where-a-method-belongs": logged_in() + frame(3, 1, b"body"),
    "method-that-does-not-decode": logged_in() + frame(1, 1, b"\x00\x32\x00\x0a\x00"),
    "unopened-channel": logged_in() + frame(1, 2, b"\x00\x32\x00\x0a\x00\x00" + short("q") + b"\x00" + long(b"")),
    "wrong-protocol-header": b"AMQP\x01\x01\x00\x0a" + b"\x00" * 8,
    "close-after-pipelined-methods": logged_in() + declare("q", long(b"")) + close,
}

for directory in sys.argv[1:]:
    for name, data in SEEDS.items():
        with open(os.path.join(directory, f"raw-{name}"), "wb") as out:
            out.write(data)
