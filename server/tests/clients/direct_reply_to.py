"""RPC over direct reply-to with pika (the server advertises the
direct_reply_to capability), as RabbitMQ's RPC tutorial runs it
with amq.rabbitmq.reply-to in place of a callback queue: a server thread
answers fib(n) on 'rpc_queue' to each request's reply_to; the client
consumes from the pseudo-queue (auto_ack), sends its requests with reply_to
set to it and matches the replies by correlation_id. Then the misuses
RabbitMQ refuses, with its texts: asking for replies without consuming
them, and consuming them with acknowledgements."""
import os
import threading
import uuid

import pika

PARAMS = pika.ConnectionParameters("localhost", int(os.environ["BROKERLAB_PORT"]))
REPLY_TO = "amq.rabbitmq.reply-to"


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def serve(ready, requests):
    connection = pika.BlockingConnection(PARAMS)
    channel = connection.channel()
    channel.queue_declare(queue="rpc_queue")

    def on_request(ch, method, props, body):
        assert props.reply_to.startswith(REPLY_TO + "."), props.reply_to
        response = fib(int(body))
        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=pika.BasicProperties(correlation_id=props.correlation_id),
            body=str(response),
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)
        requests.append(int(body))

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="rpc_queue", on_message_callback=on_request)
    ready.set()
    while len(requests) < 3:
        connection.process_data_events(time_limit=0.1)
    connection.close()


class FibonacciRpcClient:
    def __init__(self):
        self.connection = pika.BlockingConnection(PARAMS)
        self.channel = self.connection.channel()
        self.channel.basic_consume(
            queue=REPLY_TO, on_message_callback=self.on_response, auto_ack=True
        )
        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key="rpc_queue",
            properties=pika.BasicProperties(reply_to=REPLY_TO, correlation_id=self.corr_id),
            body=str(n),
        )
        while self.response is None:
            self.connection.process_data_events(time_limit=10)
        return int(self.response)


def refused(action):
    connection = pika.BlockingConnection(PARAMS)
    channel = connection.channel()
    try:
        action(channel)
        channel.queue_declare(queue="", exclusive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code, error.reply_text
    finally:
        connection.close()
    raise AssertionError("the broker accepted it")


def main():
    ready, requests = threading.Event(), []
    server = threading.Thread(target=serve, args=(ready, requests))
    server.start()
    assert ready.wait(10)
    client = FibonacciRpcClient()
    capabilities = client.connection._impl.server_properties["capabilities"]
    assert capabilities.get("direct_reply_to") is True, capabilities
    for n in (10, 20, 1):
        result = client.call(n)
        print(f" [.] fib({n}) = {result}")
        assert result == fib(n)
    client.connection.close()
    server.join(10)
    assert requests == [10, 20, 1], requests

    code, text = refused(
        lambda ch: ch.basic_publish(
            "", "rpc_queue", b"1", pika.BasicProperties(reply_to=REPLY_TO)
        )
    )
    assert (code, text) == (406, "PRECONDITION_FAILED - fast reply consumer does not exist"), text
    code, text = refused(
        lambda ch: ch.basic_consume(REPLY_TO, lambda *args: None, auto_ack=False)
    )
    assert (code, text) == (406, "PRECONDITION_FAILED - reply consumer cannot acknowledge"), text
    print("direct_reply_to: three RPCs answered; both misuses refused with 406")


main()
