"""Each account's own webhook (moto): set and cleared by the operator, its secret checked and never
shown, and AccountWebhookFunction delivering each event to its account's webhook only, signed with
that account's secret (the README's verifier accepts it), dropping the events of accounts without
one."""

from __future__ import annotations

import json

import pytest

from devstack.lambdas import load_handler
from powerfactor.access import accounts, audit, notifications
from powerfactor.runtime.errors import AccountNotFound, PowerFactorError
from tests.support import principal, webhook_receiver
from tests.unit.alerts.test_webhook import _sqs_event

ACME_SECRET = "acme-" + "a" * 40
GLOBEX_SECRET = "globex-" + "g" * 40


def _event(account: str, event_id: str) -> bytes:
    detail = {"account_id": account, "plant_id": 1}
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "alert.data_gap.opened",
        "source": "powerfactor.alerts",
    }
    return json.dumps({**event, "detail": detail}).encode()


@pytest.fixture
def two_accounts(aws) -> None:
    accounts.create_account("Acme", "acme")
    accounts.create_account("Globex", "globex")


def test_an_accounts_webhook_is_checked_kept_secret_and_audited(two_accounts) -> None:
    for url, secret in (
        ("http://hooks.example/pf", ACME_SECRET),  # https only on AWS
        ("https://hooks.example/pf", "short"),
        ("https://hooks.example/pf", "with spaces " * 4),
        ("ftp://hooks.example/pf", ACME_SECRET),
    ):
        with pytest.raises(PowerFactorError):
            notifications.set_webhook("acme", url, secret)
    with pytest.raises(AccountNotFound):
        notifications.set_webhook("nobody", "https://hooks.example/pf", ACME_SECRET)
    found = notifications.set_webhook("acme", "https://hooks.example/pf", ACME_SECRET)
    assert ACME_SECRET not in repr(found)
    assert notifications.view(notifications.get("acme")) == {
        "account_id": "acme", "webhook_url": "https://hooks.example/pf", "webhook_secret": "set", "emails": []
    }  # fmt: skip
    assert notifications.webhook_for("acme") == ("https://hooks.example/pf", [ACME_SECRET])
    assert notifications.webhook_for("globex") is None
    notifications.set_emails("acme", ["ops@acme.example", " ops@acme.example "], {})
    assert notifications.get("acme").emails == ("ops@acme.example",)
    with pytest.raises(PowerFactorError):
        notifications.set_emails("acme", ["not an address"], {})
    notifications.clear_webhook("acme")
    assert notifications.webhook_for("acme") is None and notifications.get("acme").emails == (
        "ops@acme.example",
    )
    log = audit.page(principal("acme", ("read", "admin"), key_id="acmeadmin001"))[0]
    assert [e.action for e in reversed(log)] == [
        "account.webhook_set", "account.emails_set", "account.webhook_cleared"
    ]  # fmt: skip
    assert all(e.key_id == "operator" for e in log) and ACME_SECRET not in repr(log)
    assert log[-1].changes == {"webhook_url": (None, "https://hooks.example/pf")}


@pytest.mark.loopback
def test_each_event_goes_to_its_accounts_webhook_only_signed_with_its_secret(
    template, use_function_env, lambda_context, two_accounts, capsys, caplog
) -> None:
    with (
        webhook_receiver(ACME_SECRET) as (acme_url, acme_got),
        webhook_receiver(GLOBEX_SECRET) as (
            globex_url,
            globex_got,
        ),
    ):
        notifications.set_webhook("acme", acme_url, ACME_SECRET, allow_http=True)
        notifications.set_webhook("globex", globex_url, GLOBEX_SECRET, allow_http=True)
        use_function_env("AccountWebhookFunction")
        handle = load_handler(template.functions()["AccountWebhookFunction"], template.layer_dirs())
        bodies = [_event("acme", "e-1"), _event("globex", "e-2"), _event("initech", "e-3"), b"not json"]
        assert handle(_sqs_event(*bodies), lambda_context) == {"batchItemFailures": []}
        assert [r["event"]["id"] for r in acme_got] == ["e-1"]
        assert [r["event"]["id"] for r in globex_got] == ["e-2"]
        assert not any(r["refused"] for r in acme_got + globex_got)  # each verified with its own secret
    out, err = capsys.readouterr()
    logged = out + err + caplog.text
    assert ACME_SECRET not in logged and GLOBEX_SECRET not in logged
