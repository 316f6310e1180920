"""A key's daily count (access/usage.py, usage_store.py): exact, per key, refused past the quota,
and the RateLimit headers (draft-ietf-httpapi-ratelimit-headers-11) that say so. The clock is
passed in: no test waits for a day to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from powerfactor.access import usage
from powerfactor.runtime.settings import Tier

SMALL = Tier("standard", rate=2.0, burst=5, quota=3)
NOON = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("aws")


def test_each_request_counts_once_until_the_quota_then_is_refused_uncounted() -> None:
    seen = [usage.count("k1", SMALL, NOON + timedelta(seconds=i)) for i in range(5)]
    assert [(u.used, u.remaining, u.refused) for u in seen] == [
        (1, 2, False), (2, 1, False), (3, 0, False), (3, 0, True), (3, 0, True),
    ]  # fmt: skip
    assert usage.today("k1", SMALL, NOON).used == 3  # the refusals were not counted


def test_the_headers_say_the_policy_what_is_left_and_when_it_resets() -> None:
    first = usage.count("k1", SMALL, NOON)
    assert first.headers() == {
        "RateLimit-Policy": '"daily";q=3;w=86400, "rate";q=5;w=3',  # 5 at once, refilled in 3 s at 2/s
        "RateLimit": '"daily";r=2;t=43200',  # 12 hours to the next UTC midnight
    }
    for _ in range(2):
        usage.count("k1", SMALL, NOON)
    refused = usage.count("k1", SMALL, NOON + timedelta(hours=11, minutes=59, seconds=59, microseconds=1))
    assert refused.refused and refused.headers()["Retry-After"] == "1"  # rounded up, never 0
    assert refused.headers()["RateLimit"] == '"daily";r=0;t=1'
    assert refused.resets_at == datetime(2026, 12, 8, tzinfo=UTC)
    assert refused.view() == {
        "tier": "standard", "used": 3, "remaining": 0, "limit": 3,
        "resets_at": datetime(2026, 12, 8, tzinfo=UTC),
    }  # fmt: skip


def test_a_new_utc_day_starts_from_zero() -> None:
    for _ in range(4):
        usage.count("k1", SMALL, NOON)
    late = datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC)
    assert usage.count("k1", SMALL, late).refused
    tomorrow = usage.count("k1", SMALL, late + timedelta(seconds=1))
    assert (tomorrow.used, tomorrow.refused, tomorrow.reset_seconds) == (1, False, 86_400)


def test_one_keys_usage_is_its_own() -> None:
    for _ in range(3):
        usage.count("k1", SMALL, NOON)
    other = usage.count("k2", SMALL, NOON)
    assert (other.used, other.remaining, other.refused) == (1, 2, False)
    assert "k1" not in str(other.headers()) and other.key_id == "k2"


def test_counters_expire_two_days_after_their_day() -> None:
    usage.count("k1", SMALL, NOON)
    (item,) = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="UsageTable")["Items"]
    assert item["day"]["S"] == "2026-12-07" and item["requests"]["N"] == "1"
    assert int(item["expires_at"]["N"]) == int(datetime(2026, 12, 10, tzinfo=UTC).timestamp())
