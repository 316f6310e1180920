"""The data and report pages the API returns (and `Datapoint`, a plant's hour as stored, named
here too: it lives in points.py, which imports no model)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from powerfactor.datapoints.points import Datapoint as Datapoint

Granularity = Literal["hour", "day", "month"]


class Reading(BaseModel):
    energy: float = Field(description="kWh")
    irradiation: float = Field(description="Wh/m²")


class DataItem(BaseModel):
    """One stored hour, in the monitoring service's own shape."""

    hour: datetime = Field(alias="datetime", description="Start of the hour, with the offset of `tz`.")
    expected: Reading
    observed: Reading

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class DataPage(BaseModel):
    plant_id: int
    tz: str = Field(description="The time zone of the days and timestamps: `UTC` or an IANA name.")
    from_: date = Field(alias="from", description="First day, inclusive (of `tz`).")
    to: date = Field(description="Last day, inclusive (of `tz`).")
    items: list[DataItem] = Field(description="Stored hours in time order; absent hours are left out.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Measure(BaseModel):
    expected: float = Field(description="Sum of the expected values (6 decimals).")
    observed: float = Field(description="Sum of the observed values (6 decimals).")
    observed_to_expected: float | None = Field(
        description="observed / expected (not a performance ratio); null where expected is zero."
    )


class ReportRow(BaseModel):
    hours_present: int = Field(description="Hours with data in the bucket.")
    hours_total: int = Field(description="Hours the bucket spans inside the range.")
    energy: Measure = Field(description="kWh")
    irradiation: Measure = Field(description="Wh/m²")
    specific_yield: float | None = Field(
        description="Observed energy / capacity_kwp (kWh/kWp); null if the plant has no capacity."
    )
    expected_specific_yield: float | None = Field(
        description="Expected energy / capacity_kwp (kWh/kWp); null if the plant has no capacity."
    )
    performance_ratio: float | None = Field(
        description=(
            "IEC 61724-1: (observed energy / capacity_kwp) / (observed irradiation / 1 kW/m²), "
            "irradiation in kWh/m² (Wh/m² / 1000); null without a capacity or irradiation."
        )
    )


class ReportBucket(ReportRow):
    period: str = Field(
        description=(
            "`YYYY-MM-DDTHH:00Z` (hour, UTC), `YYYY-MM-DDTHH:MM+HH:MM` (hour, other zones: a repeated "
            "hour appears twice, with its two offsets), `YYYY-MM-DD` (day) or `YYYY-MM` (month)."
        )
    )
    start: datetime = Field(description="Start of the bucket, with the offset of `tz`.")


class ReportPage(BaseModel):
    plant_id: int
    tz: str = Field(description="The time zone of the days and buckets: `UTC` or an IANA name.")
    from_: date = Field(alias="from")
    to: date
    granularity: Granularity
    items: list[ReportBucket] = Field(description="Buckets that have data, in time order.")
    totals: ReportRow = Field(description="The whole range (all pages).")
    next_cursor: str | None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# ---- history: revisions and provenance (powerfactor.datapoints.history) ----


class HourValues(BaseModel):
    """An hour's four values."""

    expected: Reading
    observed: Reading


class RevisionItem(BaseModel):
    """One change to one stored hour."""

    hour: datetime = Field(description="The hour changed (its start, UTC).")
    kind: Literal["changed", "removed", "restored"] = Field(
        description="`changed`: other values; `removed`: the hour taken away (`remove_missing`, or a "
        "revert); `restored`: an hour once removed stored again."
    )
    changed_at: datetime = Field(description="When the change was stored.")
    cause: Literal["daily", "backfill", "resync", "revert"] = Field(
        description="What made it: the daily sync (its refresh of the last days, or a missing day), "
        "a backfill, a re-sync, or the revert of one."
    )
    resync_id: str | None = Field(description="The re-sync (or the re-sync reverted).")
    key_id: str | None = Field(description="The API key of whoever asked for the re-sync or revert.")
    why: str
    old: HourValues | None = Field(description="The values before; null for a restored hour.")
    new: HourValues | None = Field(description="The values after; null for a removed hour.")


class RevisionPage(BaseModel):
    plant_id: int
    from_: date = Field(alias="from", description="First day of the hours listed (UTC), inclusive.")
    to: date = Field(description="Last day of the hours listed (UTC), inclusive.")
    items: list[RevisionItem] = Field(
        description="By the hour's day, then in the order the changes were made, then by hour."
    )
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Provenance(BaseModel):
    first_stored: datetime | None = Field(
        description="When the hour was first stored (null: before provenance was kept)."
    )
    last_changed: datetime | None = Field(description="When its values last changed (null: never).")
    revisions: int = Field(description="How many times it changed, was removed or restored.")


class ProvenanceDataItem(DataItem):
    provenance: Provenance


class ProvenanceDataPage(DataPage):
    """A page of /data with `fields=provenance`."""

    items: list[ProvenanceDataItem] = Field(  # type: ignore[assignment]
        description="Stored hours in time order, each with its provenance; absent hours are left out."
    )
