"""What the API says about keys: the key of a request, and the account's keys its admin keys
manage (pydantic; also the OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from powerfactor.access.principal import MAX_RESTRICTED_PLANTS, MAX_RESTRICTED_PORTFOLIOS

KeyTier = Literal["standard", "large"]  # runtime/settings.py TIERS, smallest first


class KeyUsage(BaseModel):
    """The calling key's usage of its daily quota today (UTC), this request included."""

    tier: KeyTier
    used: int = Field(description="Requests counted today (refused ones are not).")
    remaining: int = Field(description="Requests left today.")
    limit: int = Field(description="The tier's daily quota.")
    resets_at: datetime = Field(description="When the quota starts again: the next UTC midnight.")


class CallerKey(BaseModel):
    """The API key a request came with (GET /api/solar-plant/key), as the authorizer passed it."""

    id: str = Field(description="The key's public id, the 12 characters after `pfk_`.")
    name: str
    scopes: list[str] = Field(
        description="`read` opens GET and HEAD, `write` opens POST, PUT, PATCH and DELETE; `admin` adds "
        "the routes that manage the account's keys.",
        examples=[["read", "write"]],
    )
    expires_at: datetime | None = Field(default=None, description="When the key stops working; null: never.")
    account_id: str = Field(description="The account the key belongs to: its plants are the ones it sees.")
    plants: list[int] | None = Field(
        default=None, description="The plants the key is restricted to; null: every plant of its account."
    )
    portfolios: list[str] | None = Field(
        default=None,
        description="The portfolios the key is restricted to (with `plants`: either reaches); null: none.",
    )
    tier: KeyTier = Field(default="standard", description="The key's usage tier: its rate and daily quota.")
    usage: KeyUsage | None = Field(
        default=None, description="Today's usage; null if it could not be counted (storage unavailable)."
    )


KeyScope = Literal["read", "write", "admin"]


def _aware_future(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the time with its offset (`Z` or `+01:00`)")
    if value <= datetime.now(UTC):
        raise ValueError("the expiry must be in the future")
    return value


class KeyInfo(BaseModel):
    """One of the account's keys, as its admin keys see it (never its secret)."""

    id: str = Field(description="The key's public id, the 12 characters after `pfk_`.")
    name: str
    scopes: list[KeyScope]
    plants: list[int] | None = Field(description="The plants it is restricted to; null: every plant.")
    portfolios: list[str] | None = Field(
        default=None, description="The portfolios it is restricted to; null: not restricted to portfolios."
    )
    tier: KeyTier = Field(default="standard", description="Its usage tier: its rate and daily quota.")
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyPage(BaseModel):
    items: list[KeyInfo]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


PortfolioIdText = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-z]{12}$")]
RestrictedPortfolios = Annotated[
    list[PortfolioIdText], Field(min_length=1, max_length=MAX_RESTRICTED_PORTFOLIOS)
]

RestrictedPlants = Annotated[
    list[Annotated[int, Field(strict=True, ge=1, le=2**53)]],
    Field(min_length=1, max_length=MAX_RESTRICTED_PLANTS),
]


class KeyCreate(BaseModel):
    """Body of POST /api/solar-plant/keys: a new key of the caller's account, no wider than the caller's."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[
        str,
        StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100),
        Field(description="Who or what uses the key.", examples=["reporting script"]),
    ]
    scopes: Annotated[
        list[KeyScope],
        Field(
            min_length=1,
            description="`read`, `write`, `admin`; at least `read` or `write`, none the calling key lacks.",
        ),
    ]
    plants: RestrictedPlants | None = Field(
        default=None,
        description="Restrict the key to these plants of the account; absent or null: every plant.",
    )
    portfolios: RestrictedPortfolios | None = Field(
        default=None,
        description="Restrict the key to the plants of these portfolios of the account (at the time of each "
        "request: a plant added later is reached at once); with `plants`, to either.",
    )
    expires_at: Annotated[datetime, AfterValidator(_aware_future)] | None = Field(
        default=None, description="When the key stops working (ISO 8601 with offset); absent or null: never."
    )
    tier: KeyTier | None = Field(
        default=None,
        description="Its usage tier (rate and daily quota), no larger than the calling key's; absent or "
        "null: the calling key's.",
    )

    @field_validator("scopes")
    @classmethod
    def _read_or_write(cls, value: list[str]) -> list[str]:
        if not {"read", "write"} & set(value):
            raise ValueError("a key needs `read` or `write` (`admin` only adds the key management routes)")
        return sorted(set(value))

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("a key's name is printable characters only")
        return value


class NewKey(KeyInfo):
    """A key just created: `key` is shown this once (only its hash is kept)."""

    key: str = Field(
        description="The key itself, `pfk_<id>_<secret>`; send it as `Authorization: Bearer <key>`."
    )


class AuditChange(BaseModel):
    before: Any = Field(description="The field's value before the write; null: unset, or the object was new.")
    after: Any = Field(description="Its value after; null: cleared, or the object is gone.")


class AuditEntryOut(BaseModel):
    """One write to the account's plants or keys (GET /api/solar-plant/audit); never a secret."""

    id: str
    at: datetime = Field(description="When the write was made (UTC).")
    account_id: str = Field(description="The account whose log this is.")
    key_id: str = Field(
        description="The key that wrote; `operator`: `python -m manage`, with AWS credentials."
    )
    key_account_id: str = Field(
        description="The account of that key: another than `account_id` only for a plant shared with it."
    )
    action: str = Field(
        examples=["plant.renamed"],
        description="`plant.created`, `plant.renamed`, `plant.patched`, `plant.deleted`, "
        "`plant.resync_requested`, `plant.resync_reverted`, `key.created`, `key.revoked`, "
        "`account.webhook_set`, `account.webhook_cleared`, `account.emails_set`.",
    )
    target: str = Field(
        examples=["plant/7"], description="What changed: `plant/<id>`, `key/<id>` or `account/<id>`."
    )
    changes: dict[str, AuditChange] = Field(description="Each field that changed, before and after.")
    details: dict[str, Any] = Field(
        description="What an action without fields did: a re-sync's range; a revert's re-sync, month, hours."
    )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last. A page may be short, even "
        "empty, and still have one."
    )
