"""boto3 against brokerlab's SQS listener, unmodified but for its endpoint.

Usage: python3 sqs_boto3.py SCENARIO, with the listener's port in
BROKERLAB_SQS_PORT (and, for `signatures`, the access key and secret the
server was started with in BROKERLAB_SQS_KEY and BROKERLAB_SQS_SECRET).
Each scenario asserts what the client sees and prints `ok` last.
"""

import base64
import hashlib
import json
import os
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

PORT = os.environ["BROKERLAB_SQS_PORT"]
ENDPOINT = f"http://127.0.0.1:{PORT}"


def client(key="test", secret="test"):
    return boto3.client(
        "sqs",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def error_code(call):
    """The error code boto3 reports for `call`, which must fail."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError("the call succeeded")


def attributes_md5(attributes):
    """MD5OfMessageAttributes, by AWS's documented algorithm."""
    digest = hashlib.md5()

    def field(data):
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        attribute = attributes[name]
        field(name.encode())
        field(attribute["DataType"].encode())
        if "StringValue" in attribute:
            digest.update(b"\x01")
            field(attribute["StringValue"].encode())
        else:
            digest.update(b"\x02")
            field(attribute["BinaryValue"])
    return digest.hexdigest()


def send_receive_delete():
    sqs = client()
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"{ENDPOINT}/000000000000/orders", url
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    attributes = {
        "Type": {"DataType": "String", "StringValue": "Order"},
        "Count": {"DataType": "Number", "StringValue": "3"},
        "Raw": {"DataType": "Binary", "BinaryValue": b"\x00\xffbytes"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest(), sent
    assert sent["MD5OfMessageAttributes"] == attributes_md5(attributes), sent
    assert "SequenceNumber" not in sent, sent
    plain = sqs.send_message(QueueUrl=url, MessageBody="plain")
    assert "MD5OfMessageAttributes" not in plain, plain
    received = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert [m["Body"] for m in received] == ["héllo", "plain"], received
    first = received[0]
    assert first["MessageId"] == sent["MessageId"], first
    assert first["MD5OfBody"] == sent["MD5OfMessageBody"], first
    assert first["MessageAttributes"] == attributes, first
    assert first["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"], first
    system = first["Attributes"]
    assert system["ApproximateReceiveCount"] == "1", system
    assert abs(int(system["SentTimestamp"]) - time.time() * 1000) < 60_000, system
    assert set(system) == {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
    }, system
    assert "MessageAttributes" not in received[1], received[1]
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url), "the queue is empty"
    counts = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, counts
    assert url in sqs.list_queues(QueueNamePrefix="ord")["QueueUrls"]
    sqs.delete_queue(QueueUrl=url)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="ord")


def attribute_selection():
    sqs = client()
    url = sqs.create_queue(QueueName="selection")["QueueUrl"]
    attributes = {
        "order.id": {"DataType": "String", "StringValue": "7"},
        "order.total": {"DataType": "Number", "StringValue": "12.5"},
        "customer": {"DataType": "String", "StringValue": "ada"},
    }
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes=attributes)
    message = sqs.receive_message(
        QueueUrl=url,
        VisibilityTimeout=0,
        MessageAttributeNames=["order.*"],
        AttributeNames=["ApproximateReceiveCount"],
    )["Messages"][0]
    chosen = {name: attributes[name] for name in ["order.id", "order.total"]}
    assert message["MessageAttributes"] == chosen, message
    assert message["MD5OfMessageAttributes"] == attributes_md5(chosen), message
    assert message["Attributes"] == {"ApproximateReceiveCount": "1"}, message
    message = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
    assert "MessageAttributes" not in message and "Attributes" not in message, message


def batches():
    sqs = client()
    url = sqs.create_queue(QueueName="batches")["QueueUrl"]
    entries = [{"Id": f"msg-{i}", "MessageBody": json.dumps({"orderId": i})} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in sent["Successful"]) == sorted(e["Id"] for e in entries), sent
    assert sent.get("Failed", []) == [], sent
    for success in sent["Successful"]:
        body = json.dumps({"orderId": int(success["Id"].split("-")[1])})
        assert success["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest(), success
    eleven = [{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)]
    code = error_code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=eleven))
    assert code == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", code
    mixed = [
        {"Id": "good", "MessageBody": "fine"},
        {"Id": "late", "MessageBody": "too late", "DelaySeconds": 901},
    ]
    result = sqs.send_message_batch(QueueUrl=url, Entries=mixed)
    assert [s["Id"] for s in result["Successful"]] == ["good"], result
    [failed] = result["Failed"]
    assert failed["Id"] == "late" and failed["SenderFault"] is True, failed
    assert failed["Code"] == "InvalidParameterValue", failed
    received = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        received.extend(messages)
    assert len(received) == 11, received
    handles = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received[:10])]
    visibility = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[dict(h, VisibilityTimeout=60) for h in handles[:2]]
        + [{"Id": "bogus", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 60}],
    )
    assert sorted(s["Id"] for s in visibility["Successful"]) == ["d0", "d1"], visibility
    assert [f["Code"] for f in visibility["Failed"]] == ["ReceiptHandleIsInvalid"], visibility
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=handles)
    assert len(deleted["Successful"]) == 10, deleted
    code = error_code(lambda: sqs.delete_message_batch(QueueUrl=url, Entries=[]))
    assert code == "AWS.SimpleQueueService.EmptyBatchRequest", code


def visibility_timeout():
    sqs = client()
    url = sqs.create_queue(QueueName="visibility")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, AttributeNames=["All"])["Messages"][0]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1", first
    assert "Messages" not in sqs.receive_message(QueueUrl=url), "invisible for a second"
    time.sleep(1.5)
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30, AttributeNames=["All"])["Messages"][0]
    assert second["MessageId"] == first["MessageId"], second
    assert second["Attributes"]["ApproximateReceiveCount"] == "2", second
    assert second["Attributes"]["ApproximateFirstReceiveTimestamp"] == first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    # A delete with the first receive's handle succeeds and deletes nothing.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert third["MessageId"] == first["MessageId"], third
    assert third["Attributes"]["ApproximateReceiveCount"] == "3", third
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    code = error_code(
        lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"], VisibilityTimeout=5)
    )
    assert code == "AWS.SimpleQueueService.MessageNotInflight", code


def redrive():
    sqs = client()
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName="work", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    stored = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    assert stored == {"deadLetterTargetArn": arn, "maxReceiveCount": 2}, stored
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for count in ["1", "2"]:
        message = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])["Messages"][0]
        assert message["Attributes"]["ApproximateReceiveCount"] == count, message
    assert "Messages" not in sqs.receive_message(QueueUrl=url), "moved to the dead-letter queue"
    dead = sqs.receive_message(QueueUrl=dlq)["Messages"][0]
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison", dead


def long_poll():
    sqs = client()
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    waited = time.monotonic() - started
    assert 0.9 <= waited < 3, waited

    sender_client = client()

    def send_later():
        time.sleep(0.5)
        sender_client.send_message(QueueUrl=url, MessageBody="meanwhile")

    sender = threading.Thread(target=send_later)
    started = time.monotonic()
    sender.start()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    waited = time.monotonic() - started
    sender.join()
    assert [m["Body"] for m in messages] == ["meanwhile"], messages
    # Answered by the send, not at the end of the wait.
    assert 0.4 <= waited < 4, waited


def fifo():
    sqs = client()
    url = sqs.create_queue(
        QueueName="orders.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    a = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    again = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    assert again["MessageId"] == a["MessageId"], (a, again)
    assert again["SequenceNumber"] == a["SequenceNumber"], (a, again)
    b = sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b")
    a2 = sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a", MessageDeduplicationId="x")
    assert int(a["SequenceNumber"]) < int(b["SequenceNumber"]) < int(a2["SequenceNumber"])
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="a", MessageDeduplicationId="x")
    assert duplicate["MessageId"] == a2["MessageId"], duplicate
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a1"], first
    system = first[0]["Attributes"]
    assert system["MessageGroupId"] == "a" and system["SequenceNumber"] == a["SequenceNumber"], system
    assert system["MessageDeduplicationId"] == hashlib.sha256(b"a1").hexdigest(), system
    # Group a has a message in flight: only group b's is received.
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b1"], rest
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    after = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in after] == ["a2"], after
    plain = sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    code = error_code(lambda: sqs.send_message(QueueUrl=plain, MessageBody="x", MessageGroupId="g"))
    assert code == "InvalidParameterValue", code
    code = error_code(lambda: sqs.send_message(QueueUrl=plain, MessageBody="x", MessageDeduplicationId="d"))
    assert code == "MissingParameter", code


def errors():
    sqs = client()
    missing = f"{ENDPOINT}/000000000000/no-such-queue"
    code = error_code(lambda: sqs.send_message(QueueUrl=missing, MessageBody="x"))
    assert code == "AWS.SimpleQueueService.NonExistentQueue", code
    try:
        sqs.get_queue_url(QueueName="no-such-queue")
        raise AssertionError("the queue exists")
    except sqs.exceptions.QueueDoesNotExist:
        pass
    url = sqs.create_queue(QueueName="limits", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    code = error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * 1025))
    assert code == "InvalidParameterValue", code
    big = sqs.create_queue(QueueName="big")["QueueUrl"]
    sqs.send_message(QueueUrl=big, MessageBody="x" * 262_144)
    code = error_code(lambda: sqs.send_message(QueueUrl=big, MessageBody="x" * 262_145))
    assert code == "InvalidParameterValue", code
    code = error_code(lambda: sqs.create_queue(QueueName="limits", Attributes={"MaximumMessageSize": "2048"}))
    assert code == "QueueAlreadyExists", code
    code = error_code(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11))
    assert code == "InvalidParameterValue", code
    code = error_code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage"))
    assert code == "ReceiptHandleIsInvalid", code
    sqs.purge_queue(QueueUrl=big)
    code = error_code(lambda: sqs.purge_queue(QueueUrl=big))
    assert code == "AWS.SimpleQueueService.PurgeQueueInProgress", code
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}
    raw_errors()


def list_pages():
    sqs = client()
    made = sorted(sqs.create_queue(QueueName=f"page-{n}")["QueueUrl"] for n in range(5))
    sqs.create_queue(QueueName="other")
    first = sqs.list_queues(QueueNamePrefix="page-", MaxResults=2)
    assert first["QueueUrls"] == made[:2], first
    second = sqs.list_queues(QueueNamePrefix="page-", MaxResults=2, NextToken=first["NextToken"])
    assert second["QueueUrls"] == made[2:4], second
    third = sqs.list_queues(QueueNamePrefix="page-", MaxResults=2, NextToken=second["NextToken"])
    assert third["QueueUrls"] == made[4:], third
    assert "NextToken" not in third, third
    # Without MaxResults: every queue in one answer, and no token.
    everything = sqs.list_queues(QueueNamePrefix="page-")
    assert everything["QueueUrls"] == made and "NextToken" not in everything, everything
    # boto3's paginator follows the tokens.
    pages = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix="page-", PaginationConfig={"PageSize": 2})
    assert [url for page in pages for url in page["QueueUrls"]] == made
    code = error_code(lambda: sqs.list_queues(MaxResults=2, NextToken="not a token"))
    assert code == "InvalidParameterValue", code


def raw(target, body):
    """A request boto3 would not send: status, JSON answer and query error header."""
    request = urllib.request.Request(
        ENDPOINT + "/",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read()), response.headers.get("x-amzn-query-error")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("x-amzn-query-error")


def raw_errors():
    status, answer, query = raw("AmazonSQS.NoSuchAction", b"{}")
    assert status == 400 and answer["__type"].endswith("#InvalidAction"), answer
    assert query == "InvalidAction;Sender", query
    status, answer, _ = raw("AmazonSQS.SendMessage", b"{not json")
    assert status == 400 and answer["__type"].endswith("#SerializationException"), answer
    status, answer, query = raw("AmazonSQS.SendMessage", b'{"MessageBody":"x"}')
    assert status == 400 and answer["__type"] == "com.amazonaws.sqs#MissingParameter", answer
    assert answer["message"] == "The request must contain the parameter QueueUrl.", answer
    assert query == "MissingParameter;Sender", query
    status, answer, query = raw("AmazonSQS.GetQueueUrl", b'{"QueueName":"nope"}')
    assert status == 400 and answer["__type"] == "com.amazonaws.sqs#QueueDoesNotExist", answer
    assert query == "AWS.SimpleQueueService.NonExistentQueue;Sender", query


def signatures():
    key, secret = os.environ["BROKERLAB_SQS_KEY"], os.environ["BROKERLAB_SQS_SECRET"]
    sqs = client(key, secret)
    url = sqs.create_queue(QueueName="signed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="signed")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "signed"
    code = error_code(lambda: client(key, secret + "x").list_queues())
    assert code == "SignatureDoesNotMatch", code
    code = error_code(lambda: client("AKIDUNKNOWN", secret).list_queues())
    assert code == "InvalidClientTokenId", code
    status, answer, _ = raw("AmazonSQS.ListQueues", b"{}")
    assert status == 403 and answer["__type"].endswith("#MissingAuthenticationToken"), answer


SCENARIOS = {
    name: globals()[name]
    for name in [
        "send_receive_delete",
        "attribute_selection",
        "batches",
        "visibility_timeout",
        "redrive",
        "long_poll",
        "fifo",
        "errors",
        "list_pages",
        "signatures",
    ]
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print("ok")
