"""DynamoDB that hangs instead of refusing: the API answers its own 503 before the Lambda would be
killed, and a write sent during the hang is afterwards whole or absent.

The engine is frozen (SIGSTOP): it keeps accepting connections and never answers, which is what
a stopped one does not show.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from devstack.apigateway import build_event, match_route
from devstack.dynamodb import DynamoDB, free_port, start_dynamodb
from devstack.lambdas import FakeContext, load_handler
from devstack.stack import dynamodb_client, table_names
from devstack.tables import ensure_tables
from powerfactor.plants import logic as plants
from tests.support import OWNER, caller

BASE = "/api/solar-plant"


@pytest.fixture
def own_dynamodb(template) -> Iterator[DynamoDB]:
    """A DynamoDB Local of this test's own: freezing the session's would stall other tests."""
    db = start_dynamodb(free_port(), data_dir=None, allow_moto=False)
    try:
        ensure_tables(dynamodb_client(db.endpoint), template, table_names(template))
        yield db
    finally:
        os.kill(db.process.pid, signal.SIGCONT)
        db.stop()


def _call(template, method: str, path: str, body: object = None) -> tuple[dict, FakeContext]:
    route, params, _ = match_route(template.api_routes(), method, path)
    function = template.functions()[route.function]
    data = json.dumps(body).encode() if body is not None else b""
    headers = [("Content-Type", "application/json")]
    event = build_event(route, method, path, params, headers, data, "Prod", authorizer=caller())
    context = FakeContext(function.logical_id, function.memory, function.timeout)  # Lambda's budget
    return load_handler(function, template.layer_dirs())(event, context), context


def test_a_frozen_dynamodb_gets_the_apis_503_in_time_and_loses_nothing(
    template, own_dynamodb, use_function_env
) -> None:
    use_function_env("PlantsApiFunction", DynamoDbEndpoint=own_dynamodb.endpoint)
    reply, _ = _call(template, "POST", BASE, {"name": "Before the hang"})
    assert reply["statusCode"] == 201

    os.kill(own_dynamodb.process.pid, signal.SIGSTOP)
    try:
        for method, path, body in [
            ("GET", BASE, None),
            ("POST", BASE, {"name": "During the hang"}),
            ("GET", f"{BASE}/plant/1", None),
        ]:
            reply, context = _call(template, method, path, body)
            error = json.loads(reply["body"])["error"]
            assert (reply["statusCode"], error["code"]) == (503, "storage_unavailable"), (method, path, error)
            assert reply["multiValueHeaders"]["Retry-After"] == ["1"]
            # answered while the function still had time: the gateway never saw a timeout
            assert context.get_remaining_time_in_millis() > 0, (method, path)
    finally:
        os.kill(own_dynamodb.process.pid, signal.SIGCONT)

    # whatever DynamoDB did with the create once it thawed, it is all there or not at all
    names = [p.name for p in plants.list_plants(OWNER, limit=200).items]
    assert "Before the hang" in names
    again, _ = _call(template, "POST", BASE, {"name": "During the hang"})
    if "During the hang" in names:
        assert again["statusCode"] == 409  # its name claim came with it
    else:
        assert again["statusCode"] == 201  # neither plant nor name claim was left behind
    count = dynamodb_client(own_dynamodb.endpoint).get_item(
        TableName="PlantsTable", Key={"pk": {"S": "COUNT#plants"}}, ConsistentRead=True
    )["Item"]["value"]["N"]
    assert int(count) == len(plants.list_plants(OWNER, limit=200).items)  # the count moved with its plant
