"""Sharing: an account grants another account `read` or `write` (read, edit, re-sync) on one of
its plants or portfolios, lists the grants it gives and holds, and revokes those it gives.
Storage and its layout: access/grant_store.py.

Managing grants takes the `admin` scope and a key not restricted to some plants or portfolios.
Only the owner of a plant grants it (a grantee never shares on what it was shared: the plant must
be the caller's own, or it is PlantNotFound; a portfolio must be one of the caller's account).

The grantee's keys get the grants through the authorizer (access.keys.received_grants, in its
context): a new or revoked grant applies to a key once API Gateway's cached answer for it
expires (AuthorizerCacheTtl), or at once when `python -m manage grants` flushes the cache.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Literal

from powerfactor.access import accounts, audit
from powerfactor.access import grant_store as storage
from powerfactor.access.audit_store import AuditEntry
from powerfactor.access.grant_store import GrantRecord
from powerfactor.access.principal import ACCOUNT_ID, Principal, Reach
from powerfactor.plants import logic as plant_logic
from powerfactor.plants import portfolios
from powerfactor.plants.schemas import GrantOut
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import (
    AccountNotFound,
    GrantNotFound,
    InvalidCursor,
    NotPermitted,
    PlantNotFound,
    PowerFactorError,
)

__all__ = ["GrantRecord"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_ID_ALPHABET = string.digits + string.ascii_lowercase


def _manager(principal: Principal) -> None:
    principal.require_scope("admin")
    if principal.restricted:
        raise NotPermitted("a key restricted to some plants or portfolios cannot manage grants")


def _is_grant_id(text: str) -> bool:
    return len(text) == 12 and all(c in _ID_ALPHABET for c in text)


def view(grant: GrantRecord) -> GrantOut:
    return GrantOut(
        id=grant.grant_id,
        owner=grant.owner,
        owner_name=grant.owner_name,
        grantee=grant.grantee,
        plant=int(grant.target_id) if grant.target == "plant" else None,
        portfolio=grant.target_id if grant.target == "portfolio" else None,
        access=grant.access,
        created_at=grant.created_at,
    )


def _owner_name(account_id: str) -> str:
    try:
        return accounts.get_account(account_id).name
    except AccountNotFound:  # the default account before the migration wrote it
        return account_id


def _entry(principal: Principal, grant: GrantRecord, given: bool) -> AuditEntry:
    """The audit entry of a grant given (or revoked), in the owner's log."""
    fields = {"grantee": grant.grantee, grant.target: grant.target_id, "access": grant.access}
    action, before, after = ("grant.created", None, fields) if given else ("grant.revoked", fields, None)
    return audit.entry(principal, action, f"grant/{grant.grant_id}", before, after)


def grant(
    principal: Principal,
    grantee: str,
    access: Literal["read", "write"],
    plant_id: int | None = None,
    portfolio_id: str | None = None,
) -> GrantRecord:
    """Share a plant or a portfolio of the caller's account with the account `grantee`.
    PlantNotFound / PortfolioNotFound for a target that is not the caller's own; AccountNotFound
    for no such grantee; LimitReached when it holds access.grant_store.MAX_RECEIVED grants."""
    _manager(principal)
    if (plant_id is None) == (portfolio_id is None):
        raise PowerFactorError("a grant is of one plant or one portfolio")
    if plant_id is not None:
        plant = plant_logic.get_plant(principal, plant_id)
        if principal.reach(plant.ref()) is not Reach.OWN:
            raise PlantNotFound(plant_id)  # shared with the caller: not its to share on
        target, target_id = "plant", str(plant_id)
    else:
        target, target_id = "portfolio", portfolios.get_portfolio(principal, str(portfolio_id)).portfolio_id
    if not ACCOUNT_ID.fullmatch(grantee):
        raise AccountNotFound(grantee)
    if grantee == principal.account_id:
        raise PowerFactorError("an account's keys reach its own plants already: grant another account")
    record = GrantRecord(
        grant_id="".join(secrets.choice(_ID_ALPHABET) for _ in range(12)),
        owner=principal.account_id,
        owner_name=_owner_name(principal.account_id),
        grantee=grantee,
        target=target,  # type: ignore[arg-type]
        target_id=target_id,
        access=access,
        created_at=datetime.now(UTC),
    )
    storage.insert_grant(record, _entry(principal, record, given=True))
    return record


def _page(
    principal: Principal, kind: str, limit: int, cursor: str | None
) -> tuple[list[GrantRecord], str | None]:
    _manager(principal)
    after = cursors.decode(cursor, kind, "", principal.scope_key) if cursor else None
    if after is not None and not _is_grant_id(after):
        raise InvalidCursor()
    read = storage.given if kind == "grants-given" else storage.received
    items, more = read(principal.account_id, limit, after)
    last = items[-1].grant_id if more and items else None
    return items, cursors.encode(kind, last, "", principal.scope_key) if last else None


def given(
    principal: Principal, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[GrantRecord], str | None]:
    """A page of the grants the caller's account gives, in id order, and the next page's cursor."""
    return _page(principal, "grants-given", limit, cursor)


def received(
    principal: Principal, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[GrantRecord], str | None]:
    """A page of the grants the caller's account holds, in id order, and the next page's cursor."""
    return _page(principal, "grants-received", limit, cursor)


def revoke(principal: Principal, grant_id: str) -> GrantRecord:
    """Revoke a grant the caller's account gave (GrantNotFound for any other, as for none)."""
    _manager(principal)
    if not _is_grant_id(grant_id):
        raise GrantNotFound(grant_id)
    found = storage.get_given(principal.account_id, grant_id)
    if found is None:
        raise GrantNotFound(grant_id)
    return storage.delete_grant(found, _entry(principal, found, given=False))
