"""Record the tables as the code before accounts writes them: `python -m tests.data.record_pre_accounts`.

Every item is written through that code's own paths (plants created, renamed, patched and
deleted; a sync state, a lease and a pending re-sync; keys created and revoked; alerts opened,
updated and resolved; datapoints written), in moto, then each table is dumped raw (DynamoDB
JSON), so the migration to accounts is tested on exactly what a deployed stack holds.
Runs only against that code (the layer's API before accounts); the file it wrote is kept.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "pre-accounts-tables.json"


def _write() -> dict[str, str]:
    """Fill the tables; the keys created, by name (the test signs in with them)."""
    from powerfactor.access import keys as apikeys
    from powerfactor.alerts import logic as alerts
    from powerfactor.alerts import store as alert_storage
    from powerfactor.datapoints import store as datapoints
    from powerfactor.datapoints.schemas import Datapoint
    from powerfactor.plants import logic as plants
    from powerfactor.plants import store as plant_storage
    from powerfactor.plants.schemas import SyncState

    tokens = {
        "ops laptop": apikeys.create_key("ops laptop", ["read", "write"])[0],
        "dashboard": apikeys.create_key("dashboard", ["read"], datetime.now(UTC) + timedelta(days=3650))[0],
    }
    tokens["old script"], gone = apikeys.create_key("old script", ["read", "write"])
    apikeys.revoke_key(gone.key_id)

    north = plants.create_plant("Solar Park North", capacity_kwp=4500, timezone="Europe/Berlin")
    south = plants.create_plant("Solar Park South", latitude=48.1, longitude=11.6)
    plants.create_plant("Rooftop Kiel")
    doomed = plants.create_plant("Doomed Plant")
    plants.create_plant("Straße 7", commissioned_on=date(2020, 5, 1))
    plants.rename_plant(south.id, "Solar Park Süd")  # the old name's claim released, the new one taken
    plants.patch_plant(north.id, {"capacity_kwp": 4800.5, "latitude": 54.3})
    plants.delete_plant(doomed.id)  # its claim released, the count decremented, the id never reused

    now = datetime.now(UTC)
    assert plant_storage.acquire_sync_lease(north.id, "recorder", now, 300) is not None
    state = SyncState(history_from=date(2024, 1, 1), synced_until=date(2024, 3, 2),
                      missing_days=[date(2024, 2, 3)], last_success_at=now)  # fmt: skip
    assert plant_storage.save_sync_state(north.id, "recorder", state)
    plant_storage.release_sync_lease(north.id, "recorder")
    stale = now - timedelta(hours=6)
    assert plant_storage.request_resync(south.id, "2024-01-01", "2024-01-31", now, stale) is None

    start = datetime(2024, 3, 1, tzinfo=UTC)
    points = [Datapoint(start + timedelta(hours=h), 1.0 + h, 10.0 + h, 0.9 + h, 9.5 + h) for h in range(48)]
    datapoints.write_days(north.id, points)

    def verdict(kind: str, active: bool) -> alerts.Verdict:
        return alerts.Verdict(kind, active, f"{kind} is {'on' if active else 'off'}", {"hours": 3})  # type: ignore[arg-type]

    alerts.write(north.id, [verdict("underperformance", True), verdict("data_gap", True)], now)
    alerts.write(north.id, [verdict("underperformance", True)], now + timedelta(hours=1))  # updated
    alerts.write(north.id, [verdict("data_gap", False)], now + timedelta(hours=2))  # resolved
    alerts.write(south.id, [verdict("sync_failing", True)], now)
    alert_storage.record_run(south.id, True, "the service failed")
    return tokens


def _json(value: object) -> object:
    """DynamoDB JSON as the wire has it: binary values (`B`) in base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _dump(client, tables: dict[str, str]) -> dict[str, list[dict]]:
    dumped = {}
    for logical_id, name in tables.items():
        pages = client.get_paginator("scan").paginate(TableName=name)
        items = [_json(item) for page in pages for item in page["Items"]]
        dumped[logical_id] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return dumped


def main() -> None:
    import boto3
    from moto import mock_aws

    from devstack.queues import ensure_queues
    from devstack.stack import function_environment, table_names
    from devstack.tables import ensure_tables
    from devstack.template import load_template
    from powerfactor.runtime.settings import reset_settings

    template = load_template()
    tables = table_names(template)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        ensure_tables(client, template, tables)
        queue_urls = ensure_queues(boto3.client("sqs", region_name="us-east-1"), template)
        os.environ.update(function_environment(template, {}, queue_urls)["PlantsApiFunction"])
        os.environ["API_KEYS_TABLE"] = tables["ApiKeysTable"]
        os.environ["ALERT_BUS_NAME"] = ""  # events only logged
        reset_settings()
        tokens = _write()
        dumped: dict[str, object] = {"keys (test data)": tokens, **_dump(client, tables)}
    OUT.write_text(json.dumps(dumped, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"{OUT}: " + ", ".join(f"{name} {len(items)}" for name, items in dumped.items()))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
    sys.exit(0)
