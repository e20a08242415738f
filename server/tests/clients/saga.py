"""The seed document's order saga, orchestrated by the broker, with plain
pika participants: the shop declares an x-saga exchange with three steps
(reserve inventory, process payment, ship order) and starts two orders
under publisher confirms; three participant threads consume their queue,
do or undo their step as the x-saga-action header says, reply to reply_to
with the correlation id and an x-saga-outcome header, and ack. The payment
service declines order-2's card: the broker compensates the reservation
and publishes saga.failed; order-1 completes with saga.completed."""
import json
import os
import threading

import pika

PARAMS = pika.ConnectionParameters("localhost", int(os.environ["BROKERLAB_PORT"]))
STEPS = [
    ("reserve-inventory", "inventory"),
    ("process-payment", "payment"),
    ("ship-order", "shipping"),
]
ORDERS = {"order-1": "4242", "order-2": "0000"}


def declare(channel):
    steps = [
        {
            "name": name,
            "command": queue,
            "compensation": queue,
            "timeout-ms": 30000,
            "retries": 1,
        }
        for name, queue in STEPS
    ]
    channel.exchange_declare(
        exchange="order-saga",
        exchange_type="x-saga",
        durable=True,
        arguments={"x-saga-steps": steps},
    )
    for _, queue in STEPS:
        channel.queue_declare(queue=queue, durable=True)
    channel.queue_declare(queue="saga-outcomes", durable=True)
    channel.queue_bind(queue="saga-outcomes", exchange="amq.topic", routing_key="saga.*")


def participant(queue, effects, stop):
    connection = pika.BlockingConnection(PARAMS)
    channel = connection.channel()
    channel.confirm_delivery()
    applied = set()

    def on_message(ch, method, props, body):
        key = props.correlation_id
        action = props.headers["x-saga-action"]
        order = json.loads(body)
        declined = queue == "payment" and action == "do" and order["card"] == "0000"
        if key not in applied and not declined:
            applied.add(key)
            effects.append((queue, key))
        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=pika.BasicProperties(
                correlation_id=key,
                headers={"x-saga-outcome": "failure" if declined else "success"},
            ),
            body=b"",
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_consume(queue=queue, on_message_callback=on_message)
    while not stop.is_set():
        connection.process_data_events(time_limit=0.1)
    connection.close()


def main():
    connection = pika.BlockingConnection(PARAMS)
    channel = connection.channel()
    declare(channel)

    # A malformed definition is refused with a 406 that names the argument.
    bad = connection.channel()
    try:
        bad.exchange_declare(
            exchange="bad-saga",
            exchange_type="x-saga",
            arguments={"x-saga-steps": [{"name": "a", "command": "q"}]},
        )
        raise AssertionError("a step without a compensation was accepted")
    except pika.exceptions.ChannelClosedByBroker as closed:
        assert closed.reply_code == 406, closed
        assert "'x-saga-steps'" in closed.reply_text, closed.reply_text
        assert "'compensation' is required" in closed.reply_text, closed.reply_text

    effects, stop = [], threading.Event()
    threads = [
        threading.Thread(target=participant, args=(queue, effects, stop))
        for _, queue in STEPS
    ]
    for thread in threads:
        thread.start()

    channel.confirm_delivery()
    for order, card in ORDERS.items():
        channel.basic_publish(
            exchange="order-saga",
            routing_key="",
            properties=pika.BasicProperties(
                message_id=order, content_type="application/json", delivery_mode=2
            ),
            body=json.dumps({"orderId": order, "card": card}),
        )

    outcomes = {}
    for method, props, body in channel.consume("saga-outcomes", inactivity_timeout=20):
        assert method is not None, f"outcomes so far: {outcomes}"
        outcomes[props.message_id] = (method.routing_key, json.loads(body))
        channel.basic_ack(method.delivery_tag)
        if len(outcomes) == len(ORDERS):
            break
    channel.cancel()
    stop.set()
    for thread in threads:
        thread.join()
    connection.close()

    key, body = outcomes["order-1"]
    assert key == "saga.completed", outcomes
    assert body == {"sagaId": "order-1", "saga": "order-saga", "state": "completed"}, body
    key, body = outcomes["order-2"]
    assert key == "saga.failed", outcomes
    assert body["state"] == "compensated", body
    assert body["error"] == "step 'process-payment' failed", body
    mine = lambda order: [(q, k.split(":")[0] + ":" + k.split(":")[1]) for q, k in effects if k.endswith(order)]
    assert mine("order-1") == [
        ("inventory", "do:0"),
        ("payment", "do:1"),
        ("shipping", "do:2"),
    ], effects
    assert mine("order-2") == [("inventory", "do:0"), ("inventory", "undo:0")], effects
    print("outcomes:", outcomes)
    print("effects:", effects)


main()
