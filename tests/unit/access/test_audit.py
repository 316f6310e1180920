"""The audit log (moto): an entry for every kind of write, in the write's own transaction (none for
a refused or failed write, no write kept without its entry), and GET /audit: newest first, paged,
bounded by days, for the account's admin keys only, never another account's entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pynamodb.transactions import TransactWrite

from powerfactor.access import accounts, audit, audit_store
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import Grant, Principal
from powerfactor.aws import internals
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.runtime.errors import (
    AccountNotFound,
    NameTaken,
    NotPermitted,
    PlantLimitReached,
    PlantNotFound,
    ResyncPending,
)
from powerfactor.sync import resync
from tests.support import caller, principal

BASE = "/api/solar-plant"
ACME = principal("acme", ("read", "write", "admin"), key_id="acmeadmin001")
GLOBEX = principal("globex", ("read", "write", "admin"), key_id="globexadm001")


@pytest.fixture
def acme(aws) -> int:
    accounts.create_account("Acme", "acme")
    accounts.create_account("Globex", "globex")
    return plants.create_plant(ACME, "Solar Park", capacity_kwp=1200).id


def _log(account: str = "acme", **query: object) -> list[audit.AuditEntry]:
    who = principal(account, ("read", "admin"), key_id="reader000001")
    return audit.page(who, limit=200, **query)[0]  # type: ignore[arg-type]


def _put(entry: audit.AuditEntry) -> None:
    audit_store._bind()
    with TransactWrite(connection=internals.low_level_connection(audit_store._AuditItem)) as tx:
        audit_store.record(tx, entry)


def test_every_kind_of_write_is_recorded_with_who_what_and_the_change(acme, monkeypatch) -> None:
    monkeypatch.setattr(resync.jobs, "enqueue", lambda jobs: None)
    plants.rename_plant(ACME, acme, "Solar Park North")
    plants.patch_plant(ACME, acme, {"capacity_kwp": 1500, "timezone": "Europe/Berlin", "latitude": None})
    day = datetime.now(UTC).date() - timedelta(days=3)
    resync.request(ACME, acme, day, day, reason="vendor fix", key_id=ACME.key_id)
    token, key = apikeys.create_account_key(ACME, "reporting", ["read"])
    apikeys.revoke_account_key(ACME, key.key_id)
    _, operators = apikeys.create_key("ops", ["read"], account_id="acme")  # python -m manage keys create
    apikeys.revoke_key(operators.key_id)
    plants.delete_plant(ACME, acme)

    entries = list(reversed(_log()))  # oldest first
    assert [(e.action, e.target, e.key_id) for e in entries] == [
        ("plant.created", f"plant/{acme}", "acmeadmin001"),
        ("plant.renamed", f"plant/{acme}", "acmeadmin001"),
        ("plant.patched", f"plant/{acme}", "acmeadmin001"),
        ("plant.resync_requested", f"plant/{acme}", "acmeadmin001"),
        ("key.created", f"key/{key.key_id}", "acmeadmin001"),
        ("key.revoked", f"key/{key.key_id}", "acmeadmin001"),
        ("key.created", f"key/{operators.key_id}", "operator"),
        ("key.revoked", f"key/{operators.key_id}", "operator"),
        ("plant.deleted", f"plant/{acme}", "acmeadmin001"),
    ]
    created, renamed, patched, requested, key_created, key_revoked, *_, deleted = entries
    assert created.changes["name"] == (None, "Solar Park") and created.changes["capacity_kwp"] == (None, 1200)
    assert renamed.changes == {"name": ("Solar Park", "Solar Park North")}
    assert patched.changes == {"capacity_kwp": (1200, 1500), "timezone": (None, "Europe/Berlin")}
    assert requested.details == {
        "from": str(day), "to": str(day), "remove_missing": False, "dry_run": False, "reason": "vendor fix"
    }  # fmt: skip
    assert key_created.changes["scopes"] == (None, ["read"]) and key_created.changes["name"] == (
        None,
        "reporting",
    )
    assert key_revoked.changes["revoked_at"][0] is None
    assert deleted.changes["name"] == ("Solar Park North", None)
    assert all(e.account_id == e.by_account == "acme" for e in entries)
    # never a secret nor its hash
    text = repr(entries)
    assert token.split("_")[2] not in text and apikeys.secret_hash(token.split("_")[2]) not in text
    assert "secret" not in text and _log("globex") == []


def test_a_refused_write_writes_no_entry(acme, monkeypatch) -> None:
    plants.create_plant(ACME, "Rooftop")
    before = len(_log())
    with pytest.raises(NameTaken):  # 409 name_taken
        plants.rename_plant(ACME, acme, "ROOFTOP")
    with pytest.raises(NameTaken):
        plants.create_plant(ACME, "rooftop")
    with pytest.raises(PlantNotFound):  # another account's plant: refused as a missing one
        plants.delete_plant(GLOBEX, acme)
    shared = Principal("globex", "globexadm001", "g", frozenset({"read", "write"}),
                       grants=(Grant("acme", "Acme", plants=frozenset({acme}), write=True),))  # fmt: skip
    with pytest.raises(NotPermitted):  # a shared plant's deletion stays with its owner
        plants.delete_plant(shared, acme)
    accounts.set_plant_limit("acme", 2)
    with pytest.raises(PlantLimitReached):
        plants.create_plant(ACME, "Third")
    with pytest.raises(apikeys.ApiKeyNotFound):  # another account's key
        apikeys.revoke_account_key(GLOBEX, apikeys.create_account_key(ACME, "k", ["read"])[1].key_id)
    monkeypatch.setattr(resync.jobs, "enqueue", lambda jobs: None)
    day = datetime.now(UTC).date() - timedelta(days=3)
    resync.request(ACME, acme, day, day)
    with pytest.raises(ResyncPending):  # one at a time: the second is refused
        resync.request(ACME, acme, day, day)
    key = apikeys.create_account_key(ACME, "twice", ["read"])[1]
    apikeys.revoke_account_key(ACME, key.key_id)
    apikeys.revoke_account_key(ACME, key.key_id)  # revoked already: changes nothing
    assert len(_log()) == before + 4  # two keys created, a re-sync, one revocation: nothing else
    assert _log("globex") == []
    assert plants.get_plant(ACME, acme).name == "Solar Park"


def test_a_write_through_a_grant_is_in_the_owners_log_and_the_writers(acme) -> None:
    shared = Principal("globex", "globexadm001", "g", frozenset({"read", "write"}),
                       grants=(Grant("acme", "Acme", plants=frozenset({acme}), write=True),))  # fmt: skip
    plants.patch_plant(shared, acme, {"capacity_kwp": 7})
    (mine,) = [e for e in _log() if e.action == "plant.patched"]
    (theirs,) = _log("globex")
    assert (mine.account_id, mine.by_account, mine.key_id) == ("acme", "globex", "globexadm001")
    assert (theirs.account_id, theirs.changes) == ("globex", mine.changes)


def test_the_entry_and_the_change_are_one_transaction(acme, monkeypatch) -> None:
    """A failing entry takes the change down with it; a failing change, the entry."""
    real = audit_store.record

    def refused(tx: TransactWrite, entry: audit.AuditEntry) -> None:
        tx.update(
            audit_store._AuditItem(pk="AUDIT#acme#x", sk="x"),
            actions=[audit_store._AuditItem.action.set("x")],
            condition=audit_store._AuditItem.pk.exists(),  # never holds
        )

    before = len(_log())
    monkeypatch.setattr(audit_store, "record", refused)
    with pytest.raises(Exception):  # noqa: B017 - whichever error the cancellation is mapped to
        plants.rename_plant(ACME, acme, "Renamed")
    with pytest.raises(Exception):  # noqa: B017
        apikeys.create_account_key(ACME, "never", ["read"])
    monkeypatch.setattr(audit_store, "record", real)
    assert plants.get_plant(ACME, acme).name == "Solar Park"
    assert [k.name for k in apikeys.list_keys("acme")] == []
    # the change refused by its own condition (the plant changed under the write): no entry
    monkeypatch.setattr(plant_storage, "_TRANSACTION_ATTEMPTS", 2)
    monkeypatch.setattr(
        plant_storage, "_unchanged", lambda item: plant_storage._PlantItem.pk.does_not_exist()
    )
    with pytest.raises(Exception):  # noqa: B017 - StorageBusy
        plants.rename_plant(ACME, acme, "Renamed")
    assert len(_log()) == before


def test_the_log_is_newest_first_paged_and_bounded_by_days(acme) -> None:
    start = datetime(2026, 1, 30, 12, tzinfo=UTC)
    for i in range(7):  # Jan 30 .. Feb 5, one a day, across two month partitions
        _put(audit.entry(ACME, "plant.renamed", "plant/1", {"name": str(i)}, {"name": str(i + 1)},
                         at=start + timedelta(days=i)))  # fmt: skip
    _put(audit.entry(GLOBEX, "plant.renamed", "plant/2", at=start))
    who = principal("acme", ("read", "admin"), key_id="reader000001")
    span = {"start": date(2026, 1, 1), "last": date(2026, 2, 28)}
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = audit.page(who, limit=3, cursor=cursor, **span)
        seen += [e.changes["name"][1] for e in items]
        pages += 1
        if cursor is None:
            break
    assert seen == ["7", "6", "5", "4", "3", "2", "1"] and pages == 3
    firsts = audit.page(who, date(2026, 1, 31), date(2026, 2, 2))[0]
    assert [e.at.date() for e in firsts] == [date(2026, 2, 2), date(2026, 2, 1), date(2026, 1, 31)]
    assert audit.page(who, date(2026, 3, 1), date(2026, 3, 31))[0] == []


def test_the_audit_route_for_admin_keys_of_the_account_only(api, acme) -> None:
    plants.rename_plant(ACME, acme, "Over HTTP")

    def get(path: str, context: dict[str, str]) -> tuple[int, dict]:
        status, _, body = api("GET", f"{BASE}/audit{path}", context=context)
        return status, body

    admin = caller(("read", "admin"), key_id="acmeadmin001", account_id="acme")
    status, page = get("?limit=1", admin)
    assert status == 200 and page["items"][0]["action"] == "plant.renamed" and page["next_cursor"]
    assert page["items"][0]["changes"] == {"name": {"before": "Solar Park", "after": "Over HTTP"}}
    status, rest = get(f"?limit=1&cursor={page['next_cursor']}", admin)
    assert status == 200 and rest["items"][0]["action"] == "plant.created"
    other_key = caller(("read", "admin"), key_id="acmeadmin002", account_id="acme")
    assert get(f"?limit=1&cursor={page['next_cursor']}", other_key)[1]["error"]["code"] == "invalid_cursor"
    status, body = get("", caller(("read", "write"), key_id="acmewrite001", account_id="acme"))
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")
    restricted = caller(("read", "admin"), key_id="acmeadmin003", account_id="acme", plants=frozenset({acme}))
    assert get("", restricted)[0] == 403
    status, body = get("", caller(("read", "admin"), key_id="globexadm001", account_id="globex"))
    assert status == 200 and body["items"] == []
    for bad in (
        "?from=2026-02-30",
        "?to=yesterday",
        "?limit=0",
        "?limit=201",
        "?limit=01",
        "?from=2026-03-02&to=2026-03-01",
    ):
        status, body = get(bad, admin)
        assert status in (400, 422) and body["error"]["code"] in ("validation_error", "invalid_range"), bad


def test_portfolio_and_grant_changes_are_recorded_in_their_transactions(acme, monkeypatch) -> None:
    from powerfactor.plants import portfolios, sharing

    before = len(_log())
    second = plants.create_plant(ACME, "Second").id
    folio = portfolios.create_portfolio(ACME, "South", [acme])
    portfolios.rename_portfolio(ACME, folio.portfolio_id, "South-West")
    portfolios.add_plants(ACME, folio.portfolio_id, [second])
    portfolios.remove_plant(ACME, folio.portfolio_id, second)
    given = sharing.grant(ACME, "globex", "read", portfolio_id=folio.portfolio_id)
    sharing.revoke(ACME, given.grant_id)
    portfolios.delete_portfolio(ACME, folio.portfolio_id)
    entries = list(reversed(_log()))[before:]
    target = f"portfolio/{folio.portfolio_id}"
    assert [(e.action, e.target) for e in entries] == [
        ("plant.created", f"plant/{second}"),
        ("portfolio.created", target),
        ("portfolio.plants_added", target),
        ("portfolio.renamed", target),
        ("portfolio.plants_added", target),
        ("portfolio.plants_removed", target),
        ("grant.created", f"grant/{given.grant_id}"),
        ("grant.revoked", f"grant/{given.grant_id}"),
        ("portfolio.deleted", target),
    ]
    assert entries[2].details == {"plants": [acme]} and entries[5].details == {"plants": [second]}
    assert entries[3].changes == {"name": ("South", "South-West")}
    assert entries[6].changes == {
        "access": (None, "read"), "grantee": (None, "globex"), "portfolio": (None, folio.portfolio_id)
    }  # fmt: skip
    assert all(e.account_id == "acme" and e.key_id == ACME.key_id for e in entries)
    assert _log("globex") == []
    # refused: another account's plant added (no entry), a grant to no account (no entry)
    north = portfolios.create_portfolio(ACME, "North").portfolio_id
    with pytest.raises(PlantNotFound):
        portfolios.add_plants(ACME, north, [10**9])
    with pytest.raises(AccountNotFound):
        sharing.grant(ACME, "nobody", "read", plant_id=acme)
    assert [e.action for e in list(reversed(_log()))[before + len(entries) :]] == ["portfolio.created"]
    # a failing entry takes the change down with it
    monkeypatch.setattr(audit_store, "record", _refusing_record)
    with pytest.raises(Exception):  # noqa: B017 - whichever error the cancellation is mapped to
        portfolios.rename_portfolio(ACME, north, "Never")
    with pytest.raises(Exception):  # noqa: B017
        sharing.grant(ACME, "globex", "read", plant_id=acme)
    assert sharing.given(ACME, 50, None)[0] == []
    assert portfolios.get_portfolio(ACME, north).name == "North"


def _refusing_record(tx: TransactWrite, entry: audit.AuditEntry) -> None:
    tx.update(
        audit_store._AuditItem(pk="AUDIT#acme#x", sk="x"),
        actions=[audit_store._AuditItem.action.set("x")],
        condition=audit_store._AuditItem.pk.exists(),  # never holds
    )
