"""The API keys table: one item per key (`key_id`), the secret kept only as its hash.

Each key belongs to an account (`account_id`; a key written before accounts existed has none and
is the default account's until `python -m manage migrate` writes it) and may be restricted to
some of its plants (`plants`, a number set) or portfolios (`portfolios`, a string
set). The GSI `by_account` (account id, key id) lists an
account's keys: one partition per account, never a scan of every key.

Its pynamodb model is private; the functions take and return `ApiKey` records. A key's creation
and revocation are transactions with their audit entry (powerfactor.access.audit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import (
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.access import audit, audit_store
from powerfactor.access.audit_store import AuditEntry
from powerfactor.access.principal import DEFAULT_ACCOUNT, Principal, operator
from powerfactor.aws import internals
from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.runtime.errors import ApiKeyNotFound
from powerfactor.runtime.settings import DEFAULT_TIER, ConfigurationError, Settings


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key but its secret: `secret_hash` is the SHA-256 of the secret, hex."""

    key_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    account_id: str = DEFAULT_ACCOUNT
    plants: frozenset[int] | None = None  # None: every plant of the account
    portfolios: frozenset[str] | None = None  # None: no restriction to portfolios
    tier: str = DEFAULT_TIER  # its usage tier (runtime/settings.py TIERS)


class _ByAccount(GlobalSecondaryIndex["_KeyItem"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute(range_key=True)


class _KeyItem(Model):
    class Meta:
        table_name = "unbound"

    key_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(null=True)  # absent: written before accounts, the default account's
    plants = NumberSetAttribute(null=True)
    portfolios = UnicodeSetAttribute(null=True)
    by_account = _ByAccount()
    name = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    secret_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    tier = UnicodeAttribute(null=True)  # absent: written before tiers, the default tier

    def to_domain(self) -> ApiKey:
        fields = {name: getattr(self, name) for name in _FIELDS}
        return ApiKey(
            **{
                **fields,
                "scopes": frozenset(self.scopes),
                "account_id": self.account_id or DEFAULT_ACCOUNT,
                "plants": frozenset(int(p) for p in self.plants) if self.plants is not None else None,
                "portfolios": frozenset(self.portfolios) if self.portfolios is not None else None,
                "tier": self.tier or DEFAULT_TIER,
            }
        )


_FIELDS = tuple(field.name for field in dataclasses.fields(ApiKey))  # the item's attributes too


def _item(key: ApiKey) -> _KeyItem:
    fields = {name: getattr(key, name) for name in _FIELDS}
    return _KeyItem(
        **{
            **fields,
            "scopes": set(key.scopes),
            "plants": set(key.plants) if key.plants is not None else None,
            "portfolios": set(key.portfolios) if key.portfolios is not None else None,
        }
    )


def _table(settings: Settings) -> str:
    if not settings.api_keys_table:
        raise ConfigurationError("environment variable API_KEYS_TABLE is required to use API keys")
    return settings.api_keys_table


def _bind() -> None:
    bind((_KeyItem,), _table)


def get_key(key_id: str) -> ApiKey | None:
    """The key with this id (a strongly consistent read: a revocation is seen at once), or None."""
    _bind()
    try:
        return _KeyItem.get(key_id, consistent_read=True).to_domain()
    except _KeyItem.DoesNotExist:
        return None


def _cancelled_by_condition(error: TransactWriteError) -> bool:
    """Whether the transaction's first item (the key) failed its condition."""
    reasons = error.cancellation_reasons or []
    return bool(reasons) and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed"


def insert_key(key: ApiKey, entry: AuditEntry) -> bool:
    """Store a new key with its audit entry, in one transaction; False if a key with its id
    exists already (left as it is, no entry written)."""
    _bind()
    item = _item(key)
    try:
        with TransactWrite(connection=internals.low_level_connection(_KeyItem)) as tx:
            tx.save(item, condition=_KeyItem.key_id.does_not_exist())
            audit_store.record(tx, entry)
    except TransactWriteError as error:
        if _cancelled_by_condition(error):
            return False
        raise
    return True


def list_keys() -> list[ApiKey]:
    """Every key of every account, oldest first (a scan, for operators: `python -m manage keys list`)."""
    _bind()
    return sorted((item.to_domain() for item in _KeyItem.scan()), key=lambda k: (k.created_at, k.key_id))


def account_keys(account_id: str, limit: int, after: str | None) -> tuple[list[ApiKey], bool]:
    """Up to `limit` of one account's keys, in id order after the key id `after`, and whether
    more follow: its partition of the `by_account` index."""
    _bind()
    condition = _KeyItem.key_id > after if after is not None else None
    items = list(_KeyItem.by_account.query(account_id, range_key_condition=condition, limit=limit + 1))
    return [item.to_domain() for item in items[:limit]], len(items) > limit


def revoke_key(
    key_id: str, now: datetime, account_id: str | None = None, *, by: Principal | None = None
) -> ApiKey:
    """Mark a key revoked (kept, for the record), with its audit entry in the same transaction
    (by `by`; None: an operator); revoking twice keeps the first time and writes no entry.

    With `account_id`, only a key of that account (ApiKeyNotFound for another's, as for none).
    """
    _bind()
    current = get_key(key_id)
    if current is None or (account_id is not None and current.account_id != account_id):
        raise ApiKeyNotFound(key_id)
    if current.revoked_at is not None:
        return current
    condition = _KeyItem.key_id.exists() & _KeyItem.revoked_at.does_not_exist()
    if current.account_id == DEFAULT_ACCOUNT:
        condition &= _KeyItem.account_id.does_not_exist() | (_KeyItem.account_id == DEFAULT_ACCOUNT)
    else:
        condition &= _KeyItem.account_id == current.account_id
    entry = audit.entry(
        by or operator(current.account_id),
        "key.revoked",
        f"key/{key_id}",
        {"revoked_at": None},
        {"revoked_at": now},
        account_id=current.account_id,
    )
    try:
        with TransactWrite(connection=internals.low_level_connection(_KeyItem)) as tx:
            tx.update(_KeyItem(key_id=key_id), actions=[_KeyItem.revoked_at.set(now)], condition=condition)
            audit_store.record(tx, entry)
    except TransactWriteError as error:
        if not _cancelled_by_condition(error):
            raise
        again = get_key(key_id)  # revoked (or deleted) in between
        if again is None or again.revoked_at is None or again.account_id != current.account_id:
            raise ApiKeyNotFound(key_id) from None
        return again
    return dataclasses.replace(current, revoked_at=now)


def keys_without_account() -> list[str]:
    """Ids of the keys written before accounts existed (no `account_id`): a scan, for the migration."""
    _bind()
    return [
        item.key_id
        for item in _KeyItem.scan(
            filter_condition=_KeyItem.account_id.does_not_exist(), attributes_to_get=["key_id"]
        )
    ]


def adopt_key(key_id: str, account_id: str) -> bool:
    """Give a key written before accounts existed to `account_id`; False if it has an account
    already (or is gone): the migration's step for one key, safe to repeat."""
    _bind()
    item = _KeyItem(key_id=key_id)
    try:
        item.update(
            actions=[_KeyItem.account_id.set(account_id)],
            condition=_KeyItem.key_id.exists() & _KeyItem.account_id.does_not_exist(),
        )
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True
