"""Per-key usage: the daily quota of a key's tier, counted per request, and the headers that
tell the caller where it stands.

**Where the count lives.** Each key has a counter item per UTC day in the usage table
(access/usage_store.py), which every request the API functions answer updates once, atomically
and conditionally: `ADD requests 1` while the count is below the tier's quota. That write is the
source of truth for the daily quota, on AWS and locally alike:
- it is exact under concurrency (one conditional write per request, whichever Lambda
  environment runs it), and the request learns its own count from the write's answer, so the
  headers need no other read;
- API Gateway's usage data (GetUsage) is updated minutes late and is eventually consistent, and
  a usage plan's own quota refuses with a fixed gateway response that cannot say when the quota
  resets, nor precede a count of our own (the gateway counts before the function runs). So the
  usage plans (template.yaml) enforce each tier's rate and burst per key, and the functions the
  daily quota, refusing with 429 `quota_exceeded`, `Retry-After` until the next UTC midnight.
The price: one write unit per request (README, "Cost"), a few milliseconds, and a request of a
key whose quota is spent still runs the function (cheaply: one refused write, no other work).
Should the usage table be unavailable, the request is answered without counting (and without
the headers): the gateway's rate limit still holds, and a counter is no reason to refuse service.

**The headers** follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026): on every answer of
the API functions, `RateLimit-Policy: "daily";q=<quota>;w=86400, "rate";q=<burst>;w=<s>` (the
tier's policies: a daily quota, and a token bucket of `burst` requests refilled in `s` seconds
at the tier's rate) and `RateLimit: "daily";r=<remaining>;t=<seconds to the next UTC midnight>`.
Only the key's own counter is read or shown: nothing of another key's usage reaches an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from powerfactor.access import usage_store as storage
from powerfactor.runtime.clock import midnight
from powerfactor.runtime.settings import Tier

DAY_SECONDS = 86_400
KEEP = timedelta(days=2)  # a counter item outlives its day this long (TTL)


@dataclass(frozen=True)
class Usage:
    """A key's usage of its daily quota at `now`: `used` requests counted today (`refused`: this
    request was not, the quota being spent)."""

    key_id: str
    tier: Tier
    day: date
    used: int
    now: datetime
    refused: bool = False

    @property
    def limit(self) -> int:
        return self.tier.quota

    @property
    def remaining(self) -> int:
        return max(0, self.tier.quota - self.used)

    @property
    def resets_at(self) -> datetime:
        """The next UTC midnight: when the quota starts again."""
        return midnight(self.day + timedelta(days=1))

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the quota resets, at least 1."""
        return max(1, math.ceil((self.resets_at - self.now).total_seconds()))

    def view(self) -> dict[str, object]:
        """GET /key's `usage`."""
        return {
            "tier": self.tier.name,
            "used": self.used,
            "remaining": self.remaining,
            "limit": self.limit,
            "resets_at": self.resets_at,
        }

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit; Retry-After too when this request was refused."""
        headers = {
            "RateLimit-Policy": policy(self.tier),
            "RateLimit": f'"daily";r={self.remaining};t={self.reset_seconds}',
        }
        if self.refused:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def policy(tier: Tier) -> str:
    """The tier's RateLimit-Policy: its daily quota, and its rate as a bucket of `burst` requests
    refilled in ceil(burst / rate) seconds."""
    refill = max(1, math.ceil(tier.burst / tier.rate))
    return f'"daily";q={tier.quota};w={DAY_SECONDS}, "rate";q={tier.burst};w={refill}'


def count(key_id: str, tier: Tier, now: datetime | None = None) -> Usage:
    """Count one request of the key against its tier's daily quota (refused: not counted)."""
    now = now or datetime.now(UTC)
    day = now.astimezone(UTC).date()
    counted = storage.count(key_id, day, tier.quota, midnight(day) + timedelta(days=1) + KEEP)
    if counted is None:
        return Usage(key_id, tier, day, tier.quota, now, refused=True)
    return Usage(key_id, tier, day, counted, now)


def today(key_id: str, tier: Tier, now: datetime | None = None) -> Usage:
    """The key's usage today, without counting a request (operators)."""
    now = now or datetime.now(UTC)
    day = now.astimezone(UTC).date()
    return Usage(key_id, tier, day, storage.used(key_id, day), now)
