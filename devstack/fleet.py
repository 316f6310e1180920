"""A fleet of plants written straight into the plants table, for load tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devstack.tables import batch_write
from powerfactor.access.principal import DEFAULT_ACCOUNT
from powerfactor.sync.run import horizon

PLANTS_TABLE = "PlantsTable"


def seed_synced_plants(client: Any, ids: Iterable[int], today: date, until_years: int = 1) -> None:
    """Plants whose history is already backfilled up to three days ago: a sync of one is the
    recent refresh only (a week, one or two requests). Their INSERTs reach the stream as new
    plants created over the API would. They are the default account's."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    items = [
        {
            "pk": {"S": f"PLANT#{i}"},
            "entity": {"S": "plant"},
            "plant_id": {"N": str(i)},
            "account_id": {"S": DEFAULT_ACCOUNT},
            "name": {"S": f"fleet {i}"},
            "name_key": {"S": f"fleet {i}"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "history_from": {"S": horizon(today, until_years).isoformat()},
            "synced_until": {"S": (today - timedelta(days=3)).isoformat()},
        }
        for i in ids
    ]  # fmt: skip
    batch_write(client, PLANTS_TABLE, [{"PutRequest": {"Item": it}} for it in items])
    for count in ("COUNT#plants", f"ACCOUNT#{DEFAULT_ACCOUNT}#COUNT#plants"):  # the caps (plants/store.py)
        client.update_item(
            TableName=PLANTS_TABLE,
            Key={"pk": {"S": count}},
            UpdateExpression="ADD #v :n",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":n": {"N": str(len(items))}},
        )


def synced_since(client: Any, ids: Iterable[int], moment: datetime) -> int:
    """How many of these plants finished a sync run after this moment."""
    fleet = {f"PLANT#{i}" for i in ids}
    since = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")  # as pynamodb stores it, to the microsecond
    done = 0
    for page in client.get_paginator("scan").paginate(
        TableName=PLANTS_TABLE, ProjectionExpression="pk, last_success_at"
    ):
        done += sum(
            1 for it in page["Items"]
            if it["pk"]["S"] in fleet and it.get("last_success_at", {}).get("S", "") >= since
        )  # fmt: skip
    return done
