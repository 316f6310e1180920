"""The local stack's DynamoDB: port check, Java fallback, data kept across restarts."""

from __future__ import annotations

import socket

import pytest

from devstack import dynamodb as dynamodb_module
from devstack.dynamodb import StartError, free_port, start_dynamodb
from devstack.stack import dynamodb_client, table_names
from devstack.tables import ensure_tables


def test_a_taken_port_is_reported_not_crashed_into() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"port {port} is already in use"):
            start_dynamodb(port, data_dir=None)


def test_without_java_it_says_so_and_falls_back_to_moto(monkeypatch, capsys, template) -> None:
    monkeypatch.setattr(dynamodb_module.shutil, "which", lambda _: None)
    db = start_dynamodb(free_port(), data_dir=None)
    try:
        assert "moto" in db.engine
        assert "Java" in capsys.readouterr().err
        client = dynamodb_client(db.endpoint)
        assert sorted(ensure_tables(client, template, table_names(template))) == sorted(template.tables())
    finally:
        db.stop()
    with pytest.raises(StartError, match="needs Java"):
        start_dynamodb(free_port(), data_dir=None, allow_moto=False)


def test_data_survives_a_restart(tmp_path, template) -> None:
    port = free_port()
    for run in range(2):
        db = start_dynamodb(port, data_dir=tmp_path)
        try:
            client = dynamodb_client(db.endpoint)
            created = ensure_tables(client, template, table_names(template))
            if run == 0:
                assert sorted(created) == sorted(template.tables())
                client.put_item(TableName="PlantsTable", Item={"pk": {"S": "kept"}})
            else:
                assert created == []
                assert client.get_item(TableName="PlantsTable", Key={"pk": {"S": "kept"}})["Item"]
        finally:
            db.stop()


class _Recorder:
    """A LambdaRuntime stand-in that records the events it is given."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def invoke(self, name: str, event: dict) -> dict:
        self.events.append(event)
        return {"batchItemFailures": []}


def test_the_stream_poller_survives_dynamodb_locals_trimmed_iterators(template) -> None:
    """DynamoDB Local invalidates the iterator of an empty shard when any other table is written
    (the development key written at start did it); the poller must still deliver what follows."""
    import threading
    import time

    from devstack.eventsources import StreamPoller
    from devstack.stack import aws_client

    db = start_dynamodb(free_port(), data_dir=None, allow_moto=False)  # its own: an empty stream
    try:
        client = dynamodb_client(db.endpoint)
        ensure_tables(client, template, table_names(template))
        runtime = _Recorder()
        streams = aws_client("dynamodbstreams", db.endpoint)
        poller = StreamPoller(
            runtime, "PlantStreamFunction", {"BatchSize": 10}, client, streams, None, "PlantsTable",
            None, None, interval=0.05,
        )  # fmt: skip
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        time.sleep(0.5)  # let it poll the empty shard with its first iterator
        client.put_item(TableName="ApiKeysTable", Item={"key_id": {"S": "k"}})
        client.put_item(TableName="PlantsTable", Item={"pk": {"S": "PLANT#1"}})
        deadline = time.monotonic() + 60
        while not runtime.events and time.monotonic() < deadline:
            time.sleep(0.1)
        poller.stop()
        (event,) = runtime.events
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]] == ["PLANT#1"]
    finally:
        db.stop()
