# kafka-python's admin client on consumer groups: a group with a member is
# listed and described Stable with that member; once the member leaves it is
# Empty, and deleting it removes it and its offsets.
import os
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

servers = [f"127.0.0.1:{os.environ['BROKERLAB_KAFKA_PORT']}"]
producer = KafkaProducer(bootstrap_servers=servers)
producer.send("admin-orders", b"order").get(timeout=10)
producer.close()

consumer = KafkaConsumer("admin-orders", bootstrap_servers=servers, group_id="billing",
                         auto_offset_reset="earliest", consumer_timeout_ms=8000)
received = next(iter(consumer)).value
if received != b"order":
    sys.exit(f"received {received!r}")
consumer.commit()

admin = KafkaAdminClient(bootstrap_servers=servers)
listed = admin.list_groups()
if listed != [{"group_id": "billing", "protocol_type": "consumer", "group_state": "Stable"}]:
    sys.exit(f"listed {listed}")
described = admin.describe_groups(["billing"])["billing"]
members = described["members"]
assigned = [member["member_assignment"]["assigned_partitions"] for member in members]
if (described["group_state"], described["protocol_data"], described["error"]) != ("Stable", "range", None) \
        or assigned != [[{"topic": "admin-orders", "partitions": [0]}]]:
    sys.exit(f"described while a member is in: {described}")

consumer.close()
described = admin.describe_groups(["billing"])["billing"]
if (described["group_state"], described["members"]) != ("Empty", []):
    sys.exit(f"described after the member left: {described}")
deleted = admin.delete_groups(["billing"])
if deleted != {"billing": "OK"}:
    sys.exit(f"deleted {deleted}")
if admin.list_groups() != []:
    sys.exit(f"still listed after deletion: {admin.list_groups()}")
admin.close()
print("admin on groups: listed, described Stable then Empty, deleted")
