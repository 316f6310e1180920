"""End to end, on one started stack: `python -m manage smoke` against it, and its status page
`GET /__devstack/status` with the status line it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devstack.stack import Stack, aws_client
from devstack.template import ROOT
from powerfactor.access import keys as apikeys
from tests.support import http, in_process_stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with in_process_stack(tmp_path_factory.mktemp("operations"), SyncUntilYear="1") as running:
        yield running


@pytest.fixture(scope="module")
def synced_plant(stack: Stack) -> dict:
    """A plant whose first sync has finished (yesterday, then the year back to the horizon)."""
    plant = http(stack, "POST", "/api/solar-plant/", {"name": "Operations"})[1]
    today = datetime.now(UTC).date().isoformat()

    def synced() -> dict | None:
        got = http(stack, "GET", f"/api/solar-plant/plant/{plant['id']}")[1]
        done = got["sync"]["synced_until"] == today and got["sync"]["last_success_at"] is not None
        return got if done else None

    return wait_for(synced, "the new plant's first sync")


def smoke(stack: Stack, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POWERFACTOR_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "manage", "smoke", "--url", stack.api_url + "/api/solar-plant/"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_smoke_passes_with_the_key_and_fails_with_a_wrong_one(stack, synced_plant) -> None:
    assert stack.dev_key is not None
    key = stack.dev_key[0]
    good = smoke(stack, key)
    lines = good.stdout.splitlines()
    assert good.returncode == 0, good.stdout + good.stderr
    checks = {line.split("  ")[0].strip(): line for line in lines[1:-1]}
    assert list(checks) == [
        "no credential", "list plants", "get plant", "data, yesterday", "report, 30 days", "unknown key",
        "openapi document",
    ]  # fmt: skip
    for name, line in checks.items():
        assert line.split()[len(name.split())] == "ok", line
    assert " 401 " in checks["no credential"] and " 200 " in checks["list plants"]
    assert "24 of 24 hours" in checks["data, yesterday"]
    assert lines[-1] == "smoke: 7 checks, 7 ok, 0 failed, 0 skipped: all passed"
    assert key not in good.stdout + good.stderr

    wrong = apikeys.new_token()
    bad = smoke(stack, wrong)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failing = [line for line in bad.stdout.splitlines() if " FAIL " in line]
    assert [line.split("  ")[0].strip() for line in failing] == ["list plants"], bad.stdout
    assert " 401 " in failing[0] and "the key is refused" in failing[0]
    assert bad.stdout.splitlines()[-1].endswith("FAILED: list plants")
    assert wrong not in bad.stdout + bad.stderr


def test_status_shows_queues_dead_letters_and_each_plants_last_sync(stack, synced_plant, capfd) -> None:
    assert stack.status is not None
    assert stack.status.dead_letter == {
        "StreamFailureQueue", "SyncDeadLetterQueue", "DailySyncFailureQueue", "AlertWebhookDeadLetterQueue",
        "AccountWebhookDeadLetterQueue",
    }  # fmt: skip
    body = json.dumps({"plant_id": synced_plant["id"], "why": "a job that failed five times"})
    sqs = aws_client("sqs", f"http://{stack.config.host}:{stack.config.sqs_port}")
    sqs.send_message(QueueUrl=stack.status.queue_urls["SyncDeadLetterQueue"], MessageBody=body)

    def status() -> dict:
        with urllib.request.urlopen(stack.api_url + "/__devstack/status", timeout=30) as response:
            assert response.status == 200 and response.headers["Content-Type"] == "application/json"
            return json.loads(response.read())

    def dead_lettered() -> dict | None:
        got = status()
        return got if got["queues"]["SyncDeadLetterQueue"]["visible"] else None

    got = wait_for(dead_lettered, "the dead letter in the status")
    # every queue the local stack made (it makes the webhook's whatever AlertWebhookUrl says)
    assert set(got["queues"]) == set(stack.status.queue_urls) >= {"SyncQueue", *stack.status.dead_letter}
    assert got["queues"]["AlertWebhookQueue"]["dead_letter"] is False
    assert got["queues"]["SyncQueue"]["dead_letter"] is False and "messages" not in got["queues"]["SyncQueue"]
    assert {"visible", "in_flight", "delayed"} <= set(got["queues"]["SyncQueue"])
    assert [m["body"] for m in got["queues"]["SyncDeadLetterQueue"]["messages"]] == [body]
    assert got["queues"]["StreamFailureQueue"] == {
        "dead_letter": True, "visible": 0, "in_flight": 0, "delayed": 0, "messages": [],
    }  # fmt: skip
    assert status()["queues"]["SyncDeadLetterQueue"]["visible"] == 1  # looking leaves it there
    plant = next(p for p in got["plants"] if p["id"] == synced_plant["id"])
    sync = synced_plant["sync"]
    assert plant["synced_until"] == sync["synced_until"] and plant["history_from"] == sync["history_from"]
    assert plant["last_run_at"] is not None and plant["last_error"] is None and plant["missing_days"] == 0
    assert got["errors"] == [] and "SyncDeadLetterQueue 1/0 (dead letters!)" in got["summary"]

    printed: list[str] = []

    def line() -> str | None:
        printed.extend(capfd.readouterr().err.splitlines())
        return next((x for x in printed if x.startswith("status  ") and "(dead letters!)" in x), None)

    shown = wait_for(line, "the status line with the dead letter")
    assert f"synced until {sync['synced_until']}" in shown and "never synced 0" in shown
