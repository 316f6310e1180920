"""Configuration: environment variables (set by template.yaml) read and validated in one place.

`Settings` is a pydantic model whose field aliases are the variables' names. Empty strings mean
"not set" (the template passes empty parameters through), and a missing or malformed variable is
a ConfigurationError that names it, raised at the first `get_settings()` of a cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Annotated

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


class ConfigurationError(RuntimeError):
    """An environment variable is missing or malformed: the deployment is broken."""


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_stripped), Field(min_length=1)]
OptionalText = Annotated[str | None, BeforeValidator(_stripped)]
Count = Annotated[int, BeforeValidator(_stripped), Field(ge=1)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    plants_table: Text = Field(alias="PLANTS_TABLE")
    datapoints_table: Text = Field(alias="DATAPOINTS_TABLE")
    api_keys_table: OptionalText = Field(default=None, alias="API_KEYS_TABLE")
    sync_queue_url: OptionalText = Field(default=None, alias="SYNC_QUEUE_URL")
    dynamodb_endpoint: OptionalText = Field(default=None, alias="DYNAMODB_ENDPOINT")
    sqs_endpoint: OptionalText = Field(default=None, alias="SQS_ENDPOINT")
    region: Text = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    monitoring_service_url: OptionalText = Field(default=None, alias="MONITORING_SERVICE_URL")
    monitoring_read_timeout: Count = Field(default=20, alias="MONITORING_READ_TIMEOUT")
    sync_every_run: Count = Field(default=1, alias="SYNC_EVERY_RUN")
    sync_until_year: Count = Field(default=10, alias="SYNC_UNTIL_YEAR")
    max_plants: Count = Field(default=10_000, alias="MAX_PLANTS")
    # alerts (powerfactor.alerts) and their events
    alerts_table: OptionalText = Field(default=None, alias="ALERTS_TABLE")
    alert_bus_name: OptionalText = Field(default=None, alias="ALERT_BUS_NAME")
    events_endpoint: OptionalText = Field(default=None, alias="EVENTS_ENDPOINT")
    alert_window_hours: Count = Field(default=168, alias="ALERT_WINDOW_HOURS")
    alert_ratio_threshold: Annotated[float, BeforeValidator(_stripped), Field(gt=0, le=10)] = Field(
        default=0.7, alias="ALERT_RATIO_THRESHOLD"
    )
    alert_min_hours: Count = Field(default=48, alias="ALERT_MIN_HOURS")
    alert_gap_hours: Count = Field(default=48, alias="ALERT_GAP_HOURS")
    alert_max_missing_days: Annotated[int, BeforeValidator(_stripped), Field(ge=0)] = Field(
        default=3, alias="ALERT_MAX_MISSING_DAYS"
    )
    alert_failed_runs: Count = Field(default=3, alias="ALERT_FAILED_RUNS")

    @property
    def monitoring_url(self) -> str:
        """The monitoring service's URL, which only the sync functions need (and must have)."""
        if not self.monitoring_service_url:
            raise ConfigurationError("environment variable MONITORING_SERVICE_URL is required")
        return self.monitoring_service_url

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings these variables give; ConfigurationError naming each bad one."""
        names = {name: field.alias or name for name, field in cls.model_fields.items()}
        present = {k: v for k, v in env.items() if isinstance(v, str) and v.strip()}  # blank: unset
        try:
            return cls.model_validate(present)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                field = str(item["loc"][0]) if item["loc"] else "?"
                variable = names.get(field, field)
                if item["type"] == "missing":
                    problems.append(f"environment variable {variable} is required")
                else:
                    problems.append(f"{variable}: {item['msg']}, got {item.get('input')!r}")
            raise ConfigurationError("; ".join(problems)) from None


@cache
def get_settings() -> Settings:
    """The settings of this process, parsed on first use and cached."""
    return Settings.from_env(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
