"""Each key's tier over the local stack: its daily quota counted by the functions (a key at a tier
of 4 requests a day gets 429 quota_exceeded with Retry-After once it is spent), its rate enforced
per key by the local gateway as the usage plans do on AWS, the RateLimit headers counting down on
every answer, another key untouched, GET /key's usage; and a key revoked over the API refused at
once (the revoke route flushes the gateway's authorizer cache, whose TTL here is 300 s).

No test waits on the clock: the daily quota resets at the next UTC midnight, which the answers
say (Retry-After, `t=`); were the UTC day to turn during the test, it is skipped."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.stack import Stack
from manage import target
from powerfactor.access import keys as apikeys
from tests.support import in_process_stack

pytestmark = pytest.mark.e2e

BASE = "/api/solar-plant"
QUOTA = 4
DAILY = re.compile(r'"daily";r=(\d+);t=(\d+)')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    params = {
        "StandardTierDailyQuota": str(QUOTA),  # small: spent within the test
        "LargeTierRateLimit": "0.01",  # one request per 100 s after a burst of 2: throttled at once
        "LargeTierBurstLimit": "2",
    }
    with in_process_stack(tmp_path_factory.mktemp("quota"), **params) as running:
        yield running


@pytest.fixture(autouse=True)
def same_utc_day() -> Iterator[None]:
    day = datetime.now(UTC).date()
    yield
    if datetime.now(UTC).date() != day:
        pytest.skip("the UTC day turned during the test: every quota started again")


def new_key(stack: Stack, name: str, scopes: tuple[str, ...] = ("read",), tier: str = "standard") -> str:
    """A key made as `python -m manage keys create --tier` makes it."""
    assert stack.dynamodb is not None
    with target.use_tables(target.local(stack.dynamodb.endpoint, stack.api_url)):
        return apikeys.create_key(name, scopes, tier=tier)[0]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def get(stack: Stack, key: str, path: str = "/", method: str = "GET", body: object = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{stack.api_url}{BASE}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read().decode())


def left(reply: Reply) -> tuple[int, int]:
    match = DAILY.fullmatch(reply.headers["RateLimit"])
    assert match, reply.headers
    return int(match[1]), int(match[2])


def test_a_small_tier_key_counts_down_then_gets_429_until_midnight(stack) -> None:
    small = new_key(stack, "small")
    replies = [
        get(stack, small, "/key"),
        get(stack, small),
        get(stack, small, "/plant/999999"),
        get(stack, small),
    ]
    assert [r.status for r in replies] == [200, 200, 404, 200]
    assert [left(r)[0] for r in replies] == [3, 2, 1, 0]  # what is left after each, this one counted
    usage = replies[0].json()["usage"]
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    assert usage == {
        "tier": "standard", "used": 1, "remaining": QUOTA - 1, "limit": QUOTA,
        "resets_at": midnight.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    for reply in replies:
        assert reply.headers["RateLimit-Policy"] == f'"daily";q={QUOTA};w=86400, "rate";q=5000;w=1'
        assert "Retry-After" not in reply.headers
    for path in ("/", "/key"):
        refused = get(stack, small, path)
        assert refused.status == 429 and refused.json()["error"]["code"] == "quota_exceeded"
        remaining, reset = left(refused)
        assert remaining == 0 and refused.headers["Retry-After"] == str(reset)
        until = (midnight - datetime.now(UTC)).total_seconds()
        assert until - 60 <= reset <= until + 1  # the next UTC midnight (a minute's slack for a slow machine)


def test_another_keys_usage_is_its_own(stack) -> None:
    spent, fresh = new_key(stack, "spent"), new_key(stack, "fresh")
    for _ in range(QUOTA):
        assert get(stack, spent).status == 200
    assert get(stack, spent).status == 429
    reply = get(stack, fresh, "/key")
    assert reply.status == 200 and left(reply)[0] == QUOTA - 1
    assert reply.json()["usage"]["used"] == 1
    spent_id = apikeys.parse_token(spent)[0]
    assert spent_id not in reply.text and spent_id not in str(reply.headers)


def test_a_keys_rate_is_its_tiers_and_its_429_says_when_to_come_back(stack) -> None:
    large, other = new_key(stack, "large", tier="large"), new_key(stack, "other large", tier="large")
    assert [get(stack, large).status for _ in range(2)] == [200, 200]  # its burst
    throttled = get(stack, large)
    assert throttled.status == 429 and throttled.json()["error"]["code"] == "throttled"
    wait = int(throttled.headers["Retry-After"])
    assert 90 <= wait <= 100  # a token every 100 s at 0.01/s
    assert throttled.headers["RateLimit"] == f'"rate";r=0;t={wait}'
    assert throttled.headers["RateLimit-Policy"] == '"daily";q=1000000000;w=86400, "rate";q=2;w=200'
    assert get(stack, other).status == 200  # a bucket per key, not per tier


def test_a_key_revoked_over_the_api_is_refused_at_once(stack) -> None:
    admin = new_key(stack, "admin", ("read", "write", "admin"))
    created = get(stack, admin, "/keys", "POST", {"name": "short-lived", "scopes": ["read"]})
    assert created.status == 201 and created.json()["tier"] == "standard"
    key = created.json()["key"]
    assert get(stack, key).status == 200  # the gateway caches its answer from now on (300 s)
    revoked = get(stack, admin, f"/keys/{created.json()['id']}", "DELETE")
    assert revoked.status == 200 and revoked.json()["status"] == "revoked"
    refused = get(stack, key)
    assert refused.status == 401 and refused.json()["error"]["code"] == "unauthorized"
