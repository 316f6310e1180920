"""The TTL of synced items against DynamoDB Local: a sync to the horizon writes `expires_at` on
every day and month item, and none of them expires while the horizon still holds its period."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

from devstack.stack import dynamodb_client
from devstack.template import ROOT
from powerfactor.datapoints import store as datapoints
from powerfactor.plants import logic as plants
from powerfactor.runtime.settings import get_settings
from powerfactor.sync.run import horizon, sync_plant
from powerfactor.sync.vendor import MonitoringClient
from tests.support import OWNER

TODAY = date(2024, 3, 2)  # the horizon, a year back, starts on 2 March 2023


def test_a_sync_to_the_horizon_writes_the_ttl_of_every_item(sync_env, simulator, local_aws) -> None:
    sync_env(every_run=1, until_years=1)
    client = MonitoringClient(simulator.url, read_timeout=2, today=lambda: TODAY)
    plant_id = plants.create_plant(OWNER, "ttl").id
    assert sync_plant(plant_id, client, today=TODAY).status == "done"
    pages = (
        dynamodb_client(local_aws)
        .get_paginator("query")
        .paginate(
            TableName=get_settings().datapoints_table,
            KeyConditionExpression="plant_id = :p",
            ExpressionAttributeValues={":p": {"N": str(plant_id)}},
        )
    )
    items = {item["period"]["S"]: int(item["expires_at"]["N"]) for page in pages for item in page["Items"]}
    days = sorted(date.fromisoformat(p[2:]) for p in items if p.startswith("D#"))
    assert days[0] == horizon(TODAY, 1) == date(2023, 3, 2) and days[-1] == TODAY - timedelta(days=1)
    assert len(days) == 366 and sum(p.startswith("M#") for p in items) == 13
    for period, expires in items.items():
        expiry = datetime.fromtimestamp(expires, UTC)
        if period.startswith("D#"):
            last = date.fromisoformat(period[2:])
        else:
            first = date.fromisoformat(period[2:] + "-01")
            last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        # the day before the expiry still keeps the period's last day; the expiry day does not
        assert expiry.time() == datetime.min.time(), period
        assert horizon(expiry.date() - timedelta(days=1), 1) <= last < horizon(expiry.date(), 1), period
    assert items["D#2023-03-02"] == int(datetime(2024, 3, 3, tzinfo=UTC).timestamp())
    assert items["D#2024-02-28"] == int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())  # no 29 Feb in 2025
    assert items["D#2024-02-29"] == int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
    assert items["M#2024-03"] == int(datetime(2025, 4, 1, tzinfo=UTC).timestamp())


def test_the_retention_command_gives_every_item_the_new_expiry(sync_env, simulator, local_aws) -> None:
    """After SyncUntilYear is raised from 1 to 3, `manage datapoints retention --years 3` rewrites
    every item's expiry (a second run finds nothing to change)."""
    sync_env(every_run=1, until_years=1)
    client = MonitoringClient(simulator.url, read_timeout=2, today=lambda: TODAY)
    plant_id = plants.create_plant(OWNER, "retention").id
    assert sync_plant(plant_id, client, today=TODAY).status == "done"
    command = [sys.executable, "-m", "manage", "datapoints", "--endpoint", local_aws, "retention"]
    command += ["--years", "3"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "379 datapoint items" in first.stdout and "379 given a 3-year expiry" in first.stdout
    table = dynamodb_client(local_aws).scan(TableName=get_settings().datapoints_table)["Items"]
    for item in table:
        period = item["period"]["S"]
        end = datapoints._period_end(period)
        assert int(item["expires_at"]["N"]) == datapoints.expires_at(end, 3), period
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "0 given a 3-year expiry" in again.stdout, again.stdout + again.stderr
