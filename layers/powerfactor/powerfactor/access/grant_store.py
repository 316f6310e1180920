"""Grants' storage: items in the accounts table, one in each account's partition.

Accounts table (key `pk` + `sk`):
- `ACCOUNT#<owner>` / `GRANT#<grant id>`: a grant the owner gives: the grantee, the target (`plant`
  and its id, or `portfolio` and its id), the access (`read` or `write`), when.
- `ACCOUNT#<grantee>` / `RECEIVED#<grant id>`: the same grant as the grantee holds it, with the
  owner's name (shown on the plants it shares). The authorizer reads these: one Query of the
  sort keys that begin with `RECEIVED#` in the grantee's own partition.
- the grantee's `ACCOUNT` item counts them (`received_grants`), at most MAX_RECEIVED: they travel
  in the authorizer's context, which API Gateway caches with its answer.

Both items, and the count, are written and deleted in one transaction (`insert_grant`,
`delete_grant`, one function each), so an audit entry can join it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.access import audit_store
from powerfactor.access.audit_store import AuditEntry
from powerfactor.aws import transactions
from powerfactor.aws.tables import bind
from powerfactor.runtime.errors import AccountNotFound, GrantNotFound, LimitReached
from powerfactor.runtime.settings import ConfigurationError, Settings

MAX_RECEIVED = 50  # grants an account holds; each is a few dozen bytes of the authorizer's context
_GIVEN, _RECEIVED, _ACCOUNT_SK = "GRANT#", "RECEIVED#", "ACCOUNT"

Target = Literal["plant", "portfolio"]
Access = Literal["read", "write"]


@dataclass(frozen=True)
class GrantRecord:
    grant_id: str
    owner: str
    owner_name: str
    grantee: str
    target: Target
    target_id: str  # a plant id (as text) or a portfolio id
    access: Access
    created_at: datetime


class _GrantItem(Model):
    """Both the given and the received item (their sort keys differ)."""

    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    grant_id = UnicodeAttribute()
    owner = UnicodeAttribute()
    owner_name = UnicodeAttribute()
    grantee = UnicodeAttribute()
    target = UnicodeAttribute()
    target_id = UnicodeAttribute()
    access = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()

    def to_domain(self) -> GrantRecord:
        return GrantRecord(
            self.grant_id, self.owner, self.owner_name, self.grantee,
            self.target, self.target_id, self.access, self.created_at,  # type: ignore[arg-type]
        )  # fmt: skip


class _AccountCount(Model):
    """The grantee's account item, for its count of grants received (account_store owns the rest)."""

    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    received_grants = NumberAttribute(null=True)


def _table(settings: Settings) -> str:
    if not settings.accounts_table:
        raise ConfigurationError("environment variable ACCOUNTS_TABLE is required to use grants")
    return settings.accounts_table


def _bind() -> None:
    bind((_GrantItem, _AccountCount), _table)


def _pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _items(grant: GrantRecord) -> tuple[_GrantItem, _GrantItem]:
    fields: dict[str, Any] = {
        "grant_id": grant.grant_id, "owner": grant.owner, "owner_name": grant.owner_name,
        "grantee": grant.grantee, "target": grant.target, "target_id": grant.target_id,
        "access": grant.access, "created_at": grant.created_at,
    }  # fmt: skip
    given = _GrantItem(pk=_pk(grant.owner), sk=_GIVEN + grant.grant_id, **fields)
    received = _GrantItem(pk=_pk(grant.grantee), sk=_RECEIVED + grant.grant_id, **fields)
    return given, received


def _transact(write: Callable[[TransactWrite], None], items: int) -> list[str | None]:
    return transactions.transact(_GrantItem, write, items, "grants")


def insert_grant(grant: GrantRecord, entry: AuditEntry | None = None) -> None:
    """Store a grant: the owner's item, the grantee's, the grantee's count and the audit entry, in
    one transaction.
    AccountNotFound if the grantee has no account; LimitReached if it holds MAX_RECEIVED grants."""
    _bind()
    given, received = _items(grant)
    count = _AccountCount(pk=_pk(grant.grantee), sk=_ACCOUNT_SK)

    def write(tx: TransactWrite) -> None:
        tx.update(
            count,
            actions=[_AccountCount.received_grants.add(1)],
            condition=_AccountCount.pk.exists()
            & (
                _AccountCount.received_grants.does_not_exist()
                | (_AccountCount.received_grants < MAX_RECEIVED)
            ),
        )
        tx.save(given, condition=_GrantItem.pk.does_not_exist())
        tx.save(received, condition=_GrantItem.pk.does_not_exist())
        if entry is not None:
            audit_store.record(tx, entry)  # an update added last: the count stays at index 2

    reasons = _transact(write, 4)  # pynamodb sends the puts first, then the updates
    if not reasons:
        return
    if reasons[2] == "ConditionalCheckFailed":
        try:
            _AccountCount.get(count.pk, count.sk, consistent_read=True)
        except _AccountCount.DoesNotExist:
            raise AccountNotFound(grant.grantee) from None
        raise LimitReached(f"account {grant.grantee!r} holds {MAX_RECEIVED} grants already")
    raise RuntimeError(f"grant id {grant.grant_id} taken")  # pragma: no cover - ids are fresh


def get_given(owner: str, grant_id: str) -> GrantRecord | None:
    _bind()
    try:
        return _GrantItem.get(_pk(owner), _GIVEN + grant_id, consistent_read=True).to_domain()
    except _GrantItem.DoesNotExist:
        return None


def delete_grant(found: GrantRecord, entry: AuditEntry | None = None) -> GrantRecord:
    """Revoke a grant the owner gave, as read by `get_given`: both items, the grantee's count and
    the audit entry, in one transaction. GrantNotFound if it was revoked meanwhile."""
    _bind()
    grant_id = found.grant_id
    given, received = _items(found)
    count = _AccountCount(pk=_pk(found.grantee), sk=_ACCOUNT_SK)

    def write(tx: TransactWrite) -> None:
        tx.delete(given, condition=_GrantItem.pk.exists())
        tx.delete(received)
        tx.update(count, actions=[_AccountCount.received_grants.add(-1)], condition=_AccountCount.pk.exists())
        if entry is not None:
            audit_store.record(tx, entry)

    reasons = _transact(write, 4)
    if reasons and reasons[0] == "ConditionalCheckFailed":
        raise GrantNotFound(grant_id)  # revoked meanwhile
    if reasons:  # the grantee's account is gone: the items go all the same

        def without_count(tx: TransactWrite) -> None:
            tx.delete(given)
            tx.delete(received)
            if entry is not None:
                audit_store.record(tx, entry)

        _transact(without_count, 3)
    return found


def _page(account_id: str, prefix: str, limit: int, after: str | None) -> tuple[list[GrantRecord], bool]:
    _bind()
    condition = (
        _GrantItem.sk.between(prefix + after + "!", prefix + "~")  # ids: [0-9a-z]
        if after is not None
        else _GrantItem.sk.startswith(prefix)
    )
    found = list(_GrantItem.query(_pk(account_id), condition, limit=limit + 1, consistent_read=True))
    return [item.to_domain() for item in found[:limit]], len(found) > limit


def given(owner: str, limit: int, after: str | None) -> tuple[list[GrantRecord], bool]:
    """A page of the grants the account gives, in id order after `after`, and whether more follow."""
    return _page(owner, _GIVEN, limit, after)


def received(
    grantee: str, limit: int = MAX_RECEIVED, after: str | None = None
) -> tuple[list[GrantRecord], bool]:
    """A page of the grants the account holds, in id order after `after`, and whether more follow."""
    return _page(grantee, _RECEIVED, limit, after)
