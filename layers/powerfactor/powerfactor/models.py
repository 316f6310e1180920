"""The shapes PowerFactor reads and returns: pydantic models, also the source of the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PLANT_NAME_MAX = 100

PlantName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=PLANT_NAME_MAX),
    Field(
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description=(
            "Display name, 1-100 characters after trimming, no control characters. Unique across "
            "plants, ignoring case and repeated inner spaces."
        ),
        examples=["Solar Park North"],
    ),
]


class PlantIn(BaseModel):
    """Body of POST /api/solar-plant/ and PUT /api/solar-plant/plant/{plant_id}."""

    model_config = ConfigDict(extra="forbid")
    name: PlantName


class SyncState(BaseModel):
    """How far the plant's data is synced from the monitoring service."""

    history_from: date | None = Field(
        default=None, description="Stored history is complete from this day on (but for `missing_days`)."
    )
    synced_until: date | None = Field(
        default=None, description="Exclusive end of the synced range: the day of the last sync."
    )
    missing_days: list[date] = Field(
        default_factory=list, description="Days inside the synced range still lacking hours; retried."
    )
    last_success_at: datetime | None = Field(default=None, description="End of the last run without error.")
    last_attempt_at: datetime | None = None
    last_error: str | None = Field(default=None, description="Why the last run failed; null after a success.")


class Plant(BaseModel):
    id: int = Field(description="Integer id, allocated by PowerFactor and never reused.")
    name: str
    created_at: datetime
    updated_at: datetime
    sync: SyncState = Field(default_factory=SyncState)


class PlantPage(BaseModel):
    items: list[Plant]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class ErrorDetail(BaseModel):
    location: str = Field(description="Where the problem is, e.g. `body.name` or `query.limit`.")
    message: str
    type: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The shape of every error PowerFactor returns, on every route."""

    error: ErrorBody


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One hour of one plant, as the monitoring service measured it (UTC hour, kWh and Wh/m²)."""

    hour: datetime
    expected_energy: float
    expected_irradiation: float
    observed_energy: float
    observed_irradiation: float
