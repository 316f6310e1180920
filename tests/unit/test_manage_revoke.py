"""`python -m manage keys revoke` flushes the API's authorizer cache (manage/target.py): on a
deployed stack, API Gateway's FlushStageAuthorizersCache on the stage its ApiUrl names."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from manage import target
from manage.target import TargetError, deployed, flush_authorizer_cache

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
