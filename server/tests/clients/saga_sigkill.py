"""Order sagas survive a SIGKILL of the server mid-saga. The script runs the
server itself (BROKERLAB_SERVER DATA_DIR prints `listening on ADDR`), starts
SAGAS three-step sagas under publisher confirms, and runs pika participants
that are idempotent by correlation id and confirm each reply before acking
the command. Once some sagas have completed and others are mid-way, it kills
the server with SIGKILL and starts it again on the same data; participants
reconnect. Every saga must then complete, with each of its steps applied
exactly once, in order, and no compensation ever sent: nothing the broker
acknowledged (a start, a reply) is lost, and nothing is done twice."""
import json
import os
import signal
import subprocess
import threading
import time

import pika

SERVER, DATA = os.environ["BROKERLAB_SERVER"], os.environ["BROKERLAB_DATA"]
SAGAS = 200
KILL_AFTER = 20
STEPS = ["inventory", "payment", "shipping"]
DEADLINE_S = 45

lock = threading.Lock()
state = {
    "port": None,
    "server": None,
    "up": threading.Event(),
    "killed": threading.Event(),
    "done": threading.Event(),
}
effects = []  # (queue, correlation id) in the order applied
deliveries = {}  # correlation id -> times delivered
outcomes = {}  # saga id -> routing key


def start_server():
    process = subprocess.Popen(
        [SERVER, DATA], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    assert line.startswith("listening on "), line
    state["port"] = int(line.strip().rsplit(":", 1)[1])
    state["server"] = process
    state["up"].set()
    return process


def connect():
    state["up"].wait()
    params = pika.ConnectionParameters("localhost", state["port"], heartbeat=0)
    return pika.BlockingConnection(params)


def resilient(body):
    """Runs body(connection) until done, reconnecting after the server dies."""
    while not state["done"].is_set():
        try:
            connection = connect()
            try:
                body(connection)
            finally:
                if connection.is_open:
                    connection.close()
        except (pika.exceptions.AMQPError, OSError):
            time.sleep(0.05)


def participant(queue):
    applied = set()

    def body(connection):
        channel = connection.channel()
        channel.confirm_delivery()
        for method, props, _ in channel.consume(queue, inactivity_timeout=0.1):
            if state["done"].is_set():
                return
            if method is None:
                continue
            key = props.correlation_id
            with lock:
                deliveries[key] = deliveries.get(key, 0) + 1
                if key not in applied:
                    applied.add(key)
                    effects.append((queue, key))
            channel.basic_publish(
                exchange="",
                routing_key=props.reply_to,
                properties=pika.BasicProperties(
                    correlation_id=key, headers={"x-saga-outcome": "success"}
                ),
                body=b"",
            )
            channel.basic_ack(method.delivery_tag)

    resilient(body)


def observer():
    def body(connection):
        channel = connection.channel()
        for method, props, _ in channel.consume("saga-outcomes", inactivity_timeout=0.1):
            if state["done"].is_set():
                return
            if method is None:
                continue
            with lock:
                outcomes[props.message_id] = method.routing_key
                if len(outcomes) == KILL_AFTER and not state["killed"].is_set():
                    # Killed from here, at once: the sagas behind are mid-way.
                    state["up"].clear()
                    state["server"].send_signal(signal.SIGKILL)
                    state["killed"].set()
                    return
            channel.basic_ack(method.delivery_tag)

    resilient(body)


def main():
    watchdog = threading.Timer(DEADLINE_S + 10, lambda: (print("hung", flush=True), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    server = start_server()
    connection = connect()
    channel = connection.channel()
    steps = [
        {"name": q, "command": q, "compensation": q + ".undo", "timeout-ms": 60000}
        for q in STEPS
    ]
    channel.exchange_declare(
        exchange="order-saga", exchange_type="x-saga", durable=True,
        arguments={"x-saga-steps": steps},
    )
    for queue in STEPS + [q + ".undo" for q in STEPS] + ["saga-outcomes"]:
        channel.queue_declare(queue=queue, durable=True)
    channel.queue_bind(queue="saga-outcomes", exchange="amq.topic", routing_key="saga.*")
    channel.confirm_delivery()
    for n in range(SAGAS):
        channel.basic_publish(
            exchange="order-saga", routing_key="",
            properties=pika.BasicProperties(message_id=f"order-{n}", delivery_mode=2),
            body=json.dumps({"orderId": n}),
        )
    connection.close()
    # Every start is confirmed: the participants begin, and the observer
    # kills the server once KILL_AFTER sagas have ended.
    threads = [threading.Thread(target=participant, args=(q,)) for q in STEPS]
    threads.append(threading.Thread(target=observer))
    for thread in threads:
        thread.start()

    started = time.monotonic()
    assert state["killed"].wait(DEADLINE_S), f"only {len(outcomes)} outcomes before the kill"
    server.wait()
    with lock:
        completed_before = len(outcomes)
    server = start_server()

    while len(outcomes) < SAGAS and time.monotonic() - started < DEADLINE_S:
        time.sleep(0.05)
    state["done"].set()
    for thread in threads:
        thread.join()
    server.send_signal(signal.SIGKILL)
    server.wait()

    assert completed_before < SAGAS, "the kill came after every saga had ended"
    missing = [f"order-{n}" for n in range(SAGAS) if f"order-{n}" not in outcomes]
    assert not missing, f"sagas without an outcome: {missing}"
    assert set(outcomes.values()) == {"saga.completed"}, outcomes
    for n in range(SAGAS):
        order = [queue for queue, key in effects if key.endswith(f":order-{n}")]
        assert order == STEPS, f"order-{n}: steps applied {order}"
    assert all(not key.startswith("undo") for _, key in effects), effects
    again = sum(count - 1 for count in deliveries.values())
    print(f"{SAGAS} sagas, {completed_before} completed before the SIGKILL; "
          f"every step applied once in order; {again} repeated deliveries absorbed by idempotency")


main()
