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
