"""The audit log: every write to an account's plants and keys, who made it, when, and the change.

Writes recorded (`action`, on `target`):
- `plant.created`, `plant.renamed`, `plant.patched`, `plant.deleted` (`plant/<id>`);
- `plant.resync_requested`, `plant.resync_reverted` (`plant/<id>`; a revert spanning several
  months is one entry per month, each in the transaction of that month's writes);
- `key.created`, `key.revoked` (`key/<id>`), over the API and with `python -m manage`;
- `account.webhook_set`, `account.webhook_cleared`, `account.emails_set` (`account/<id>`; the
  operator's, access/notifications.py; never the secret);
- later capabilities add theirs (`portfolio.*`, `grant.*`) the same way.

An entry is built here (`entry`) and written by the store that writes the change, in the same
transaction (`audit_store.record` or `audit_store.transact_put`): a change refused (a taken name,
a failed condition) or failed writes no entry, and no change is kept without its entry. For a
store adding an entry to its own transaction:

    from powerfactor.access import audit, audit_store
    audit_store.record(tx, audit.entry(principal, "portfolio.created", f"portfolio/{pid}",
                                       before=None, after={"name": name}))

`changes` holds only the fields that differ between `before` and `after` (None: the object did
not exist, or no longer does), each as (before, after); fields named in `SECRET_FIELDS` never
enter the log, whatever the caller passes. The entry goes to `account_id` (the owner of what
changed; default: the caller's account); a caller acting on another account's plant through a
grant writes to both logs (`entries`).

`GET /api/solar-plant/audit` (`page`): the caller's account's entries, newest first, a page at a
time, for its admin keys (403 for others, and for a key restricted to some plants: the log names
every plant of the account). Entries are kept `AuditRetentionDays` (the table's TTL).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from powerfactor.access import audit_store as storage
from powerfactor.access.audit_store import AuditEntry
from powerfactor.access.principal import Principal
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, InvalidRange, NotPermitted
from powerfactor.runtime.settings import get_settings

__all__ = ["AuditEntry"]

ACTIONS = (
    "plant.created", "plant.renamed", "plant.patched", "plant.deleted",
    "plant.resync_requested", "plant.resync_reverted", "key.created", "key.revoked",
    "portfolio.created", "portfolio.renamed", "portfolio.deleted", "portfolio.plants_added",
    "portfolio.plants_removed", "grant.created", "grant.revoked",
    "account.webhook_set", "account.webhook_cleared", "account.emails_set",
)  # fmt: skip
# Never written to the log, whatever a caller passes in `before`/`after`.
SECRET_FIELDS = frozenset({"secret", "secret_hash", "token", "key", "webhook_secret"})
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_MONTHS_PER_PAGE = 13  # month partitions one page reads at most (then a short page and a cursor)
_ID_ALPHABET = string.digits + string.ascii_lowercase


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: sets sorted into lists, times and days as ISO text."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """The fields that differ, each as (before, after); secrets left out."""
    old, new = before or {}, after or {}
    changes = {}
    for name in sorted(set(old) | set(new)):
        if name in SECRET_FIELDS:
            continue
        was, now = _plain(old.get(name)), _plain(new.get(name))
        if was != now:
            changes[name] = (was, now)
    return changes


def entry(
    by: Principal,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    account_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """The entry of a write by `by` (its key; `access.principal.operator` for the CLI) on
    `target`, recorded in `account_id`'s log (default: `by`'s account)."""
    if action.count(".") != 1:
        raise ValueError(f"an audit action is `<object>.<verb>`, got {action!r}")
    return AuditEntry(
        entry_id="".join(secrets.choice(_ID_ALPHABET) for _ in range(10)),
        account_id=account_id or by.account_id,
        at=at or datetime.now(UTC),
        key_id=by.key_id,
        by_account=by.account_id,
        action=action,
        target=target,
        changes=diff(before, after),
        details={k: _plain(v) for k, v in (details or {}).items() if k not in SECRET_FIELDS},
    )


def entries(
    by: Principal,
    owner: str,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    details: Mapping[str, Any] | None = None,
) -> list[AuditEntry]:
    """The entries of a write on something `owner` owns: one in the owner's log, and one in the
    caller's own if it is another account (a plant shared with it for writing)."""
    now = datetime.now(UTC)
    logs = [owner] if owner == by.account_id else [owner, by.account_id]
    return [entry(by, action, target, before, after, account_id=log, details=details, at=now) for log in logs]


# ---- reading the log (GET /api/solar-plant/audit) ----


def _months(start: date, last: date) -> list[str]:
    """`yyyy-mm` of every month from `last`'s back to `start`'s, newest first."""
    months, month = [], last.replace(day=1)
    while month >= start.replace(day=1):
        months.append(month.strftime("%Y-%m"))
        month = (month - timedelta(days=1)).replace(day=1)
    return months


def page(
    principal: Principal,
    start: date | None = None,
    last: date | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    today: date | None = None,
) -> tuple[list[AuditEntry], str | None]:
    """A page of the caller's account's entries of the UTC days [start, last] (default: the
    retention period up to today), newest first, and the cursor of the next page (None: last).

    InsufficientScope without `admin`; NotPermitted for a key restricted to some plants;
    InvalidRange if `start` is after `last`; InvalidCursor for a cursor of another range or key.
    A page reads at most MAX_MONTHS_PER_PAGE month partitions: a page may then be short, even
    empty, and still have a cursor (only a null one ends the log).
    """
    principal.require_scope("admin")
    if principal.restricted:
        raise NotPermitted("a key restricted to some plants cannot read the account's audit log")
    today = today or datetime.now(UTC).date()
    last = last or today
    start = start or min(last, today - timedelta(days=get_settings().audit_retention_days))
    if start > last:
        raise InvalidRange("`from` is after `to`")
    request = f"{start}..{last}"
    months = _months(start, last)
    index, before = 0, None
    if cursor:
        month, _, sk = cursors.decode(cursor, "audit", request, principal.scope_key).partition("|")
        if month not in months or (sk and (not sk.startswith(month) or len(sk) > 60)):
            raise InvalidCursor()
        index, before = months.index(month), sk or None
    low, high = f"{start.isoformat()}T", f"{last.isoformat()}U"  # "U" sorts after any time of that day
    found: list[AuditEntry] = []
    for read in range(1, MAX_MONTHS_PER_PAGE + 1):
        month = months[index]
        items, more = storage.month_entries(
            principal.account_id, month, low, high, limit - len(found), before
        )
        found.extend(e for _, e in items)
        if len(found) >= limit and more:
            return found, _cursor(month, items[-1][0], request, principal)
        index, before = index + 1, None
        if index == len(months):
            return found, None
        if len(found) >= limit or read == MAX_MONTHS_PER_PAGE:
            return found, _cursor(months[index], "", request, principal)
    raise AssertionError("unreachable")


def _cursor(month: str, sk: str, request: str, principal: Principal) -> str:
    """The cursor of the page after the entry `sk` of `month` ("": from the month's newest)."""
    return cursors.encode("audit", f"{month}|{sk}", request, principal.scope_key)


def view(entry: AuditEntry) -> dict[str, Any]:
    """What the API shows of an entry (AuditEntryOut)."""
    return {
        "id": entry.entry_id,
        "at": entry.at,
        "account_id": entry.account_id,
        "key_id": entry.key_id,
        "key_account_id": entry.by_account,
        "action": entry.action,
        "target": entry.target,
        "changes": {k: {"before": b, "after": a} for k, (b, a) in entry.changes.items()},
        "details": entry.details,
    }
