"""The API functions count each request of a key against its tier's daily quota: RateLimit
headers on every answer (success and error alike), 429 quota_exceeded with Retry-After once it
is spent, another key unaffected; tiers on the key routes; a revocation over the API takes the
key out of its usage plan and flushes the stage's authorizer cache."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from powerfactor.aws import apigateway
from tests.support import caller

BASE = "/api/solar-plant"
RATELIMIT = re.compile(r'"daily";r=(\d+);t=(\d+)')


@pytest.fixture
def small(aws, use_function_env) -> None:
    """A standard tier of 3 requests a day, for the API functions."""
    for function in ("PlantsApiFunction", "DataApiFunction"):
        use_function_env(function, queue_urls=aws, StandardTierDailyQuota="3")


def _left(headers: dict[str, str]) -> tuple[int, int]:
    match = RATELIMIT.fullmatch(headers["RateLimit"])
    assert match, headers
    return int(match[1]), int(match[2])


@pytest.mark.usefixtures("small")
def test_every_answer_says_what_is_left_until_the_quota_is_spent(api) -> None:
    key = caller(("read", "write"), key_id="quota0000001")
    answers = [
        api("GET", f"{BASE}/", context=key),
        api("GET", f"{BASE}/plant/99", context=key),  # a 404 counts and says so too
        api("GET", f"{BASE}/data/?plant-id=99&from=2026-01-01&to=2026-01-02", context=key),  # the data API
        api("GET", f"{BASE}/key", context=key),
        api("POST", f"{BASE}/", {"name": "Past the quota"}, context=key),
    ]
    assert [status for status, _, _ in answers] == [200, 404, 404, 429, 429]
    assert [_left(headers)[0] for _, headers, _ in answers] == [2, 1, 0, 0, 0]
    for _, headers, _ in answers:
        assert headers["RateLimit-Policy"] == '"daily";q=3;w=86400, "rate";q=20;w=2'
        assert 0 < _left(headers)[1] <= 86_400
    status, headers, body = answers[-1]
    assert body["error"]["code"] == "quota_exceeded" and body["error"]["status"] == 429
    assert headers["Retry-After"] == str(_left(headers)[1])  # until the next UTC midnight
    assert "Retry-After" not in answers[0][1]
    # another key of the same account is not touched by this one's count
    other = caller(("read",), key_id="quota0000002")
    status, headers, body = api("GET", f"{BASE}/key", context=other)
    assert status == 200 and _left(headers)[0] == 2 and body["usage"]["used"] == 1
    assert body["id"] == "quota0000002" and "quota0000001" not in str(headers)


@pytest.mark.usefixtures("small")
def test_refused_keys_are_not_counted(api) -> None:
    status, headers, _ = api("GET", f"{BASE}/", context={"principalId": "x"})  # no key id: 401
    assert status == 401 and "RateLimit" not in headers
    key = caller(("read",), key_id="quota0000003")
    status, headers, _ = api("POST", f"{BASE}/", {"name": "x"}, context=key)  # no write scope: 403
    assert status == 403 and "RateLimit" not in headers
    assert api("GET", f"{BASE}/key", context=key)[2]["usage"]["used"] == 1


class FakeGateway:
    """API Gateway's management API as the plants API calls it."""

    exceptions = SimpleNamespace(ConflictException=type("ConflictException", (Exception,), {}))

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: self.calls.append((name, kwargs)) or {"items": [], "id": "x"}


@pytest.mark.usefixtures("aws")
def test_keys_are_created_with_a_tier_never_larger_than_the_creators(api) -> None:
    admin = caller(("read", "write", "admin"), key_id="admin0000001")
    status, _, created = api(
        "POST", f"{BASE}/keys", {"name": "big", "scopes": ["read"], "tier": "large"}, context=admin
    )
    assert status == 403 and created["error"]["code"] == "insufficient_scope"  # standard creates no large
    status, _, created = api("POST", f"{BASE}/keys", {"name": "same", "scopes": ["read"]}, context=admin)
    assert status == 201 and created["tier"] == "standard"  # the creator's, by default
    status, _, wrong = api(
        "POST", f"{BASE}/keys", {"name": "x", "scopes": ["read"], "tier": "gold"}, context=admin
    )
    assert status == 422 and wrong["error"]["details"][0]["location"] == "body.tier"
    large = {**admin, "tier": "large"}
    for tier in ("large", "standard"):
        status, _, created = api(
            "POST", f"{BASE}/keys", {"name": tier, "scopes": ["read"], "tier": tier}, context=large
        )
        assert status == 201 and created["tier"] == tier
    status, _, page = api("GET", f"{BASE}/keys", context=admin)
    assert sorted(k["tier"] for k in page["items"]) == ["large", "standard", "standard"]


@pytest.mark.usefixtures("aws")
def test_a_revocation_over_the_api_leaves_the_plan_and_flushes_the_stage_cache(api, monkeypatch) -> None:
    fake = FakeGateway()
    monkeypatch.setattr(apigateway, "_client", lambda: fake)
    monkeypatch.setattr(apigateway, "plans", lambda api, refresh=False: {"standard": "p1", "large": "p2"})
    admin = caller(("read", "write", "admin"), key_id="admin0000002")
    status, _, created = api("POST", f"{BASE}/keys", {"name": "gone soon", "scopes": ["read"]}, context=admin)
    value = f"pfu-local-{created['id']}"  # the event's apiId: the authorizer's usageIdentifierKey
    assert fake.calls == [
        ("create_api_key", {"name": value, "value": value, "enabled": True}),
        ("create_usage_plan_key", {"usagePlanId": "p1", "keyId": "x", "keyType": "API_KEY"}),
    ]
    fake.calls.clear()
    status, _, revoked = api("DELETE", f"{BASE}/keys/{created['id']}", context=admin)
    assert status == 200 and revoked["status"] == "revoked"
    assert [name for name, _ in fake.calls] == [
        "get_usage_plan_keys",
        "get_usage_plan_keys",
        "flush_stage_authorizers_cache",
    ]
    assert fake.calls[-1][1] == {"restApiId": "local", "stageName": "Prod"}  # this stage only


@pytest.mark.usefixtures("aws")
def test_a_gateway_that_fails_never_fails_the_revocation(api, monkeypatch) -> None:
    def broken() -> Any:
        raise RuntimeError("AccessDenied")

    monkeypatch.setattr(apigateway, "_client", broken)
    admin = caller(("read", "write", "admin"), key_id="admin0000003")
    _, _, created = api("POST", f"{BASE}/keys", {"name": "k", "scopes": ["read"]}, context=admin)
    status, _, revoked = api("DELETE", f"{BASE}/keys/{created['id']}", context=admin)
    assert status == 200 and revoked["status"] == "revoked"  # logged; the cache forgets it within its TTL


@pytest.mark.usefixtures("small")
def test_a_usage_table_that_fails_lets_requests_through_uncounted(api, monkeypatch) -> None:
    from powerfactor.access import usage_store
    from powerfactor.runtime.errors import StorageDeadline

    def slow(*args: Any) -> None:
        raise StorageDeadline("no time left")

    monkeypatch.setattr(usage_store, "count", slow)
    key = caller(("read",), key_id="quota0000004")
    for _ in range(5):  # past the quota of 3: nothing counted, nothing refused
        status, headers, body = api("GET", f"{BASE}/key", context=key)
        assert status == 200 and body["usage"] is None and "RateLimit" not in headers
