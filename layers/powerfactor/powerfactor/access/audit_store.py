"""The audit log's items, in the accounts table. Its pynamodb model is private.

One item per entry, `pk` `AUDIT#<account>#<yyyy-mm>`, `sk` `<time>#<entry id>` (the time as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, so the sort key orders entries by time): one partition per account
and month, so an account's log never grows one partition without bound, a page of it is a Query
of a month's partition newest first, and no account's entries share a partition with another's.
`expires_at` (epoch seconds) is the table's TTL: `AuditRetentionDays` after the entry.

An entry is written in the same DynamoDB transaction (TransactWriteItems) as the change it
records, so a change is never kept without its entry and an entry never exists for a change that
was refused or failed. A store that writes a change adds the entry to its transaction:

- `record(tx, entry)` for a pynamodb `TransactWrite` (plants, keys; portfolios and grants);
- `transact_put(entry)` for a transaction built from raw items (the datapoints writer's).

The entry itself comes from `powerfactor.access.audit.entry` (who, what, which, the change).
Both writes are conditional on the entry's key being new: two entries never overwrite each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.aws.tables import bind
from powerfactor.runtime.settings import ConfigurationError, Settings, get_settings

_PREFIX = "AUDIT#"


@dataclass(frozen=True)
class AuditEntry:
    """One write, as the log keeps it.

    `account_id` is the account whose log holds it; `key_id` the key that wrote (`operator` for
    `python -m manage`) and `by_account` that key's account (another than `account_id` only when
    it acts on a plant shared with it). `target` names what changed (`plant/7`, `key/<id>`);
    `changes` maps each changed field to (before, after), None where absent; `details` says what
    a field-less action did (a re-sync's range, a revert's counts)."""

    entry_id: str
    account_id: str
    at: datetime
    key_id: str
    by_account: str
    action: str
    target: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class _AuditItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entry_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    key_id = UnicodeAttribute()
    by_account = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    changes = UnicodeAttribute(null=True)  # JSON: {field: [before, after]}
    details = UnicodeAttribute(null=True)  # JSON
    expires_at = NumberAttribute()

    def to_domain(self) -> AuditEntry:
        changes = {k: (v[0], v[1]) for k, v in json.loads(self.changes).items()} if self.changes else {}
        return AuditEntry(
            entry_id=self.entry_id,
            account_id=self.account_id,
            at=self.at,
            key_id=self.key_id,
            by_account=self.by_account,
            action=self.action,
            target=self.target,
            changes=changes,
            details=json.loads(self.details) if self.details else {},
        )


def _table(settings: Settings) -> str:
    if not settings.accounts_table:
        raise ConfigurationError("environment variable ACCOUNTS_TABLE is required for the audit log")
    return settings.accounts_table


def _bind() -> None:
    bind((_AuditItem,), _table)


def month_pk(account_id: str, month: str) -> str:
    """The partition of an account's entries of a month (`yyyy-mm`)."""
    return f"{_PREFIX}{account_id}#{month}"


def sort_key(at: datetime, entry_id: str) -> str:
    return f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{entry_id}"


def _item(entry: AuditEntry) -> _AuditItem:
    _bind()
    expires = entry.at + timedelta(days=get_settings().audit_retention_days)
    return _AuditItem(
        pk=month_pk(entry.account_id, entry.at.strftime("%Y-%m")),
        sk=sort_key(entry.at, entry.entry_id),
        entry_id=entry.entry_id,
        account_id=entry.account_id,
        at=entry.at,
        key_id=entry.key_id,
        by_account=entry.by_account,
        action=entry.action,
        target=entry.target,
        changes=json.dumps({k: list(v) for k, v in entry.changes.items()}, default=str)
        if entry.changes
        else None,
        details=json.dumps(entry.details, default=str) if entry.details else None,
        expires_at=int(expires.timestamp()),
    )


def record(tx: TransactWrite, entry: AuditEntry) -> None:
    """Add the entry to a pynamodb transaction: it is written if, and only if, the rest of the
    transaction is.

    It goes in as an update of a new key, not a put: pynamodb sends a transaction's items as
    condition checks, then deletes, puts and updates, each in the order added, so an update added
    last stays the last item, and the store's cancellation reasons keep their indexes."""
    item = _item(entry)
    actions = [
        getattr(_AuditItem, name).set(value)
        for name, value in item.attribute_values.items()
        if name not in ("pk", "sk") and value is not None
    ]
    tx.update(_AuditItem(pk=item.pk, sk=item.sk), actions=actions, condition=_AuditItem.pk.does_not_exist())


def transact_put(entry: AuditEntry) -> dict[str, Any]:
    """The entry's put as a raw TransactWriteItems `Put` (TableName, Item, its condition), for a
    transaction built by hand."""
    item = _item(entry)
    return {
        "TableName": _AuditItem.Meta.table_name,
        "Item": item.serialize(),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def month_entries(
    account_id: str, month: str, low: str, high: str, limit: int, before: str | None = None
) -> tuple[list[tuple[str, AuditEntry]], bool]:
    """Up to `limit` of the account's entries of `month` whose sort keys lie in [low, high] and
    come before the sort key `before` (None: from `high`), newest first, each with its sort key;
    and whether more follow in that month."""
    _bind()
    start = {"pk": {"S": month_pk(account_id, month)}, "sk": {"S": before}} if before is not None else None
    found = list(
        _AuditItem.query(
            month_pk(account_id, month),
            range_key_condition=_AuditItem.sk.between(low, high),
            scan_index_forward=False,
            limit=limit + 1,
            last_evaluated_key=start,
        )
    )
    return [(item.sk, item.to_domain()) for item in found[:limit]], len(found) > limit
