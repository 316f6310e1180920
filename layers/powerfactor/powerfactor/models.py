"""The shapes PowerFactor reads and returns: pydantic models, also the source of the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


class Plant(BaseModel):
    id: int = Field(description="Integer id, allocated by PowerFactor and never reused.")
    name: str
    created_at: datetime
    updated_at: datetime


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
