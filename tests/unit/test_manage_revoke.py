"""`python -m manage keys create --tier`, `revoke` and `sync-gateway` keep each key's API key in
its tier's usage plan on a deployed stack; `revoke` also flushes the API's authorizer cache
(manage/target.py): on a deployed stack, API Gateway's FlushStageAuthorizersCache on the stage its
ApiUrl names."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from manage import keys as keys_command
from manage import target
from manage.target import TargetError, deployed, flush_authorizer_cache
from powerfactor.access import keys as apikeys

OUTPUTS = {
    "PlantsTableName": "p", "DatapointsTableName": "d", "ApiKeysTableName": "k", "AccountsTableName": "a",
    "AlertsTableName": "al", "UsageTableName": "u", "ApiUrl": "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/Beta/api/solar-plant/",
}  # fmt: skip


class FakeApiGateway:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def flush_stage_authorizers_cache(self, **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("AccessDenied")
        self.calls.append(kwargs)


@pytest.mark.parametrize("fail", [False, True])
def test_a_deployed_stacks_stage_cache_is_flushed(monkeypatch, fail) -> None:
    monkeypatch.setattr(target, "stack_outputs", lambda stack, region, required: (OUTPUTS, "eu-central-1"))
    client = FakeApiGateway(fail)
    made: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        boto3, "client", lambda service, region_name=None: made.append((service, region_name)) or client
    )
    stack = deployed("powerfactor", "eu-central-1")
    assert stack.rest_api == ("a1b2c3d4e5", "Beta")
    if fail:
        with pytest.raises(TargetError, match="cannot flush the authorizer cache of a1b2c3d4e5/Beta"):
            flush_authorizer_cache(stack)
    else:
        assert "flushed" in flush_authorizer_cache(stack)
        assert client.calls == [{"restApiId": "a1b2c3d4e5", "stageName": "Beta"}]
    assert made == [("apigateway", "eu-central-1")]


@pytest.mark.loopback
def test_a_local_api_that_is_not_running_is_said_so() -> None:
    said = flush_authorizer_cache(target.local("http://127.0.0.1:9", api="http://127.0.0.1:9"))
    assert "no local API at http://127.0.0.1:9" in said


# ---- tiers: on a deployed stack, each key's API key in its tier's usage plan ----


@pytest.fixture
def deployed_stack(aws, monkeypatch) -> target.Target:
    """A deployed stack as moto holds it: the tables, a REST API stage and its tiers' plans."""
    from powerfactor.aws import apigateway

    client = boto3.client("apigateway", region_name="us-east-1")
    api_id = client.create_rest_api(name="powerfactor")["id"]
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=api_id, stageName="Prod")
    for tier in ("standard", "large"):
        client.create_usage_plan(name=f"powerfactor-{tier}", apiStages=[{"apiId": api_id, "stage": "Prod"}])
    apigateway._plans.clear()
    monkeypatch.setattr(keys_command, "flush_authorizer_cache", lambda target: "the cache was flushed")
    tables = {name: value for name, value in target.local().environment.items() if name.endswith("_TABLE")}
    return target.Target("moto", {**tables, "AWS_REGION": "us-east-1"}, rest_api=(api_id, "Prod"))


def _keys(*argv: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    keys_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _plan_members() -> dict[str, list[str]]:
    client = boto3.client("apigateway", region_name="us-east-1")
    return {
        plan["name"].rsplit("-", 1)[1]: [
            k["name"] for k in client.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
        ]
        for plan in client.get_usage_plans()["items"]
    }


def test_create_puts_the_key_in_its_tiers_plan_and_revoke_takes_it_out(deployed_stack, capsys) -> None:
    api_id = deployed_stack.rest_api[0]
    assert (
        keys_command.run(
            _keys("create", "--name", "export", "--scope", "read", "--tier", "large", "--json"),
            deployed_stack,
        )
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["tier"] == "large"
    value = f"pfu-{api_id}-{created['id']}"
    assert _plan_members() == {"standard": [], "large": [value]}
    assert keys_command.run(_keys("revoke", created["id"]), deployed_stack) == 0
    assert _plan_members() == {"standard": [], "large": []}
    assert boto3.client("apigateway", region_name="us-east-1").get_api_keys()["items"] == []  # deleted


def test_sync_gateway_enrolls_keys_made_before_tiers_and_is_idempotent(deployed_stack, capsys) -> None:
    with target.use_tables(deployed_stack):
        older = apikeys.create_key("before usage plans", ["read"])[1]  # no API key yet
        gone = apikeys.create_key("revoked", ["read"])[1]
        apikeys.revoke_key(gone.key_id)
    for _ in range(2):
        assert keys_command.run(_keys("sync-gateway"), deployed_stack) == 0
        assert json.loads(capsys.readouterr().out) == {"enrolled": 1, "withdrawn": 1, "failed": 0}
        assert _plan_members() == {
            "standard": [f"pfu-{deployed_stack.rest_api[0]}-{older.key_id}"],
            "large": [],
        }
