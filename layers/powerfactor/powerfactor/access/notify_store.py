"""Each account's notification settings, in the accounts table. Its pynamodb model is private.

One item per account, `pk` `NOTIFY#<account>`, `sk` `NOTIFY`: its webhook's URL and signing
secret, its e-mail recipients and their SNS subscriptions. A partition of its own, apart from the
account's (`ACCOUNT#<id>`), so that IAM can give the webhook function these items and nothing else
of the table (`dynamodb:LeadingKeys`), and no other function reads them. The secret never leaves
this module but through `webhook`, which only the webhook function calls; `Notifications` does
not show it in its repr. Every change is a transaction with its audit entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.access import audit_store
from powerfactor.access.audit_store import AuditEntry
from powerfactor.aws import internals
from powerfactor.aws.tables import bind
from powerfactor.runtime.settings import ConfigurationError, Settings

_SK = "NOTIFY"


@dataclass(frozen=True)
class Notifications:
    """Where an account's events go besides the bus: its webhook (URL, secret) and e-mail
    recipients (`subscriptions`: recipient -> its SNS subscription ARN, on a deployed stack)."""

    account_id: str
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    emails: tuple[str, ...] = ()
    subscriptions: dict[str, str] = field(default_factory=dict)


class _NotifyItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)
    emails = ListAttribute(of=UnicodeAttribute, null=True)
    subscriptions = UnicodeAttribute(null=True)  # JSON: {recipient: subscription ARN}
    updated_at = UTCDateTimeAttribute(null=True)

    def to_domain(self) -> Notifications:
        return Notifications(
            account_id=self.account_id,
            webhook_url=self.webhook_url,
            webhook_secret=self.webhook_secret,
            emails=tuple(str(e) for e in self.emails or ()),
            subscriptions=json.loads(self.subscriptions) if self.subscriptions else {},
        )


def _table(settings: Settings) -> str:
    if not settings.accounts_table:
        raise ConfigurationError("environment variable ACCOUNTS_TABLE is required for notifications")
    return settings.accounts_table


def _bind() -> None:
    bind((_NotifyItem,), _table)


def _pk(account_id: str) -> str:
    return f"NOTIFY#{account_id}"


def get(account_id: str) -> Notifications:
    """The account's settings (none set: an empty `Notifications`)."""
    _bind()
    try:
        return _NotifyItem.get(_pk(account_id), _SK).to_domain()
    except _NotifyItem.DoesNotExist:
        return Notifications(account_id)


def save(settings: Notifications, now: datetime, entry: AuditEntry) -> None:
    """Store the account's settings with the audit entry of the change, in one transaction."""
    _bind()
    item = _NotifyItem(
        pk=_pk(settings.account_id),
        sk=_SK,
        account_id=settings.account_id,
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secret,
        emails=list(settings.emails) or None,
        subscriptions=json.dumps(settings.subscriptions) if settings.subscriptions else None,
        updated_at=now,
    )
    with TransactWrite(connection=internals.low_level_connection(_NotifyItem)) as tx:
        tx.save(item)
        audit_store.record(tx, entry)
