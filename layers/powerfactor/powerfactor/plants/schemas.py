"""The shapes PowerFactor reads and returns: pydantic models, also the source of the OpenAPI schema."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from powerfactor.access.principal import PlantRef
from powerfactor.runtime.clock import today_somewhere

PLANT_NAME_MAX = 100

# Unicode's control (Cc), format (Cf: zero-width characters, soft hyphen, bidi controls, BOM) and
# surrogate (Cs) categories: invisible or unencodable, so a name holding one could look exactly
# like another plant's while its uniqueness key differs. Refused rather than folded: the name
# shown would still hide them.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def visible_text(value: str) -> str:
    """Refuse text with a character of Unicode's control, format or surrogate category."""
    for char in value:
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise ValueError(
                f"U+{ord(char):04X} is an invisible or control character (Unicode category "
                f"{unicodedata.category(char)}); names may not contain one"
            )
    return value


PlantName = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=PLANT_NAME_MAX),
    Field(
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description=(
            "Display name, 1-100 characters after trimming, no control or invisible characters "
            "(Unicode categories Cc, Cf, Cs: zero-width, soft hyphen, bidi controls). Unique "
            "among the account's plants, ignoring case and repeated inner spaces."
        ),
        examples=["Solar Park North"],
    ),
    AfterValidator(visible_text),
]


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


# The days `from` and `to` may name. Wider than any plant's history (solar monitoring starts well
# after 1970), narrow enough that day arithmetic never leaves Python's calendar (year 1 to 9999).
DAY_MIN, DAY_MAX = date(1970, 1, 1), date(2199, 12, 31)


class PlantIn(BaseModel):
    """Body of PUT /api/solar-plant/plant/{plant_id}: a rename (metadata is left as it is)."""

    model_config = ConfigDict(extra="forbid")
    name: PlantName


# A plant's peak power: at least 1 W, at most 10 GWp (the largest plants are a few GWp). The lower
# bound also keeps the value in DynamoDB's number range (magnitudes from 1e-130).
CAPACITY_MIN_KWP, CAPACITY_MAX_KWP = 0.001, 10_000_000
COORDINATE_DECIMALS = 7  # about 1 cm; also keeps tiny values (1e-200) in DynamoDB's number range


@cache
def timezone_names() -> frozenset[str]:
    """IANA names of the tz database shipped in the layer (the `tzdata` package's list).

    Not zoneinfo.available_timezones(): that adds every file of the host's zone directory, such
    as `localtime` (the host's own zone), so a name valid on one machine would not be on another.
    """
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def iana_zone(value: str) -> str:
    """Accept only a name of the tz database, spelled as it is there (`Europe/Berlin`)."""
    if value not in timezone_names():
        raise ValueError("expected an IANA time zone name such as Europe/Berlin or UTC")
    return value


def past_day(value: date) -> date:
    if value > today_somewhere():
        raise ValueError("a commissioning day cannot be in the future")
    return value


def iso_day(value: object) -> object:
    """Accept a day only as a `YYYY-MM-DD` string (or a date from Python code): pydantic alone
    also takes numbers as Unix timestamps, and datetimes."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("expected a day as a YYYY-MM-DD string")
    return value


def day_in_range(value: date) -> date:
    """Accept only days from DAY_MIN to DAY_MAX."""
    if not DAY_MIN <= value <= DAY_MAX:
        raise ValueError(f"days from {DAY_MIN} to {DAY_MAX} are accepted")
    return value


# Numbers are JSON numbers (strict: no booleans, no numeric strings); a JSON integer is a number.
CapacityKwp = Annotated[
    float,
    Field(strict=True, ge=CAPACITY_MIN_KWP, le=CAPACITY_MAX_KWP, allow_inf_nan=False,
          description="DC peak power in kWp (STC).", examples=[4500.0]),
]  # fmt: skip
TimeZone = Annotated[
    str,
    Field(strict=True, max_length=64, description="IANA time zone of the site, e.g. `Europe/Berlin`.",
          examples=["Europe/Berlin"]),
    AfterValidator(iana_zone),
]  # fmt: skip
Latitude = Annotated[
    float,
    Field(strict=True, ge=-90, le=90, allow_inf_nan=False,
          description="Degrees north (WGS 84), rounded to 7 decimals."),
    AfterValidator(lambda v: round(v, COORDINATE_DECIMALS) + 0.0),
]  # fmt: skip
Longitude = Annotated[
    float,
    Field(strict=True, ge=-180, le=180, allow_inf_nan=False,
          description="Degrees east (WGS 84), rounded to 7 decimals."),
    AfterValidator(lambda v: round(v, COORDINATE_DECIMALS) + 0.0),
]  # fmt: skip
CommissionedOn = Annotated[
    date,
    Field(description="First day of operation, `YYYY-MM-DD`, not in the future; nothing earlier is synced."),
    BeforeValidator(lambda v: iso_day(v)),
    AfterValidator(lambda v: past_day(day_in_range(v))),
]  # fmt: skip

METADATA_FIELDS = ("capacity_kwp", "timezone", "latitude", "longitude", "commissioned_on")


class PlantCreate(BaseModel):
    """Body of POST /api/solar-plant/: a name and, optionally, the plant's metadata."""

    model_config = ConfigDict(extra="forbid")
    name: PlantName
    capacity_kwp: CapacityKwp | None = None
    timezone: TimeZone | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    commissioned_on: CommissionedOn | None = None


class PlantPatch(BaseModel):
    """Body of PATCH /api/solar-plant/plant/{plant_id}, a JSON merge patch (RFC 7386): only the
    fields sent change; `null` clears an optional field; `name` cannot be null."""

    model_config = ConfigDict(extra="forbid")
    name: PlantName | None = None
    capacity_kwp: CapacityKwp | None = None
    timezone: TimeZone | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    commissioned_on: CommissionedOn | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("name cannot be null; send a name or leave the field out")
        return value

    def changes(self) -> dict[str, object]:
        """The fields sent, with their values (None: clear it)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


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
    resync: Resync | None = Field(
        default=None, description="A re-sync of a range queued or running (POST .../sync); null when none."
    )
    last_resync: ResyncResult | None = Field(
        default=None, description="What the plant's last finished re-sync (or dry run) did, from and to."
    )


class Shared(BaseModel):
    """How a plant of another account is shared with the caller's account (a grant)."""

    owner: str = Field(description="The name of the account that owns the plant.")
    access: Literal["read", "write"] = Field(
        description="`read`: its data, reports and alerts; `write`: also edits and re-syncs (never deletion)."
    )


class Plant(BaseModel):
    """A plant as the API shows it. Its owner (the account) is kept beside, not shown: `ref()`
    is what a principal judges its reach on (access/principal.py)."""

    _account_id: str = PrivateAttr()  # set by the store that read it; unset is an error, never a default
    _portfolios: frozenset[str] = PrivateAttr(default=frozenset())

    id: int = Field(description="Integer id, allocated by PowerFactor and never reused.")
    name: str
    capacity_kwp: float | None = Field(default=None, description="DC peak power, kWp; null if unknown.")
    timezone: str | None = Field(default=None, description="IANA time zone; reports default to it.")
    latitude: float | None = None
    longitude: float | None = None
    commissioned_on: date | None = Field(default=None, description="First day of operation.")
    created_at: datetime
    updated_at: datetime
    sync: SyncState = Field(default_factory=SyncState)
    shared: Shared | None = Field(
        default=None,
        description="Set only on a plant another account shares with the caller's: who owns it and "
        "what the share allows; null on the account's own plants.",
    )

    @property
    def account_id(self) -> str:
        return self._account_id

    def owned_by(self, account_id: str, portfolios: frozenset[str] = frozenset()) -> Plant:
        self._account_id = account_id
        self._portfolios = portfolios
        return self

    def ref(self) -> PlantRef:
        return PlantRef(self._account_id, self.id, self._portfolios)


class PlantPage(BaseModel):
    items: list[Plant]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


# ---- re-syncs (powerfactor.sync.resync) ----

REASON_MAX = 500
Reason = Annotated[
    str | None,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=REASON_MAX),
    Field(pattern=r"^[^\x00-\x1f\x7f-\x9f]+$"),
]
_RESYNC_ID = re.compile(r"(\d{8})-(\d{8})-\d{8}T\d{12}Z")


def resync_id(start: date, last: date, requested_at: datetime) -> str:
    """A re-sync's id: its range and when it was requested (one re-sync per plant at a time, so
    unique per plant), `20260101-20260131-20260207T031502123456Z`. The range in it is what a
    revert reads (powerfactor.sync.revert)."""
    return f"{start:%Y%m%d}-{last:%Y%m%d}-{requested_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def resync_range(value: str) -> tuple[date, date] | None:
    """The range of a re-sync id (`resync_id`), or None if `value` is not one."""
    match = _RESYNC_ID.fullmatch(value)
    if match is None:
        return None
    try:
        start, last = (datetime.strptime(part, "%Y%m%d").date() for part in match.groups())
    except ValueError:
        return None
    return (start, last) if start <= last else None


class ResyncIn(BaseModel):
    """Body of POST /api/solar-plant/plant/{plant_id}/sync: whole UTC days, both inclusive.
    Only the documented names: `from_` (the Python name) is an unknown field."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)
    from_: Annotated[date, BeforeValidator(iso_day), AfterValidator(day_in_range)] = Field(
        alias="from", description="First day to fetch again (YYYY-MM-DD), not before the horizon."
    )
    to: Annotated[date, BeforeValidator(iso_day), AfterValidator(day_in_range)] = Field(
        description="Last day to fetch again, inclusive; at most yesterday."
    )
    remove_missing: bool = Field(
        default=False,
        strict=True,
        description="Also remove stored hours the service no longer gives (else they are kept, counted "
        "as `unconfirmed`). Ask for a `dry_run` first.",
    )
    dry_run: bool = Field(
        default=False, strict=True, description="Fetch and count per day what would change; store nothing."
    )
    reason: Reason = Field(
        default=None,
        description="Why (1-500 characters): kept with each revision it makes (`GET .../revisions`).",
    )


class ResyncCounts(BaseModel):
    """Hours a re-sync wrote, changed, removed or left unconfirmed (over a day or a range)."""

    written: int = Field(default=0, description="Hours the service gave (overwriting what was stored).")
    added: int = Field(default=0, description="Of those, hours not stored before.")
    changed: int = Field(default=0, description="Of those, stored hours whose values differ.")
    removed: int = Field(
        default=0, description="Stored hours the service omitted, removed (`remove_missing`)."
    )
    unconfirmed: int = Field(
        default=0, description="Stored hours the service omitted, kept (without `remove_missing`)."
    )

    def add(self, other: ResyncCounts) -> None:
        for name in ResyncCounts.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ResyncDay(ResyncCounts):
    day: date


class ResyncResult(ResyncCounts):
    """What a re-sync did (or, a dry run, would do): totals, and the days where stored hours
    change, go or are not confirmed (at most `MAX_DAYS`, in order)."""

    MAX_DAYS: ClassVar[int] = 400
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    id: str | None = Field(default=None, description="The re-sync's id (`POST .../resyncs/{id}/revert`).")
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    dry_run: bool = False
    remove_missing: bool = False
    through: date | None = Field(default=None, description="Days before it are counted.")
    finished_at: datetime | None = None
    days: list[ResyncDay] = Field(default_factory=list)
    days_left_out: int = Field(default=0, description="Days with such hours beyond the first `MAX_DAYS`.")

    def note(self, day: date, counts: ResyncCounts) -> None:
        self.add(counts)
        if counts.changed or counts.removed or counts.unconfirmed:
            if len(self.days) < self.MAX_DAYS:
                self.days.append(ResyncDay(day=day, **counts.model_dump()))
            else:
                self.days_left_out += 1


class Resync(BaseModel):
    """A re-sync of a range: queued, then run by the sync worker under the plant's lease."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    id: str | None = Field(
        default=None, description="Its id: its revisions carry it; `POST .../resyncs/{id}/revert` undoes it."
    )
    plant_id: int
    from_: date = Field(alias="from")
    to: date
    state: Literal["pending", "running"]
    requested_at: datetime
    remove_missing: bool = False
    dry_run: bool = False
    key_id: str | None = Field(default=None, description="The id of the API key that asked for it.")
    reason: str | None = Field(default=None, description="Why, as the request said.")
    result: ResyncResult | None = Field(
        default=None, description="Counts so far (a re-sync run in parts or retried goes on from `through`)."
    )
    last_error: str | None = Field(default=None, description="Why its last attempt failed (it is retried).")
    progress: str | None = Field(
        default=None, description="Where to follow it: the plant, whose `sync.resync` it is until it ends."
    )


class RevertIn(BaseModel):
    """Body of POST .../plant/{plant_id}/resyncs/{resync_id}/revert (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason = Field(default=None, description="Why (1-500 characters): kept with each revision.")


class RevertResult(BaseModel):
    """What a revert put back (powerfactor.sync.revert)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    plant_id: int
    resync_id: str
    from_: date = Field(alias="from", description="The first day with an hour reverted.")
    to: date = Field(description="The last day with an hour reverted.")
    changed: int = Field(description="Hours whose values the re-sync had replaced, given their old values.")
    restored: int = Field(description="Hours the re-sync had removed, stored again.")
    removed: int = Field(description="Hours the re-sync had restored, removed again.")
    reverted_at: datetime
    revisions: str = Field(description="The revisions of those days, the revert's own among them.")


SyncState.model_rebuild()
Plant.model_rebuild()


# ---- portfolios and grants (powerfactor.plants.portfolios, powerfactor.plants.sharing) ----

PortfolioName = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=PLANT_NAME_MAX),
    Field(pattern=r"^[^\x00-\x1f\x7f-\x9f]+$", description="1-100 characters.", examples=["Bavaria"]),
    AfterValidator(visible_text),
]
PlantIds = Annotated[
    list[Annotated[int, Field(strict=True, ge=1, le=2**53)]],
    Field(min_length=1, max_length=40, description="Plant ids of the account (1-40)."),
]


class PortfolioIn(BaseModel):
    """Body of POST .../portfolios (with `plants`, optional) and PUT .../portfolios/{id}."""

    model_config = ConfigDict(extra="forbid")
    name: PortfolioName
    plants: PlantIds | None = Field(default=None, description="Plants to put in it at once (POST only).")


class PortfolioPlants(BaseModel):
    """Body of POST .../portfolios/{id}/plants: plants of the account to add."""

    model_config = ConfigDict(extra="forbid")
    plants: PlantIds


class PortfolioOut(BaseModel):
    """A named group of the account's plants (a plant may be in several)."""

    id: str = Field(description="12 characters of [0-9a-z], never reused.")
    name: str
    created_at: datetime
    updated_at: datetime


class PortfolioPage(BaseModel):
    items: list[PortfolioOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class GrantIn(BaseModel):
    """Body of POST .../grants: share one plant or one portfolio of the account with another account."""

    model_config = ConfigDict(extra="forbid")
    account: Annotated[
        str, StringConstraints(strict=True, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
    ] = Field(description="The id of the account to share with.")
    plant: Annotated[int, Field(strict=True, ge=1, le=2**53)] | None = Field(
        default=None, description="A plant of the account (give this or `portfolio`)."
    )
    portfolio: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-z]{12}$")] | None = Field(
        default=None, description="A portfolio of the account: its plants at the time of each request."
    )
    access: Literal["read", "write"] = Field(
        default="read", description="`read`, or `write`: read, edit and re-sync (never delete nor share on)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> GrantIn:
        if (self.plant is None) == (self.portfolio is None):
            raise ValueError("give either `plant` or `portfolio`")
        return self


class GrantOut(BaseModel):
    """A grant, as the account that gives it and the one that holds it see it."""

    id: str
    owner: str = Field(description="The id of the account that shares.")
    owner_name: str
    grantee: str = Field(description="The id of the account shared with.")
    plant: int | None = None
    portfolio: str | None = None
    access: Literal["read", "write"]
    created_at: datetime


class GrantPage(BaseModel):
    items: list[GrantOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
