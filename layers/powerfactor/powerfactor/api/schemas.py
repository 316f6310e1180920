"""The one shape of every error PowerFactor returns (pydantic; also the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
