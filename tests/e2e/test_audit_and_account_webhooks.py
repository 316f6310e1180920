"""End to end over the local stack: writes made through the API appear in the audit log of their
account for its admin keys (not for another account's, not for a read key), refused writes do not;
and each account's own webhook, set with `python -m manage notifications`, receives its account's
events only, signed with its own secret, while the deployment-wide webhook keeps receiving all."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.stack import Stack, function_environment
from devstack.template import ROOT
from manage import target
from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.alerts import logic as alerts
from powerfactor.runtime.settings import reset_settings
from tests.support import in_process_stack, wait_for, webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BASE = "/api/solar-plant"
DEPLOYMENT_SECRET = "deployment-wide-webhook-secret-0123456789"
ACME_SECRET = "acme-own-webhook-secret-0123456789abcdef"
GLOBEX_SECRET = "globex-own-webhook-secret-0123456789abcdef"


@dataclass
class World:
    stack: Stack
    keys: dict[str, str]
    hooks: dict[str, list[dict]]  # what each receiver got: "deployment", "acme", "globex"


def call(stack: Stack, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.api_url + BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _manage(stack: Stack, *args: str, stdin: str = "") -> str:
    assert stack.dynamodb is not None
    where = ["--endpoint", stack.dynamodb.endpoint, "--api", stack.api_url]
    done = subprocess.run(
        [sys.executable, "-m", "manage", *where, *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with (
        webhook_receiver(DEPLOYMENT_SECRET) as (deployment_url, deployment_got),
        webhook_receiver(ACME_SECRET) as (acme_url, acme_got),
        webhook_receiver(GLOBEX_SECRET) as (globex_url, globex_got),
        in_process_stack(
            tmp_path_factory.mktemp("audit"),
            "amnesiac",
            SyncUntilYear="1",
            AlertWebhookUrl=deployment_url,
            AlertWebhookSecret=DEPLOYMENT_SECRET,
        ) as stack,
    ):
        assert stack.dynamodb is not None
        with target.use_tables(target.local(stack.dynamodb.endpoint)):
            accounts.create_account("Acme Solar", "acme")
            accounts.create_account("Globex Energy", "globex")
            keys = {
                "admin": apikeys.create_key("acme admin", ("read", "write", "admin"), account_id="acme")[0],
                "write": apikeys.create_key("acme ops", ("read", "write"), account_id="acme")[0],
                "read": apikeys.create_key("acme read", ("read",), account_id="acme")[0],
                "globex": apikeys.create_key("globex admin", ("read", "write", "admin"), account_id="globex")[
                    0
                ],
            }
        _manage(stack, "notifications", "set-webhook", "acme", "--url", acme_url, stdin=ACME_SECRET + "\n")
        _manage(
            stack, "notifications", "set-webhook", "globex", "--url", globex_url, stdin=GLOBEX_SECRET + "\n"
        )
        yield World(stack, keys, {"deployment": deployment_got, "acme": acme_got, "globex": globex_got})


def test_writes_over_the_api_are_in_their_accounts_audit_log_only(world: World) -> None:
    stack, keys = world.stack, world.keys
    status, plant = call(stack, keys["write"], "POST", "/", {"name": "Audited Park"})
    assert status == 201
    pid = plant["id"]
    assert call(stack, keys["write"], "POST", "/", {"name": "Second Park"})[0] == 201
    assert call(stack, keys["write"], "PUT", f"/plant/{pid}", {"name": "Audited Park North"})[0] == 200
    assert call(stack, keys["write"], "PUT", f"/plant/{pid}", {"name": "second park"})[0] == 409  # refused
    assert call(stack, keys["write"], "PATCH", f"/plant/{pid}", {"capacity_kwp": 800})[0] == 200
    day = str(datetime.now(UTC).date() - timedelta(days=2))
    assert call(stack, keys["write"], "POST", f"/plant/{pid}/sync", {"from": day, "to": day})[0] == 202
    status, made = call(stack, keys["admin"], "POST", "/keys", {"name": "temp", "scopes": ["read"]})
    assert status == 201
    assert call(stack, keys["admin"], "DELETE", f"/keys/{made['id']}")[0] == 200
    assert call(stack, keys["globex"], "DELETE", f"/plant/{pid}")[0] == 404  # another account's: refused
    status, globex_plant = call(stack, keys["globex"], "POST", "/", {"name": "Globex Plant"})
    assert status == 201

    status, page = call(stack, keys["admin"], "GET", "/audit?limit=200")
    assert status == 200 and page["next_cursor"] is None
    mine = [(e["action"], e["target"]) for e in reversed(page["items"]) if e["target"] == f"plant/{pid}"]
    assert mine == [
        ("plant.created", f"plant/{pid}"), ("plant.renamed", f"plant/{pid}"),
        ("plant.patched", f"plant/{pid}"), ("plant.resync_requested", f"plant/{pid}"),
    ]  # fmt: skip
    by_key = {e["action"]: e["key_id"] for e in page["items"] if e["target"] == f"plant/{pid}"}
    assert set(by_key.values()) == {keys["write"].split("_")[1]}
    assert [e["action"] for e in page["items"] if e["target"] == f"key/{made['id']}"] == [
        "key.revoked",
        "key.created",
    ]
    assert "Globex" not in json.dumps(page) and f"plant/{globex_plant['id']}" not in json.dumps(page)
    assert made["key"].split("_")[2] not in json.dumps(page)  # never a secret
    # paged: one entry a page, newest first, the cursor bound to this key
    status, first = call(stack, keys["admin"], "GET", "/audit?limit=1")
    assert status == 200 and first["items"] == page["items"][:1]
    status, second = call(stack, keys["admin"], "GET", f"/audit?limit=1&cursor={first['next_cursor']}")
    assert status == 200 and second["items"] == page["items"][1:2]
    assert call(stack, keys["globex"], "GET", f"/audit?limit=1&cursor={first['next_cursor']}")[0] == 400
    # another account's admin key sees its own entries only; a read or write key, none at all
    status, theirs = call(stack, keys["globex"], "GET", "/audit")
    assert status == 200 and {e["account_id"] for e in theirs["items"]} == {"globex"}
    assert "Audited" not in json.dumps(theirs)
    assert call(stack, keys["read"], "GET", "/audit")[1]["error"]["code"] == "insufficient_scope"
    assert call(stack, keys["write"], "GET", "/audit")[0] == 403


def test_each_accounts_webhook_gets_its_own_events_signed_with_its_secret(world: World) -> None:
    stack, keys = world.stack, world.keys
    acme_plant = call(stack, keys["write"], "POST", "/", {"name": "Hooked Acme"})[1]["id"]
    globex_plant = call(stack, keys["globex"], "POST", "/", {"name": "Hooked Globex"})[1]["id"]
    assert stack.dynamodb is not None
    environment = function_environment(stack.template, {"DynamoDbEndpoint": stack.dynamodb.endpoint})
    with pytest.MonkeyPatch.context() as patch:  # an alert opens on each, as the sync would open it
        for name, value in environment["SyncWorkerFunction"].items():
            patch.setenv(name, value)
        reset_settings()
        for plant_id, account in ((acme_plant, "acme"), (globex_plant, "globex")):
            verdict = alerts.Verdict("sync_failing", True, f"failing at plant {plant_id}", {"runs": 3})
            assert alerts.apply(plant_id, account, [verdict])
    reset_settings()

    def opened(hook: str, plant_id: int) -> list[dict]:
        details = [(r, r["event"]["detail"]) for r in world.hooks[hook]]
        return [r for r, d in details if d.get("plant_id") == plant_id and d.get("kind") == "sync_failing"]

    wait_for(lambda: opened("acme", acme_plant) and opened("globex", globex_plant), "each account's event")
    wait_for(
        lambda: opened("deployment", acme_plant) and opened("deployment", globex_plant), "the deployment's"
    )
    for hook in ("acme", "globex"):
        got = world.hooks[hook]
        assert {r["event"]["detail"]["account_id"] for r in got} == {hook}, hook  # its own events only
        assert not any(r["refused"] for r in got), hook  # each verified with the account's own secret
    assert not any(r["refused"] for r in world.hooks["deployment"])
    (acme_event,) = opened("acme", acme_plant)
    (deployed,) = opened("deployment", acme_plant)
    assert acme_event["event"]["id"] == deployed["event"]["id"]  # the same event, signed twice
    assert acme_event["headers"]["powerfactor-signature"] != deployed["headers"]["powerfactor-signature"]
    shown = _manage(stack, "notifications", "show", "acme", "--json")
    assert json.loads(shown)["webhook_secret"] == "set" and ACME_SECRET not in shown
