"""Portfolios (moto): members kept in step with each plant's set, listed a page at a time, keys
restricted to portfolios, and another account's portfolio or plant answered as a missing one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from powerfactor.access import accounts
from powerfactor.plants import logic as plants
from powerfactor.plants import portfolio_store, portfolios
from powerfactor.runtime.errors import (
    InsufficientScope,
    InvalidCursor,
    LimitReached,
    NotPermitted,
    PlantNotFound,
    PortfolioNotFound,
)
from tests.support import principal

ACME = principal("acme", ("read", "write", "admin"), key_id="acmekey00001")
ACME_WRITER = principal("acme", ("read", "write"), key_id="acmekey00002")
GLOBEX = principal("globex", ("read", "write", "admin"), key_id="globexkey001")


@pytest.fixture
def acme(aws) -> list[int]:
    accounts.create_account("Acme", "acme")
    accounts.create_account("Globex", "globex")
    return [plants.create_plant(ACME, f"Park {n}").id for n in range(5)]


def test_a_portfolio_lists_its_plants_in_id_order_a_page_at_a_time(acme) -> None:
    folio = portfolios.create_portfolio(ACME, " Bavaria ", acme[1:4])
    assert folio.name == "Bavaria"
    seen, cursor = [], None
    while True:
        page = plants.list_plants(ACME, 2, cursor, portfolio=folio.portfolio_id)
        seen += [p.id for p in page.items]
        if page.next_cursor is None:
            break
        with pytest.raises(InvalidCursor):  # bound to the portfolio
            plants.list_plants(ACME, 2, page.next_cursor)
        cursor = page.next_cursor
    assert seen == acme[1:4]
    found = plants.search_plants(ACME, "park 2", portfolio=folio.portfolio_id)
    assert [p.id for p in found.items] == [acme[2]]
    assert plants.get_plant(ACME, acme[1]).ref().portfolios == {folio.portfolio_id}


def test_members_and_the_plants_sets_move_together(acme) -> None:
    folio = portfolios.create_portfolio(ACME, "North")
    portfolios.add_plants(ACME, folio.portfolio_id, [acme[0], acme[0], acme[2]])
    assert portfolio_store.members("acme", folio.portfolio_id, 10, None) == ([acme[0], acme[2]], False)
    assert portfolio_store.members("acme", folio.portfolio_id, 1, acme[0]) == ([acme[2]], False)
    portfolios.remove_plant(ACME, folio.portfolio_id, acme[0])
    assert plants.get_plant(ACME, acme[0]).ref().portfolios == frozenset()
    assert portfolio_store.members("acme", folio.portfolio_id, 10, None) == ([acme[2]], False)
    plants.delete_plant(ACME, acme[2])  # its member item goes in the plant's transaction
    assert portfolio_store.members("acme", folio.portfolio_id, 10, None) == ([], False)
    portfolios.add_plants(ACME, folio.portfolio_id, [acme[3]])
    portfolios.delete_portfolio(ACME, folio.portfolio_id)
    assert plants.get_plant(ACME, acme[3]).ref().portfolios == frozenset()
    with pytest.raises(PortfolioNotFound):
        portfolios.get_portfolio(ACME, folio.portfolio_id)
    with pytest.raises(PortfolioNotFound):
        plants.list_plants(ACME, portfolio=folio.portfolio_id)


def test_another_accounts_portfolio_or_plant_is_answered_as_a_missing_one(acme) -> None:
    theirs = portfolios.create_portfolio(GLOBEX, "Theirs")
    globex_plant = plants.create_plant(GLOBEX, "Globex park").id
    mine = portfolios.create_portfolio(ACME, "Mine")
    for call in (
        lambda: portfolios.get_portfolio(ACME, theirs.portfolio_id),
        lambda: portfolios.add_plants(ACME, theirs.portfolio_id, [acme[0]]),
        lambda: portfolios.rename_portfolio(ACME, theirs.portfolio_id, "x"),
        lambda: portfolios.delete_portfolio(ACME, theirs.portfolio_id),
        lambda: plants.list_plants(ACME, portfolio=theirs.portfolio_id),
        lambda: portfolios.get_portfolio(ACME, "not-an-id"),
    ):
        with pytest.raises(PortfolioNotFound):
            call()
    with pytest.raises(PlantNotFound):
        portfolios.add_plants(ACME, mine.portfolio_id, [acme[0], globex_plant])
    assert portfolio_store.members("acme", mine.portfolio_id, 10, None) == ([], False)  # none of them
    with pytest.raises(PlantNotFound):
        portfolios.add_plants(ACME, mine.portfolio_id, [10**9])
    assert [p.portfolio_id for p in portfolios.list_portfolios(GLOBEX)[0]] == [theirs.portfolio_id]


def test_only_an_unrestricted_admin_key_changes_portfolios(acme) -> None:
    folio = portfolios.create_portfolio(ACME, "Mine", [acme[0]])
    with pytest.raises(InsufficientScope):
        portfolios.add_plants(ACME_WRITER, folio.portfolio_id, [acme[1]])
    restricted = dataclasses.replace(ACME, portfolios=frozenset({folio.portfolio_id}))
    with pytest.raises(NotPermitted):
        portfolios.add_plants(restricted, folio.portfolio_id, [acme[1]])
    assert portfolios.get_portfolio(ACME_WRITER, folio.portfolio_id).name == "Mine"  # read scope reads


def test_a_key_restricted_to_a_portfolio_reaches_its_plants_as_they_are_now(acme) -> None:
    folio = portfolios.create_portfolio(ACME, "Mine", [acme[0]])
    other = portfolios.create_portfolio(ACME, "Other", [acme[4]])
    key = dataclasses.replace(ACME_WRITER, portfolios=frozenset({folio.portfolio_id}))
    assert [p.id for p in plants.list_plants(key).items] == [acme[0]]
    with pytest.raises(PlantNotFound):
        plants.get_plant(key, acme[1])
    portfolios.add_plants(ACME, folio.portfolio_id, [acme[1]])
    assert plants.get_plant(key, acme[1]).id == acme[1]  # at once: judged on the plant read
    assert [p.id for p in plants.list_plants(key).items] == acme[:2]
    assert [p.portfolio_id for p in portfolios.list_portfolios(key)[0]] == [folio.portfolio_id]
    with pytest.raises(PortfolioNotFound):
        portfolios.get_portfolio(key, other.portfolio_id)
    with pytest.raises(NotPermitted):
        plants.create_plant(key, "New")


def test_a_plant_is_in_at_most_so_many_portfolios(acme, monkeypatch) -> None:
    monkeypatch.setattr(portfolio_store, "MAX_PORTFOLIOS_PER_PLANT", 2)
    for n in range(2):
        portfolios.create_portfolio(ACME, f"F{n}", [acme[0]])
    with pytest.raises(LimitReached):
        portfolios.create_portfolio(ACME, "F2", [acme[0]])
    assert len(portfolios.list_portfolios(ACME)[0]) == 2  # the refused one is not left behind
    with pytest.raises(LimitReached):
        portfolio_store.change_members("acme", "x" * 12, list(range(1, 42)), [], datetime.now(UTC))


def test_portfolios_list_a_page_at_a_time(acme) -> None:
    made = sorted(portfolios.create_portfolio(ACME, f"F{n}").portfolio_id for n in range(3))
    first, cursor = portfolios.list_portfolios(ACME, 2)
    assert [p.portfolio_id for p in first] == made[:2] and cursor is not None
    rest, last = portfolios.list_portfolios(ACME, 2, cursor)
    assert [p.portfolio_id for p in rest] == made[2:] and last is None
    with pytest.raises(InvalidCursor):
        portfolios.list_portfolios(ACME_WRITER, 2, cursor)
