"""Configuration: environment variables (set by template.yaml) read and validated in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


class ConfigurationError(RuntimeError):
    """An environment variable is missing or malformed: the deployment is broken."""


@dataclass(frozen=True)
class Settings:
    plants_table: str
    datapoints_table: str
    sync_queue_url: str | None
    dynamodb_endpoint: str | None
    sqs_endpoint: str | None
    region: str
    monitoring_service_url: str
    monitoring_read_timeout: int
    sync_every_run: int
    sync_until_year: int
    api_keys_table: str | None = None
    max_plants: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is required")
            return value

        def positive_int(name: str, default: int) -> int:
            raw = env.get(name, "").strip() or str(default)
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
            if value < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {value}")
            return value

        return cls(
            plants_table=required("PLANTS_TABLE"),
            datapoints_table=required("DATAPOINTS_TABLE"),
            sync_queue_url=env.get("SYNC_QUEUE_URL", "").strip() or None,
            dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT", "").strip() or None,
            sqs_endpoint=env.get("SQS_ENDPOINT", "").strip() or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            monitoring_service_url=env.get("MONITORING_SERVICE_URL", "").strip() or "http://127.0.0.1:5000/",
            monitoring_read_timeout=positive_int("MONITORING_READ_TIMEOUT", 20),
            sync_every_run=positive_int("SYNC_EVERY_RUN", 1),
            sync_until_year=positive_int("SYNC_UNTIL_YEAR", 10),
            api_keys_table=env.get("API_KEYS_TABLE", "").strip() or None,
            max_plants=positive_int("MAX_PLANTS", 10_000),
        )


@cache
def get_settings() -> Settings:
    """The settings of this process, parsed on first use and cached."""
    return Settings.from_env(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
