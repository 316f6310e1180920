"""`python -m manage migrate` (manage/migrate.py) on the tables the code before accounts wrote.

`tests/data/pre-accounts-tables.json` holds every item of each table as that code wrote them
(recorded at commit c3f6f4b by its tests/data/record_pre_accounts.py, through its own create,
rename, patch, delete, sync, re-sync, key and alert paths), and the keys it created. They are
loaded into the tables of today's template (moto), then migrated: once, again (nothing changes),
after a crash midway (it goes on), and while plants are created and deleted meanwhile (the
default account's count stays exact).
"""

from __future__ import annotations

import base64
import io
import json
from datetime import date
from pathlib import Path

import boto3
import pytest

from devstack.tables import batch_write
from manage import migrate
from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import DEFAULT_ACCOUNT, from_context
from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import reports
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.runtime.errors import InvalidApiKey, NameTaken
from tests.support import OWNER, principal

RECORDED = Path(__file__).parent.parent / "data" / "pre-accounts-tables.json"
PLANTS = {1: "Solar Park North", 2: "Solar Park Süd", 3: "Rooftop Kiel", 5: "Straße 7"}  # 4 was deleted


def _wire(value: object) -> object:
    """DynamoDB JSON as recorded (binary values in base64) back to what boto3 sends."""
    if isinstance(value, dict):
        return {k: (base64.b64decode(v) if k == "B" else _wire(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


@pytest.fixture
def recorded(aws) -> dict[str, str]:
    """The recorded tables loaded; the keys' tokens by name."""
    data = json.loads(RECORDED.read_text())
    client = boto3.client("dynamodb", region_name="us-east-1")
    for table in ("PlantsTable", "DatapointsTable", "ApiKeysTable", "AlertsTable"):
        batch_write(client, table, [{"PutRequest": {"Item": _wire(item)}} for item in data[table]])
    return data["keys (test data)"]


def _run(dry_run: bool = False) -> str:
    out = io.StringIO()
    assert migrate.migrate(dry_run, out)
    return out.getvalue()


def _listed() -> dict[int, str]:
    return {p.id: p.name for p in plants.list_plants(OWNER).items}


def test_the_tables_of_the_code_before_accounts_become_the_default_accounts(recorded) -> None:
    assert _listed() == {}  # before: the account's index has none of them
    assert plants.get_plant(OWNER, 1).name == PLANTS[1]  # but each answers by id already
    dry = _run(dry_run=True)
    assert "keys         3 without an account to migrate" in dry and "plants       4 without" in dry
    assert _listed() == {} and accounts.list_accounts() == []  # a dry run writes nothing

    printed = _run()
    assert "plants       4 without an account found, 4 migrated now" in printed
    assert "open alerts  2 without an account found, 2 migrated now" in printed
    assert "default account: 4 plants counted, 4 in its index" in printed
    assert accounts.get_account(DEFAULT_ACCOUNT).max_plants is None

    # every plant, as it was: names, metadata, sync state, the pending re-sync, the data
    assert _listed() == PLANTS
    north, south = plants.get_plant(OWNER, 1), plants.get_plant(OWNER, 2)
    assert (north.capacity_kwp, north.latitude, north.timezone) == (4800.5, 54.3, "Europe/Berlin")
    assert north.sync.missing_days == [date(2024, 2, 3)] and south.sync.resync is not None
    assert len(reports.data_page(OWNER, 1, date(2024, 3, 1), date(2024, 3, 2), tz="UTC").items) == 48
    assert [p.id for p in plants.search_plants(OWNER, "STRASSE").items] == [5]

    # names stay taken in the default account (today's claims), free in any other; counts exact
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, "solar park NORTH")
    assert plants.create_plant(OWNER, "Solar Park North 2").id > 5  # the id counter goes on, ids never reused
    accounts.create_account("Acme", "acme")
    assert plants.create_plant(principal("acme"), "Solar Park North").name == "Solar Park North"
    assert plants.account_plants_counted(DEFAULT_ACCOUNT) == (5, 5)

    # today's keys: the default account's, working as before; the revoked one still refused
    for name in ("ops laptop", "dashboard"):
        key = apikeys.authenticate(f"Bearer {recorded[name]}")
        assert key.account_id == DEFAULT_ACCOUNT and key.plants is None
        assert from_context(apikeys.authorizer_context(key)).account_id == DEFAULT_ACCOUNT
    assert {k.name for k in apikeys.account_keys(principal(scopes=("read", "admin")))[0]} == {
        "ops laptop",
        "dashboard",
        "old script",
    }
    with pytest.raises(InvalidApiKey):
        apikeys.authenticate(f"Bearer {recorded['old script']}")

    # the open alerts (north's underperformance, south's sync failing) listed for the account
    opened = {(a.plant_id, a.kind) for a in alerts.open_alerts(OWNER).items}
    assert opened == {(1, "underperformance"), (2, "sync_failing")}
    assert alerts.open_alerts(principal("acme")).items == []
    assert {a.state for a in alerts.plant_alerts(OWNER, 1).items} == {"open", "resolved"}


def test_a_second_run_changes_nothing(recorded) -> None:
    _run()
    again = _run()
    for what in ("keys", "plants", "open alerts"):
        assert f"{what:<12} 0 without an account found, 0 migrated now" in again
    assert plants.account_plants_counted(DEFAULT_ACCOUNT) == (4, 4)


def test_a_run_that_crashed_midway_goes_on_where_it_stopped(recorded, monkeypatch) -> None:
    real, done = plant_storage.adopt_plant, []

    def crashing(plant_id: int, account_id: str) -> bool:
        if len(done) == 2:
            raise RuntimeError("the operator's laptop went to sleep")
        done.append(plant_id)
        return real(plant_id, account_id)

    monkeypatch.setattr(plant_storage, "adopt_plant", crashing)
    with pytest.raises(RuntimeError):
        _run()
    assert len(_listed()) == 2 and plants.account_plants_counted(DEFAULT_ACCOUNT) == (2, 2)
    monkeypatch.setattr(plant_storage, "adopt_plant", real)
    assert "plants       2 without an account found, 2 migrated now" in _run()
    assert _listed() == PLANTS and plants.account_plants_counted(DEFAULT_ACCOUNT) == (4, 4)


def test_plants_created_and_deleted_before_the_migration_are_counted_exactly(recorded) -> None:
    """The window between the deploy and the migration: the API creates plants in the default
    account (counted at once) and deletes plants not migrated yet (never counted there)."""
    new = plants.create_plant(OWNER, "Created after the deploy").id
    plants.delete_plant(OWNER, 3)  # written before accounts: not in the default account's count
    with pytest.raises(NameTaken):  # a name taken before accounts is taken in the default account
        plants.create_plant(OWNER, "Solar Park Süd")
    _run()
    assert _listed() == {**{k: v for k, v in PLANTS.items() if k != 3}, new: "Created after the deploy"}
    assert plants.account_plants_counted(DEFAULT_ACCOUNT) == (4, 4)


def test_the_command_line_runs_it_and_says_so(recorded, capsys) -> None:
    from argparse import Namespace

    from manage.target import Target

    here = Target("these tables", {})
    assert migrate.run(Namespace(dry_run=False), here) == 0
    assert "Migrating these tables to accounts." in capsys.readouterr().out
    plant_storage._Counter(pk="ACCOUNT#default#COUNT#plants", value=1).save()  # as if written by hand
    assert migrate.run(Namespace(dry_run=False), here) == 1
    assert "plants recount --account default" in capsys.readouterr().err
