"""Configuration: environment variables (set by template.yaml) read and validated in one place.

`Settings` is a frozen dataclass; `FIELDS` says which variable feeds each field and how it is
checked. Empty strings mean "not set" (the template passes empty parameters through), and a
missing or malformed variable is a ConfigurationError that names it (every bad one at once),
raised at the first `get_settings()` of a cold start.

Usage tiers (`TIERS`, in order from the smallest): each key has one, chosen when it is created;
its rate (requests per second), burst and daily quota come from the template's
`<Tier>TierRateLimit`, `<Tier>TierBurstLimit` and `<Tier>TierDailyQuota` parameters
(`TIER_<TIER>_RATE`, `_BURST`, `_QUOTA`), read here into `Settings.tiers`.

Plain Python rather than a pydantic model: every function reads its settings, and the
authorizer, which needs nothing else of pydantic, would otherwise import it (a large part of its
cold start: bench/README.md, "Measured").
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache


class ConfigurationError(RuntimeError):
    """An environment variable is missing or malformed: the deployment is broken."""


# The tiers a key can have, smallest first (a key never creates one of a larger tier than its own).
TIERS = ("standard", "large")
DEFAULT_TIER = "standard"


@dataclass(frozen=True)
class Tier:
    """What a key of this tier may do: `rate` requests a second (`burst` at once), and `quota`
    requests a UTC day."""

    name: str
    rate: float
    burst: int
    quota: int


@dataclass(frozen=True)
class Settings:
    plants_table: str
    datapoints_table: str
    api_keys_table: str | None = None
    accounts_table: str | None = None
    sync_queue_url: str | None = None
    dynamodb_endpoint: str | None = None
    sqs_endpoint: str | None = None
    region: str = "us-east-1"
    monitoring_service_url: str | None = None
    monitoring_read_timeout: int = 20
    monitoring_max_response_bytes: int = 16 * 1024 * 1024
    sync_every_run: int = 1
    sync_until_year: int = 10
    revision_retention_days: int = 365  # revisions of stored hours (powerfactor.datapoints.revisions)
    audit_retention_days: int = 365  # audit log entries (powerfactor.access.audit)
    max_plants: int = 10_000  # the deployment's ceiling; an account may have a lower limit of its own
    # alerts (powerfactor.alerts) and their events
    alerts_table: str | None = None
    alert_bus_name: str | None = None
    events_endpoint: str | None = None
    alert_window_hours: int = 168
    alert_ratio_threshold: float = 0.7
    alert_min_hours: int = 48
    alert_gap_hours: int = 48
    alert_max_missing_days: int = 3
    alert_failed_runs: int = 3
    # signed webhook deliveries (powerfactor.alerts.webhook); the secret is never shown
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    # what the webhook function delivers to: AlertWebhookUrl, or each event's account's own webhook
    webhook_target: str = "deployment"

    # per-key usage: the tiers (TIERS) and the table of each key's daily counters (access/usage.py)
    usage_table: str | None = None
    apigateway_endpoint: str | None = None  # the local stack's stand-in for API Gateway's API
    tier_standard_rate: float = 10.0
    tier_standard_burst: int = 20
    tier_standard_quota: int = 10_000
    tier_large_rate: float = 50.0
    tier_large_burst: int = 100
    tier_large_quota: int = 100_000

    @property
    def tiers(self) -> dict[str, Tier]:
        """Each tier by name, in TIERS' order."""
        return {
            name: Tier(
                name,
                getattr(self, f"tier_{name}_rate"),
                getattr(self, f"tier_{name}_burst"),
                getattr(self, f"tier_{name}_quota"),
            )
            for name in TIERS
        }

    def tier(self, name: str | None) -> Tier:
        """The tier of this name; the default (smallest) tier for a key without one (created
        before tiers) or of a name this deployment does not know."""
        tiers = self.tiers
        return tiers.get(name or DEFAULT_TIER) or tiers[DEFAULT_TIER]

    @property
    def webhook(self) -> tuple[str, list[str]]:
        """The webhook's URL and signing secrets, which only the delivery function needs (and must have)."""
        if not self.alert_webhook_url or not self.alert_webhook_secret:
            raise ConfigurationError(
                "environment variables ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET are required"
            )
        return self.alert_webhook_url, [self.alert_webhook_secret]

    @property
    def monitoring_url(self) -> str:
        """The monitoring service's URL, which only the sync functions need (and must have)."""
        if not self.monitoring_service_url:
            raise ConfigurationError("environment variable MONITORING_SERVICE_URL is required")
        return self.monitoring_service_url

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings these variables give; ConfigurationError naming each bad one."""
        values: dict[str, object] = {}
        problems = []
        for field, (variables, parse) in FIELDS.items():
            name, raw = next(((v, env[v]) for v in variables if _given(env.get(v))), (variables[0], None))
            if raw is None:
                if field in _REQUIRED:
                    problems.append(f"environment variable {name} is required")
                continue
            try:
                values[field] = parse(raw.strip())
            except ValueError as error:
                shown = "" if field in _SECRET else f", got {raw.strip()!r}"  # a secret is never shown
                problems.append(f"{name}: {error}{shown}")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]  # each value has its field's type, as FIELDS parses it


def _given(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())  # blank: unset


def _text(value: str) -> str:
    return value


def _number(
    kind: type[int] | type[float], low: float, high: float | None = None, low_open: bool = False
) -> Callable[[str], float]:
    """A parser of a number in [low, high] (or (low, high] if low_open); the messages are the ones
    pydantic gave when it parsed these variables."""
    word = "integer" if kind is int else "number"

    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = math.nan
        if math.isnan(number):
            raise ValueError(f"Input should be a valid {word}, unable to parse string as {word}")
        if number < low or (low_open and number == low):
            relation = "greater than" if low_open else "greater than or equal to"
            raise ValueError(f"Input should be {relation} {low}")
        if high is not None and number > high:
            raise ValueError(f"Input should be less than or equal to {high}")
        return number

    return parse


_count = _number(int, 1)


def _secret(value: str) -> str | None:
    """A signing secret: 32 to 512 characters without spaces (the template's pattern); `none`: unset."""
    if value == "none":
        return None
    if not 32 <= len(value) <= 512 or any(c.isspace() for c in value):
        raise ValueError("must be 32 to 512 characters without spaces")
    return value


def _webhook_target(value: str) -> str:
    if value not in ("deployment", "account"):
        raise ValueError("must be `deployment` or `account`")
    return value


# field -> (its variables, the first one set wins; the parser of its stripped value)
FIELDS: dict[str, tuple[tuple[str, ...], Callable[[str], object]]] = {
    "plants_table": (("PLANTS_TABLE",), _text),
    "datapoints_table": (("DATAPOINTS_TABLE",), _text),
    "api_keys_table": (("API_KEYS_TABLE",), _text),
    "accounts_table": (("ACCOUNTS_TABLE",), _text),
    "sync_queue_url": (("SYNC_QUEUE_URL",), _text),
    "dynamodb_endpoint": (("DYNAMODB_ENDPOINT",), _text),
    "sqs_endpoint": (("SQS_ENDPOINT",), _text),
    "region": (("AWS_REGION", "AWS_DEFAULT_REGION"), _text),
    "monitoring_service_url": (("MONITORING_SERVICE_URL",), _text),
    "monitoring_read_timeout": (("MONITORING_READ_TIMEOUT",), _count),
    "monitoring_max_response_bytes": (("MONITORING_MAX_RESPONSE_BYTES",), _number(int, 1024)),
    "sync_every_run": (("SYNC_EVERY_RUN",), _count),
    "sync_until_year": (("SYNC_UNTIL_YEAR",), _count),
    "revision_retention_days": (("REVISION_RETENTION_DAYS",), _number(int, 1, 3653)),
    "audit_retention_days": (("AUDIT_RETENTION_DAYS",), _number(int, 1, 3653)),
    "max_plants": (("MAX_PLANTS",), _count),
    "alerts_table": (("ALERTS_TABLE",), _text),
    "alert_bus_name": (("ALERT_BUS_NAME",), _text),
    "events_endpoint": (("EVENTS_ENDPOINT",), _text),
    "alert_window_hours": (("ALERT_WINDOW_HOURS",), _count),
    "alert_ratio_threshold": (("ALERT_RATIO_THRESHOLD",), _number(float, 0, 10, low_open=True)),
    "alert_min_hours": (("ALERT_MIN_HOURS",), _count),
    "alert_gap_hours": (("ALERT_GAP_HOURS",), _count),
    "alert_max_missing_days": (("ALERT_MAX_MISSING_DAYS",), _number(int, 0)),
    "alert_failed_runs": (("ALERT_FAILED_RUNS",), _count),
    "alert_webhook_url": (("ALERT_WEBHOOK_URL",), _text),
    "alert_webhook_secret": (("ALERT_WEBHOOK_SECRET",), _secret),
    "webhook_target": (("WEBHOOK_TARGET",), _webhook_target),
    "usage_table": (("USAGE_TABLE",), _text),
    "apigateway_endpoint": (("APIGATEWAY_ENDPOINT",), _text),
    **{
        f"tier_{tier}_{what}": ((f"TIER_{tier.upper()}_{what.upper()}",), parse)
        for tier in TIERS
        for what, parse in (
            ("rate", _number(float, 0, 10_000, low_open=True)),
            ("burst", _number(int, 1, 5_000)),
            ("quota", _number(int, 1, 1_000_000_000)),
        )
    },
}
_SECRET = {"alert_webhook_secret"}
_REQUIRED = {"plants_table", "datapoints_table"}


@cache
def get_settings() -> Settings:
    """The settings of this process, parsed on first use and cached."""
    return Settings.from_env(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
