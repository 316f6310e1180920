"""Each account's own notifications: a webhook and e-mail recipients for its events.

Every event on the alert bus carries its plant's account (`detail.account_id`). Besides the
deployment-wide AlertWebhookUrl and AlertEmail, which keep receiving every account's events:

- **Webhook**: an account may have its own URL and signing secret (32-512 characters without
  spaces). AccountWebhookFunction delivers each event to the webhook of the event's account,
  signed exactly as the deployment-wide webhook is (powerfactor.alerts.webhook; README,
  "Verifying webhooks"), with the account's secret; an event of an account without one is
  dropped. Only `https://` URLs, but on the local stack (`allow_http`).
- **E-mail**: an account's recipients are subscribed to the AccountAlertTopic with a filter
  policy on the message's `account_id`, so each gets its own account's alerts only (the
  subscriptions are made by `python -m manage notifications set-email` on a deployed stack; the
  local stack has no SNS and only keeps the list).

Operators set both with AWS credentials (`python -m manage notifications`); no HTTP route does,
so that no API key can point the deployment's deliveries at an address of its choosing. The
secret is never shown, logged or written to the audit log: `view` says only whether one is set.
Each change is an audit entry (`account.webhook_set`, `account.webhook_cleared`,
`account.emails_set`) of the operator.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from powerfactor.access import accounts, audit
from powerfactor.access import notify_store as storage
from powerfactor.access.notify_store import Notifications
from powerfactor.access.principal import operator
from powerfactor.runtime.errors import PowerFactorError

__all__ = ["Notifications"]

SECRET_MIN, SECRET_MAX = 32, 512
MAX_EMAILS = 20
_URL = re.compile(r"https://[^\s/?#]+(/\S*)?")
_LOCAL_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _change(
    account_id: str, action: str, before: dict[str, Any], after: dict[str, Any], new: Notifications
) -> None:
    entry = audit.entry(operator(account_id), action, f"account/{account_id}", before, after)
    storage.save(new, datetime.now(UTC), entry)


def set_webhook(account_id: str, url: str, secret: str, *, allow_http: bool = False) -> Notifications:
    """Give the account its own webhook (replacing any); PowerFactorError for a bad URL or secret,
    AccountNotFound for no such account."""
    accounts.get_account(account_id)  # AccountNotFound
    if len(url) > 2048 or not (_LOCAL_URL if allow_http else _URL).fullmatch(url):
        raise PowerFactorError("the webhook's URL must be an https:// URL" + (" (or http://)" * allow_http))
    if not SECRET_MIN <= len(secret) <= SECRET_MAX or any(c.isspace() for c in secret):
        raise PowerFactorError(f"the webhook's secret is {SECRET_MIN}-{SECRET_MAX} characters without spaces")
    current = storage.get(account_id)
    new = dataclasses.replace(current, webhook_url=url, webhook_secret=secret)
    _change(
        account_id, "account.webhook_set", {"webhook_url": current.webhook_url}, {"webhook_url": url}, new
    )
    return new


def clear_webhook(account_id: str) -> Notifications:
    """Remove the account's webhook: its events go to the deployment-wide one only."""
    current = storage.get(account_id)
    new = dataclasses.replace(current, webhook_url=None, webhook_secret=None)
    _change(account_id, "account.webhook_cleared", {"webhook_url": current.webhook_url}, {}, new)
    return new


def checked_emails(emails: Iterable[str]) -> tuple[str, ...]:
    """The recipients, trimmed, without repeats (PowerFactorError for one that is no address)."""
    wanted = tuple(dict.fromkeys(e.strip() for e in emails))
    if len(wanted) > MAX_EMAILS or not all(_EMAIL.fullmatch(e) for e in wanted):
        raise PowerFactorError(f"give up to {MAX_EMAILS} e-mail addresses")
    return wanted


def set_emails(account_id: str, emails: Iterable[str], subscriptions: dict[str, str]) -> Notifications:
    """Record the account's recipients and their SNS subscriptions (made by the caller)."""
    accounts.get_account(account_id)  # AccountNotFound
    wanted = checked_emails(emails)
    current = storage.get(account_id)
    new = dataclasses.replace(current, emails=wanted, subscriptions=dict(subscriptions))
    _change(account_id, "account.emails_set", {"emails": list(current.emails)}, {"emails": list(wanted)}, new)
    return new


def get(account_id: str) -> Notifications:
    return storage.get(account_id)


def webhook_for(account_id: str) -> tuple[str, list[str]] | None:
    """The account's webhook URL and signing secrets, or None (the webhook function's only read)."""
    found = storage.get(account_id)
    if not found.webhook_url or not found.webhook_secret:
        return None
    return found.webhook_url, [found.webhook_secret]


def view(found: Notifications) -> dict[str, Any]:
    """What is shown of an account's settings: never the secret, only whether there is one."""
    return {
        "account_id": found.account_id,
        "webhook_url": found.webhook_url,
        "webhook_secret": "set" if found.webhook_secret else None,
        "emails": list(found.emails),
    }
