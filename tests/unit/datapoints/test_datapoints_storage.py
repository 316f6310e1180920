"""The datapoints table's items as stored (moto): the TTL each carries, and month sums that stay
exact when a month is written a few days at a time."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest

from powerfactor.datapoints import reports
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.plants import logic as plants
from powerfactor.runtime.settings import get_settings
from powerfactor.sync.run import horizon
from tests.support import OWNER, expected_row


def stored_items(plant_id: int) -> dict[str, dict]:
    """Every item of the plant, by period, as DynamoDB holds it."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    pages = client.get_paginator("query").paginate(
        TableName=get_settings().datapoints_table,
        KeyConditionExpression="plant_id = :p",
        ExpressionAttributeValues={":p": {"N": str(plant_id)}},
    )
    return {item["period"]["S"]: item for page in pages for item in page["Items"]}


def midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def hours_of(start: date, days: int, value: float = 1.5) -> list[Datapoint]:
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return [Datapoint(first + timedelta(hours=h), value, value, value, value) for h in range(24 * days)]


@pytest.mark.parametrize("years", [1, 4, 10])
def test_expiry_is_the_first_day_whose_horizon_has_passed_the_period(years: int) -> None:
    """For every period end from 2023 to 2029 (leap days included): on the day before the expiry
    the period's last day is still inside the horizon, on the expiry day it is not."""
    end = date(2023, 1, 1)
    while end < date(2029, 1, 1):
        expiry = datetime.fromtimestamp(datapoints.expires_at(end, years), UTC)
        assert (expiry.hour, expiry.minute, expiry.second) == (0, 0, 0)
        last = end - timedelta(days=1)
        assert horizon(expiry.date() - timedelta(days=1), years) <= last < horizon(expiry.date(), years), end
        end += timedelta(days=1)


@pytest.mark.usefixtures("aws")
def test_every_day_and_month_item_carries_its_ttl(use_function_env) -> None:
    use_function_env("SyncWorkerFunction", SyncUntilYear="3")
    plant_id = plants.create_plant(OWNER, "ttl").id
    # the end of January, the whole of February 2024 (29 days) and one day of March
    datapoints.write_days(plant_id, hours_of(date(2024, 1, 30), 32))
    items = stored_items(plant_id)
    assert len(items) == 32 + 3
    for period, item in items.items():
        kind, start = period[:2], period[2:]
        if kind == "D#":
            end = date.fromisoformat(start) + timedelta(days=1)
        else:
            first = date.fromisoformat(start + "-01")
            end = (first + timedelta(days=31)).replace(day=1)
        # 2027 has no 29 February: what ends then expires on 1 March (the horizon passes it then)
        want = date(2027, 3, 1) if (end.month, end.day) == (2, 29) else end.replace(year=end.year + 3)
        assert int(item["expires_at"]["N"]) == midnight(want), period
    assert int(items["D#2024-02-28"]["expires_at"]["N"]) == midnight(date(2027, 3, 1))
    assert int(items["D#2024-02-29"]["expires_at"]["N"]) == midnight(date(2027, 3, 1))
    assert int(items["M#2024-02"]["expires_at"]["N"]) == midnight(date(2027, 3, 1))


@pytest.mark.usefixtures("aws")
def test_a_rewrite_takes_the_horizon_of_the_moment(use_function_env) -> None:
    use_function_env("SyncWorkerFunction", SyncUntilYear="2")
    plant_id = plants.create_plant(OWNER, "ttl rewrite").id
    datapoints.write_days(plant_id, hours_of(date(2024, 5, 10), 1))
    assert int(stored_items(plant_id)["D#2024-05-10"]["expires_at"]["N"]) == midnight(date(2026, 5, 11))
    use_function_env("SyncWorkerFunction", SyncUntilYear="5")
    datapoints.write_days(plant_id, hours_of(date(2024, 5, 12), 1))  # rewrites May's summary
    items = stored_items(plant_id)
    assert int(items["D#2024-05-10"]["expires_at"]["N"]) == midnight(date(2026, 5, 11))  # as written
    assert int(items["D#2024-05-12"]["expires_at"]["N"]) == midnight(date(2029, 5, 13))
    assert int(items["M#2024-05"]["expires_at"]["N"]) == midnight(date(2029, 6, 1))


# Three days whose rounded sums add up to 5124518.303005, their hours to 5124518.303004 (found
# by a random search)
AWKWARD = [
    [965369.502, 198280.796, 669022.745],
    [498948.576, 311042.949, 753556.0567645],
    [636037.03204, 162141.56028, 930119.08592],
]


@pytest.mark.usefixtures("aws")
def test_month_sums_stay_exact_when_written_a_day_at_a_time_and_merged() -> None:
    """A month filled day by day (each write reads the stored summary, its partials included),
    each day merged from two writes, sums as one fsum over all its hours."""
    plant_id = plants.create_plant(OWNER, "exact").id
    points: list[Datapoint] = []
    for number, values in enumerate(AWKWARD, start=1):
        first = datetime(2024, 2, number, 5, tzinfo=UTC)
        hours = [Datapoint(first + timedelta(hours=h), v, v, v, v) for h, v in enumerate(values)]
        points += hours
        datapoints.write_days(plant_id, hours[:1])
        datapoints.write_days(plant_id, hours[1:])  # a partial day: merged with the stored hour
    rounded_days = math.fsum(math.fsum(day) for day in AWKWARD)
    assert round(rounded_days, 6) != round(math.fsum(p.observed_energy for p in points), 6)  # the case
    page = reports.report(OWNER, plant_id, date(2024, 2, 1), date(2024, 2, 29), "month")
    want = expected_row(points, 29 * 24)
    assert page.items[0].model_dump(include={"hours_present", "energy", "irradiation"}) == {
        k: want[k] for k in ("hours_present", "energy", "irradiation")
    }
    assert page.totals.model_dump() == want
    summary = stored_items(plant_id)["M#2024-02"]
    assert float(summary["oe"]["N"]) == math.fsum(p.observed_energy for p in points)


@pytest.mark.usefixtures("aws")
def test_range_sums_are_the_day_sums_summed_exactly() -> None:
    """read_range_sums (an hour report's totals) is Sums.of over read_day_sums, and its partials
    keep it exact when added to other sums, on awkward values across a month end."""
    plant_id = plants.create_plant(OWNER, "range sums").id
    points = []
    for number, values in enumerate(AWKWARD * 2):
        first = datetime(2024, 2, 20, 5, tzinfo=UTC) + timedelta(days=number)
        points += [Datapoint(first + timedelta(hours=h), v, v / 3, -v, v * 7) for h, v in enumerate(values)]
    datapoints.write_days(plant_id, points)
    cuts = [date(2024, 2, 1), date(2024, 2, 20), date(2024, 2, 23), date(2024, 3, 1), date(2024, 3, 5),
            date(2024, 3, 20), date(2024, 4, 1)]  # fmt: skip
    for start in cuts:
        for end in cuts:
            want = datapoints.Sums.of(datapoints.read_day_sums(plant_id, start, end).values())
            got = datapoints.read_range_sums(plant_id, start, end)
            assert _fields(got) == _fields(want)
            for middle in cuts:
                if start <= middle <= end:
                    halves = [datapoints.read_range_sums(plant_id, start, middle),
                              datapoints.read_range_sums(plant_id, middle, end)]  # fmt: skip
                    assert _fields(datapoints.Sums.of(halves)) == _fields(want)
    days = [date(2024, 2, 20) + timedelta(days=n) for n in range(2 * len(AWKWARD))]
    one_by_one = [datapoints.read_range_sums(plant_id, day, day + timedelta(days=1)) for day in days]
    want = datapoints.Sums.of(
        datapoints.read_day_sums(plant_id, days[0], days[-1] + timedelta(days=1)).values()
    )
    assert _fields(datapoints.Sums.of(one_by_one)) == _fields(want)
    assert want.observed_energy == math.fsum(
        p.observed_energy for p in points
    )  # exact, not the rounded days'


def _fields(sums: datapoints.Sums) -> tuple:
    return (sums.hours, sums.expected_energy, sums.expected_irradiation, sums.observed_energy,
            sums.observed_irradiation)  # fmt: skip


@pytest.mark.usefixtures("aws")
def test_a_month_item_without_partials_still_reads() -> None:
    """A summary written before `rest` existed reads as before: the rounded day sums."""
    plant_id = plants.create_plant(OWNER, "legacy").id
    datapoints.write_days(plant_id, hours_of(date(2024, 3, 1), 2, 0.1))
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.update_item(
        TableName=get_settings().datapoints_table,
        Key={"plant_id": {"N": str(plant_id)}, "period": {"S": "M#2024-03"}},
        UpdateExpression="REMOVE rest, expires_at",
    )
    sums = datapoints.read_day_sums(plant_id, date(2024, 3, 1), date(2024, 4, 1))
    assert sorted(sums) == [date(2024, 3, 1), date(2024, 3, 2)]
    assert all(s.residuals == ((), (), (), ()) and s.hours == 24 for s in sums.values())
    assert sums[date(2024, 3, 1)].observed_energy == math.fsum([0.1] * 24)


@pytest.mark.usefixtures("aws")
def test_a_day_writer_stores_what_write_days_stores_in_fuller_batches(use_function_env, monkeypatch) -> None:
    """The same writes through `write_days` and through one `DayWriter`: a month's last partial
    batch waits for the next writes (a month summary read meanwhile is one the writer has not
    written: what waits does not concern it), a key already waiting sends it first, and once
    flushed the table holds the very same items. (New hours only: a change of stored values goes
    in a transaction, test_revisions.py.)"""
    use_function_env("SyncWorkerFunction")
    alone, batched = plants.create_plant(OWNER, "write_days").id, plants.create_plant(OWNER, "DayWriter").id
    writes = [
        hours_of(date(2024, 1, 1), 31),  # 31 days and January: 25 sent, 7 wait
        hours_of(date(2024, 2, 1), 29),  # 30 more: 25 sent, 12 wait
        hours_of(date(2024, 3, 10), 1)[:5],  # a partial day of a new month (its summary read): 14 wait
        hours_of(date(2024, 3, 1), 31),  # March whole, its summary waiting: the 14 flushed first
    ]
    for points in writes:
        datapoints.write_days(alone, points)
    sent: list[int] = []
    batch_write = datapoints._batch_write
    monkeypatch.setattr(
        datapoints, "_batch_write", lambda items: sent.append(len(items)) or batch_write(items)
    )
    writer = datapoints.DayWriter(batched)
    counts = [writer.write(points) for points in writes]
    whole_days = [{p.hour.date(): 24 for p in points} for points in writes]
    assert counts == [*whole_days[:2], {date(2024, 3, 10): 5}, whole_days[3]]
    assert sent == [25, 25, 0, 14, 25]

    def comparable(items: dict[str, dict]) -> dict[str, dict]:
        """Without the plant's id and when each hour was first stored (the writes' own times)."""
        return {
            period: {k: v for k, v in item.items() if k not in ("plant_id", "f", "fh")}
            for period, item in items.items()
        }

    want, held = comparable(stored_items(alone)), comparable(stored_items(batched))
    waiting = {f"D#2024-03-{day}" for day in range(26, 32)} | {"M#2024-03"}
    assert {period for period, item in want.items() if held.get(period) != item} == waiting
    writer.flush()
    assert sent[-1] == 7 and comparable(stored_items(batched)) == want


@pytest.mark.usefixtures("aws")
def test_a_day_left_without_its_month_entry_by_a_failed_run_gets_it_when_fetched_again(
    use_function_env, monkeypatch
) -> None:
    """A month's days and its summary go in two batches side by side: the one with the summary
    failing leaves days stored that the summary lacks. Fetched again unchanged, those days are
    not written again, but their entries are, so the month sums (reports, the sync's own
    completeness check) see them."""
    from pynamodb.exceptions import PutError

    use_function_env("SyncWorkerFunction")
    plant_id = plants.create_plant(OWNER, "Half written").id
    month = hours_of(date(2024, 3, 1), 31)  # 31 days and the summary: batches of 25 and 7
    commit = datapoints._commit

    def summary_lost(items: list) -> None:
        if any(item["period"]["S"].startswith("M#") for item in items):
            raise PutError("timed out")
        commit(items)

    monkeypatch.setattr(datapoints, "_commit", summary_lost)
    with pytest.raises(PutError):
        datapoints.write_days(plant_id, month)
    monkeypatch.setattr(datapoints, "_commit", commit)
    stored = {p for p in stored_items(plant_id) if p.startswith("D#")}
    assert 0 < len(stored) < 31 and "M#2024-03" not in stored_items(plant_id)
    before = {p: stored_items(plant_id)[p] for p in stored}
    datapoints.write_days(plant_id, month)
    sums = datapoints.read_day_sums(plant_id, date(2024, 3, 1), date(2024, 4, 1))
    assert len(sums) == 31 and {s.hours for s in sums.values()} == {24}
    assert {p: stored_items(plant_id)[p] for p in stored} == before  # those days not written again
