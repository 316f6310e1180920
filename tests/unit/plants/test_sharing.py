"""Sharing (moto): grants given and received, what they reach through the authorizer's context,
marked as shared, read or write, never deletion nor sharing on; revoked, gone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from powerfactor.access import accounts, grant_store
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import Principal, from_context
from powerfactor.alerts import logic as alerts
from powerfactor.plants import logic as plants
from powerfactor.plants import portfolios, sharing
from powerfactor.runtime.errors import (
    AccountNotFound,
    GrantNotFound,
    InsufficientScope,
    LimitReached,
    NotPermitted,
    PlantNotFound,
    PowerFactorError,
)
from powerfactor.sync import resync
from tests.support import principal

GLOBEX = principal("globex", ("read", "write", "admin"), key_id="globexkey001")
ACME = principal("acme", ("read", "write", "admin"), key_id="acmekey00001")


def _as_authorized(who: Principal) -> Principal:
    """The principal the API functions rebuild from what the authorizer would answer now."""
    key = apikeys.ApiKey(
        who.key_id,
        "k",
        who.scopes,
        "0" * 64,
        datetime.now(UTC),
        account_id=who.account_id,
    )
    return dataclasses.replace(
        from_context(apikeys.authorizer_context(key)), plants=who.plants, portfolios=who.portfolios
    )


@pytest.fixture
def world(aws) -> dict[str, int]:
    accounts.create_account("Globex Energy", "globex")
    accounts.create_account("Acme", "acme")
    return {
        "lent": plants.create_plant(GLOBEX, "Lent").id,
        "folio": plants.create_plant(GLOBEX, "In a portfolio").id,
        "kept": plants.create_plant(GLOBEX, "Kept").id,
        "own": plants.create_plant(ACME, "Own").id,
    }


def test_a_read_grant_shows_the_plant_marked_and_refuses_changes(world) -> None:
    sharing.grant(GLOBEX, "acme", "read", plant_id=world["lent"])
    acme = _as_authorized(ACME)
    plant = plants.get_plant(acme, world["lent"])
    assert plant.shared is not None and plant.shared.model_dump() == {
        "owner": "Globex Energy",
        "access": "read",
    }
    assert plants.get_plant(acme, world["own"]).shared is None
    assert [p.id for p in plants.list_plants(acme).items] == sorted([world["lent"], world["own"]])
    assert [p.id for p in plants.search_plants(acme, "len").items] == [world["lent"]]
    with pytest.raises(PlantNotFound):
        plants.get_plant(acme, world["kept"])
    with pytest.raises(NotPermitted):
        plants.rename_plant(acme, world["lent"], "Mine now")
    with pytest.raises(NotPermitted):
        resync.request(acme, world["lent"], *_days())
    assert alerts.plant_alerts(acme, world["lent"]).items == []


def test_a_write_grant_of_a_portfolio_edits_and_resyncs_but_never_deletes(world) -> None:
    folio = portfolios.create_portfolio(GLOBEX, "Shared", [world["folio"]])
    sharing.grant(GLOBEX, "acme", "write", portfolio_id=folio.portfolio_id)
    acme = _as_authorized(ACME)
    renamed = plants.rename_plant(acme, world["folio"], "Renamed by acme")
    assert renamed.shared is not None and renamed.shared.access == "write"
    resync.request(acme, world["folio"], *_days())
    with pytest.raises(NotPermitted):
        plants.delete_plant(acme, world["folio"])
    with pytest.raises(PlantNotFound):  # not its own: it never shares on
        sharing.grant(acme, "globex", "read", plant_id=world["folio"])
    # a plant added to the portfolio later is reached from the next request on
    portfolios.add_plants(GLOBEX, folio.portfolio_id, [world["kept"]])
    assert plants.get_plant(acme, world["kept"]).shared is not None
    listed = [p.id for p in plants.list_plants(acme, limit=1).items]
    assert listed == [min(world["folio"], world["own"], world["kept"])]


def test_grants_are_listed_by_both_sides_and_revoked_by_the_owner_only(world) -> None:
    made = sharing.grant(GLOBEX, "acme", "read", plant_id=world["lent"])
    assert [g.grant_id for g in sharing.given(GLOBEX)[0]] == [made.grant_id]
    assert [g.grant_id for g in sharing.received(ACME)[0]] == [made.grant_id]
    assert sharing.given(ACME)[0] == []
    with pytest.raises(GrantNotFound):
        sharing.revoke(ACME, made.grant_id)
    sharing.revoke(GLOBEX, made.grant_id)
    with pytest.raises(GrantNotFound):
        sharing.revoke(GLOBEX, made.grant_id)
    assert sharing.received(ACME)[0] == []
    with pytest.raises(PlantNotFound):
        plants.get_plant(_as_authorized(ACME), world["lent"])


def test_what_a_grant_is_refused_for(world, monkeypatch) -> None:
    with pytest.raises(AccountNotFound):
        sharing.grant(GLOBEX, "nobody", "read", plant_id=world["lent"])
    with pytest.raises(PowerFactorError):
        sharing.grant(GLOBEX, "globex", "read", plant_id=world["lent"])
    with pytest.raises(PlantNotFound):
        sharing.grant(GLOBEX, "acme", "read", plant_id=world["own"])
    with pytest.raises(InsufficientScope):
        sharing.grant(principal("globex", ("read", "write")), "acme", "read", plant_id=world["lent"])
    with pytest.raises(NotPermitted):
        sharing.grant(
            dataclasses.replace(GLOBEX, plants=frozenset({world["lent"]})), "acme", "read", world["lent"]
        )
    monkeypatch.setattr(grant_store, "MAX_RECEIVED", 1)
    sharing.grant(GLOBEX, "acme", "read", plant_id=world["lent"])
    with pytest.raises(LimitReached):
        sharing.grant(GLOBEX, "acme", "read", plant_id=world["kept"])


def test_the_context_carries_the_grants_grouped_by_owner_and_access(world) -> None:
    folio = portfolios.create_portfolio(GLOBEX, "Shared", [world["folio"]])
    sharing.grant(GLOBEX, "acme", "read", plant_id=world["lent"])
    sharing.grant(GLOBEX, "acme", "read", plant_id=world["kept"])
    sharing.grant(GLOBEX, "acme", "write", portfolio_id=folio.portfolio_id)
    grants = _as_authorized(ACME).grants
    assert {(g.owner, g.owner_name, g.write, g.plants, g.portfolios) for g in grants} == {
        ("globex", "Globex Energy", False, frozenset({world["lent"], world["kept"]}), frozenset()),
        ("globex", "Globex Energy", True, frozenset(), frozenset({folio.portfolio_id})),
    }


def _days() -> tuple[date, date]:
    day = datetime.now(UTC).date() - timedelta(days=3)
    return day, day
