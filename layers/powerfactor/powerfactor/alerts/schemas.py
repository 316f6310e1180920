"""Alerts as the API returns them (pydantic; also the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

AlertKind = Literal["underperformance", "data_gap", "sync_failing"]
AlertState = Literal["open", "resolved"]


class Alert(BaseModel):
    """A condition found after a plant's sync: opened once, updated while it lasts, resolved
    when a later sync finds it cleared (or the plant is deleted). The account of its plant is
    kept beside, not shown (its events carry it)."""

    _account_id: str = PrivateAttr()  # set by whoever makes or reads it; unset is an error, never a default

    id: str = Field(description="Unique within the plant: when it opened and its kind.")
    plant_id: int
    kind: AlertKind
    state: AlertState
    message: str = Field(description="What is wrong, in words.")
    figures: dict[str, float | int | str | None] = Field(
        description="The figures that triggered it (while open, the latest; once resolved, those "
        "that cleared it) and the limits they were held against."
    )
    opened_at: datetime
    updated_at: datetime = Field(description="The last sync that found it still open, or its resolution.")
    resolved_at: datetime | None = None

    @property
    def account_id(self) -> str:
        return self._account_id

    def owned_by(self, account_id: str) -> Alert:
        self._account_id = account_id
        return self


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
