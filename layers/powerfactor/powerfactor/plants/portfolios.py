"""Portfolios: named groups of an account's plants (a plant may be in several; names need not be
unique). Storage and its layout: plants/portfolio_store.py.

Reading them takes the `read` scope: any key of the account lists them (a key restricted to
portfolios, only its own), so that a dashboard can offer them as filters. Changing them takes the
`admin` scope and a key not restricted to some plants or portfolios (a restricted key could
otherwise widen itself by adding plants to its portfolio). Another account's portfolio is
answered as one that does not exist (PortfolioNotFound), and so is another account's plant added
to one (PlantNotFound). `GET /?portfolio=<id>` (plants.logic.list_plants) lists one's plants.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from powerfactor.access import audit
from powerfactor.access.audit_store import AuditEntry
from powerfactor.access.principal import Principal
from powerfactor.plants import portfolio_store as storage
from powerfactor.plants.portfolio_store import Portfolio
from powerfactor.plants.schemas import PortfolioOut
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, NotPermitted, PortfolioNotFound

__all__ = ["Portfolio"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_ID_ALPHABET = string.digits + string.ascii_lowercase
_ID_LENGTH = 12


def _now() -> datetime:
    return datetime.now(UTC)


def new_portfolio_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def is_portfolio_id(text: str) -> bool:
    return len(text) == _ID_LENGTH and all(c in _ID_ALPHABET for c in text)


def view(portfolio: Portfolio) -> PortfolioOut:
    return PortfolioOut(
        id=portfolio.portfolio_id,
        name=portfolio.name,
        created_at=portfolio.created_at,
        updated_at=portfolio.updated_at,
    )


def _manager(principal: Principal) -> None:
    principal.require_scope("admin")
    if principal.restricted:
        raise NotPermitted("a key restricted to some plants or portfolios cannot change portfolios")


def _visible(principal: Principal, portfolio_id: str) -> bool:
    return principal.portfolios is None or portfolio_id in principal.portfolios


def list_portfolios(
    principal: Principal, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[Portfolio], str | None]:
    """A page of the account's portfolios in id order (a key restricted to portfolios: its own),
    and the cursor of the next (None: last)."""
    principal.require_scope("read")
    after = cursors.decode(cursor, "portfolios", "", principal.scope_key) if cursor else None
    if after is not None and not is_portfolio_id(after):
        raise InvalidCursor()
    if principal.restricted:
        wanted = sorted(p for p in principal.portfolios or () if after is None or p > after)
        found = [f for f in (storage.get_portfolio(principal.account_id, p) for p in wanted) if f is not None]
        items, more = found[:limit], len(found) > limit
    else:
        items, more = storage.list_portfolios(principal.account_id, limit, after)
    last = items[-1].portfolio_id if more and items else None
    return items, cursors.encode("portfolios", last, "", principal.scope_key) if last else None


def get_portfolio(principal: Principal, portfolio_id: str) -> Portfolio:
    """One of the account's portfolios (PortfolioNotFound for another's or none)."""
    principal.require_scope("read")
    found = (
        storage.get_portfolio(principal.account_id, portfolio_id) if is_portfolio_id(portfolio_id) else None
    )
    if found is None or not _visible(principal, portfolio_id):
        raise PortfolioNotFound(portfolio_id)
    return found


def _target(portfolio_id: str) -> str:
    return f"portfolio/{portfolio_id}"


def _members(principal: Principal, target: str, added: list[int], removed: list[int]) -> AuditEntry:
    """The audit entry of plants added to a portfolio or taken out (written only if the change
    is: a plant taken out that was not in it is still named, as asked)."""
    action = "portfolio.plants_added" if added else "portfolio.plants_removed"
    return audit.entry(principal, action, target, details={"plants": added or removed})


def create_portfolio(principal: Principal, name: str, plants: list[int] | None = None) -> Portfolio:
    """A new portfolio of the caller's account, with these plants of it (PlantNotFound for one
    that is not the account's: then no portfolio is made)."""
    _manager(principal)
    now = _now()
    portfolio = Portfolio(new_portfolio_id(), principal.account_id, name.strip(), now, now)
    target = _target(portfolio.portfolio_id)
    storage.create(
        portfolio, audit.entry(principal, "portfolio.created", target, None, {"name": portfolio.name})
    )
    if plants:
        added = sorted(set(plants))
        try:
            storage.change_members(
                principal.account_id,
                portfolio.portfolio_id,
                added,
                [],
                now,
                _members(principal, target, added, []),
            )
        except Exception:
            gone = audit.entry(principal, "portfolio.deleted", target, {"name": portfolio.name}, None)
            storage.remove(principal.account_id, portfolio.portfolio_id, now, gone)
            raise
    return portfolio


def rename_portfolio(principal: Principal, portfolio_id: str, name: str) -> Portfolio:
    _manager(principal)
    if not is_portfolio_id(portfolio_id):
        raise PortfolioNotFound(portfolio_id)
    before = get_portfolio(principal, portfolio_id)
    entry = audit.entry(
        principal, "portfolio.renamed", _target(portfolio_id), {"name": before.name}, {"name": name.strip()}
    )
    return storage.rename(principal.account_id, portfolio_id, name.strip(), _now(), entry)


def delete_portfolio(principal: Principal, portfolio_id: str) -> None:
    """Delete a portfolio (its plants stay; keys restricted to it reach none of them any more)."""
    _manager(principal)
    if not is_portfolio_id(portfolio_id):
        raise PortfolioNotFound(portfolio_id)
    before = get_portfolio(principal, portfolio_id)
    entry = audit.entry(principal, "portfolio.deleted", _target(portfolio_id), {"name": before.name}, None)
    storage.remove(principal.account_id, portfolio_id, _now(), entry)


def add_plants(principal: Principal, portfolio_id: str, plant_ids: list[int]) -> Portfolio:
    """Add plants of the account to one of its portfolios (at most 40 at once)."""
    _manager(principal)
    if not is_portfolio_id(portfolio_id):
        raise PortfolioNotFound(portfolio_id)
    added = sorted(set(plant_ids))
    entry = _members(principal, _target(portfolio_id), added, [])
    storage.change_members(principal.account_id, portfolio_id, added, [], _now(), entry)
    return get_portfolio(principal, portfolio_id)


def remove_plant(principal: Principal, portfolio_id: str, plant_id: int) -> None:
    """Take a plant out of a portfolio (a plant that is not in it: nothing changes)."""
    _manager(principal)
    if not is_portfolio_id(portfolio_id):
        raise PortfolioNotFound(portfolio_id)
    entry = _members(principal, _target(portfolio_id), [], [plant_id])
    storage.change_members(principal.account_id, portfolio_id, [], [plant_id], _now(), entry)


def portfolios_exist(principal: Principal, portfolio_ids: list[str]) -> frozenset[str]:
    """These ids, each checked to be a portfolio of the caller's account it sees
    (PortfolioNotFound for the first that is not): what a key it creates may be restricted to."""
    return frozenset(get_portfolio(principal, p).portfolio_id for p in sorted(set(portfolio_ids)))
