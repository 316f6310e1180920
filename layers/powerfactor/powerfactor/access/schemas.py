"""What the API says about the key of a request (pydantic; also the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CallerKey(BaseModel):
    """The API key a request came with (GET /api/solar-plant/key), as the authorizer passed it."""

    id: str = Field(description="The key's public id, the 12 characters after `pfk_`.")
    name: str
    scopes: list[str] = Field(
        description="`read` opens GET and HEAD, `write` opens POST, PUT, PATCH and DELETE.",
        examples=[["read", "write"]],
    )
    expires_at: datetime | None = Field(default=None, description="When the key stops working; null: never.")
