"""A Pub/Sub API client built as Salesforce's own Python example builds one
(grpcio, stubs generated from the proto with grpcio-tools, avro), against
the emulator over TLS.

Usage: pubsub_check.py INSTANCE_URL GRPC_TARGET CERTIFICATE PROTO CLIENT_ID CLIENT_SECRET ORG_ID

The Rust side has already created, updated, deleted and undeleted one
Account, and published one Order_Placed__e through REST. Exits non-zero
(with the failed assertion) if the emulator answers anything the client
cannot use.
"""

import io
import os
import subprocess
import sys
import tempfile
import threading

import avro.io
import avro.schema
import grpc
import requests


def stubs(proto):
    """Generates the stubs into a temporary directory and imports them."""
    out = tempfile.mkdtemp()
    folder, name = os.path.split(proto)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{folder}", f"--python_out={out}", f"--grpc_python_out={out}", name],
        check=True,
    )
    sys.path.insert(0, out)
    import pubsub_api_pb2
    import pubsub_api_pb2_grpc

    return pubsub_api_pb2, pubsub_api_pb2_grpc


def decode(schema, payload):
    reader = avro.io.DatumReader(schema)
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(payload)))


def bit_positions(hex_bitmap):
    """The set bits of a `0x...` bitmap, least significant first (as
    Salesforce's ChangeEventHeaderUtility reads them)."""
    bits = bin(int(hex_bitmap[2:], 16))[2:]
    return [i for i, bit in enumerate(reversed(bits)) if bit == "1"]


def field_names(schema, encoded):
    """Decodes a changedFields / nulledFields list into field names."""
    fields = schema.fields
    names = []
    for element in encoded:
        if element.startswith("0x"):
            names += [fields[i].name for i in bit_positions(element)]
        else:
            parent, bitmap = element.split("-", 1)
            parent = fields[int(parent)]
            record = next(s for s in parent.type.schemas if s.type == "record")
            names += [f"{parent.name}.{record.fields[i].name}" for i in bit_positions(bitmap)]
    return names


def subscribe(stub, pb2, metadata, topic, want, preset, replay_id=b"", batch=2):
    """Reads `want` events, asking for `batch` at a time and asking again
    only when the server owes nothing, as the example does."""
    room = threading.Semaphore(1)
    done = threading.Event()

    def requests_():
        first = True
        while not done.is_set():
            if not room.acquire(timeout=0.1):
                continue
            if done.is_set():
                return
            request = pb2.FetchRequest(topic_name=topic, num_requested=batch)
            if first:
                request.replay_preset = preset
                request.replay_id = replay_id
                first = False
            yield request

    events = []
    responses = []
    stream = stub.Subscribe(requests_(), metadata=metadata)
    for response in stream:
        responses.append(response)
        assert len(response.latest_replay_id) >= 8, response.latest_replay_id
        assert response.pending_num_requested >= 0
        events += list(response.events)
        if response.pending_num_requested == 0:
            room.release()
        if len(events) >= want:
            done.set()
            room.release()
            stream.cancel()
            break
    return events, responses


def main():
    instance_url, target, certificate, proto, client_id, client_secret, org_id = sys.argv[1:8]
    pb2, pb2_grpc = stubs(proto)
    token = requests.post(
        f"{instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    ).json()["access_token"]
    with open(certificate, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    channel = grpc.secure_channel(target, credentials)
    stub = pb2_grpc.PubSubStub(channel)
    metadata = (("accesstoken", token), ("instanceurl", instance_url), ("tenantid", org_id))

    # A wrong token: UNAUTHENTICATED, with Salesforce's error code.
    try:
        stub.GetTopic(pb2.TopicRequest(topic_name="/data/AccountChangeEvent"),
                      metadata=(("accesstoken", "nope"), ("instanceurl", instance_url), ("tenantid", org_id)))
        raise AssertionError("a wrong token was taken")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        trailers = dict(error.trailing_metadata())
        assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.auth.error", trailers
        assert "rpcId: " in error.details(), error.details()

    # An unknown topic: NOT_FOUND.
    try:
        stub.GetTopic(pb2.TopicRequest(topic_name="/data/NopeChangeEvent"), metadata=metadata)
        raise AssertionError("an unknown topic was found")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error

    # Change events: the topic, its schema, then every change from the start.
    topic = stub.GetTopic(pb2.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=metadata)
    assert topic.can_subscribe and not topic.can_publish, topic
    info = stub.GetSchema(pb2.SchemaRequest(schema_id=topic.schema_id), metadata=metadata)
    schema = avro.schema.parse(info.schema_json)
    assert schema.fields[0].name == "ChangeEventHeader"

    events, responses = subscribe(stub, pb2, metadata, "/data/AccountChangeEvent", 4, pb2.ReplayPreset.EARLIEST)
    assert max(len(r.events) for r in responses) <= 2, "more events than asked for"
    decoded = [decode(schema, e.event.payload) for e in events]
    headers = [d["ChangeEventHeader"] for d in decoded]
    assert [h["changeType"] for h in headers] == ["CREATE", "UPDATE", "DELETE", "UNDELETE"], headers
    record_id = headers[0]["recordIds"][0]
    assert all(h["recordIds"] == [record_id] for h in headers), headers
    assert all(h["entityName"] == "Account" for h in headers)
    created, updated = decoded[0], decoded[1]
    assert created["Name"] == "Pub Sub Acme", created
    assert created["BillingAddress"]["City"] == "Lyon", created
    assert headers[0]["changedFields"] == [], headers[0]
    # Unchanged fields are null in an update.
    assert updated["Name"] is None and updated["Phone"] == "555-0199", updated
    assert updated["BillingAddress"]["City"] == "Paris", updated
    changed = field_names(schema, headers[1]["changedFields"])
    assert set(changed) == {"Phone", "LastModifiedDate", "BillingAddress.City", "Website"}, changed
    assert field_names(schema, headers[1]["nulledFields"]) == ["Website"], headers[1]["nulledFields"]

    # Replay: CUSTOM starts after the given event.
    after_update = events[1].replay_id
    replayed, _ = subscribe(stub, pb2, metadata, "/data/AccountChangeEvent", 2, pb2.ReplayPreset.CUSTOM, after_update)
    assert [decode(schema, e.event.payload)["ChangeEventHeader"]["changeType"] for e in replayed] == ["DELETE", "UNDELETE"]

    # An unknown replay id: INVALID_ARGUMENT, replayid.corrupted.
    try:
        subscribe(stub, pb2, metadata, "/data/AccountChangeEvent", 1, pb2.ReplayPreset.CUSTOM, b"\x00" * 10)
        raise AssertionError("an unknown replay id was taken")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        trailers = dict(error.trailing_metadata())
        assert trailers["error-code"].endswith("subscription.fetch.replayid.corrupted"), trailers

    # Platform events: publish one through Publish, beside the one the Rust
    # side published through REST.
    topic = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order_Placed__e"), metadata=metadata)
    assert topic.can_publish, topic
    event_schema = avro.schema.parse(stub.GetSchema(pb2.SchemaRequest(schema_id=topic.schema_id), metadata=metadata).schema_json)
    buffer = io.BytesIO()
    avro.io.DatumWriter(event_schema).write(
        {"CreatedDate": 1700000000000, "CreatedById": "005000000000000AAA", "Order_Number__c": "PY-7", "Amount__c": 12.5},
        avro.io.BinaryEncoder(buffer),
    )
    published = stub.Publish(
        pb2.PublishRequest(topic_name="/event/Order_Placed__e", events=[
            pb2.ProducerEvent(id="py-event-1", schema_id=topic.schema_id, payload=buffer.getvalue()),
            pb2.ProducerEvent(id="py-event-2", schema_id="wrong-schema", payload=buffer.getvalue()),
        ]),
        metadata=metadata,
    )
    assert published.results[0].replay_id and not published.results[0].HasField("error"), published
    assert published.results[0].correlation_key == "py-event-1"
    assert published.results[1].error.code == pb2.ErrorCode.PUBLISH, published
    platform, _ = subscribe(stub, pb2, metadata, "/event/Order_Placed__e", 2, pb2.ReplayPreset.EARLIEST)
    orders = [decode(event_schema, e.event.payload)["Order_Number__c"] for e in platform]
    assert orders == ["REST-1", "PY-7"], orders
    assert platform[1].event.id == "py-event-1"
    print("all worked")


if __name__ == "__main__":
    main()
