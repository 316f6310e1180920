"""`python -m manage smoke`: read-only requests against a deployment, to tell at once if it works.

    python -m manage smoke                                # the local stack (make dev)
    POWERFACTOR_API_KEY=pfk_... python -m manage smoke --url https://.../Prod/api/solar-plant/
    POWERFACTOR_API_KEY=pfk_... python -m manage smoke --stack powerfactor --region eu-central-1

Where: `--url` (the API's URL, with or without /api/solar-plant/), or `--stack`/`--region` (the
stack's `ApiUrl` output, read from CloudFormation), or else the local stack at
http://127.0.0.1:3000. The key: `--key`, else the environment variable POWERFACTOR_API_KEY (keeps
it off the command line and out of the shell's history), else, for the local stack only, the
development key in .devstack/api-key. A key with the read scope is enough: nothing is written.

The checks, in order: no credential gets 401 in the API's JSON error shape; the key lists plants
(200); if there is a plant, it is read, with its data for yesterday and a day report of the last
30 days; a well-formed unknown key gets 401; the OpenAPI document, if the API serves one (the
local stack does, a deployment does not: then the check is skipped). Each prints one line (name,
ok/FAIL/skip, status, latency, what it means), then a summary. Exit code 0 only if none failed,
1 if one did, 2 if there is nothing to check (no key, no such stack). The key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from manage.target import TargetError, api_url
from powerfactor.access import keys as apikeys

LOCAL_URL = "http://127.0.0.1:3000"
KEY_ENV = "POWERFACTOR_API_KEY"
LOCAL_KEY_FILE = Path(__file__).resolve().parent.parent / ".devstack" / "api-key"
API_PATH = "/api/solar-plant"
TIMEOUT = 30.0
REPORT_DAYS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the API's URL (default: --stack's ApiUrl, else {LOCAL_URL})")
    parser.add_argument("--key", help=f"the API key (better: set {KEY_ENV})")
    parser.add_argument("--key-file", type=Path, help=f"read the key from a file (local: {LOCAL_KEY_FILE})")


@dataclass
class Reply:
    status: int | None  # None: no HTTP answer at all
    body: Any
    millis: float
    error: str = ""


@dataclass
class Check:
    name: str
    outcome: str  # ok, FAIL or skip
    reply: Reply
    meaning: str

    def line(self) -> str:
        status = "-" if self.reply.status is None else str(self.reply.status)
        return f"{self.name:<22} {self.outcome:<4} {status:>3} {self.reply.millis:>7.0f} ms  {self.meaning}"


class Api:
    """GET requests to one API, with or without a bearer key."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        root = self.base[: -len(API_PATH)] if self.base.endswith(API_PATH) else self.base
        self.root = root
        self.api = root + API_PATH

    def get(self, url: str, key: str | None) -> Reply:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            return Reply(None, None, (time.perf_counter() - started) * 1000, f"no answer: {reason}")
        millis = (time.perf_counter() - started) * 1000
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw[:200].decode(errors="replace")
        return Reply(status, body, millis)


def _is_error(body: Any, status: int) -> bool:
    """The API's error shape: {"error": {"status", "code", "message", "details"}}."""
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and error.get("status") == status
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), list)
    )


def _unauthorized(name: str, reply: Reply, what: str) -> Check:
    if reply.status == 401 and _is_error(reply.body, 401):
        return Check(name, "ok", reply, f"{what} is refused with the JSON 401")
    if reply.status == 401:
        return Check(name, "FAIL", reply, f"{what} is refused, but not in the API's JSON error shape")
    return Check(name, "FAIL", reply, reply.error or f"{what} must get 401: the API lets it through or fails")


def _page(reply: Reply, field: str) -> Any:
    """A field of a 200 JSON object reply; None for any other reply."""
    return reply.body.get(field) if reply.status == 200 and isinstance(reply.body, dict) else None


def run_checks(api: Api, key: str, today: datetime | None = None) -> list[Check]:
    """The checks against this API with this key (see the module's docstring)."""
    checks: list[Check] = []

    def add(name: str, passed: bool | None, reply: Reply, ok: str, failed: str) -> None:
        """passed None: skipped (`ok` says why)."""
        outcome = "skip" if passed is None else "ok" if passed else "FAIL"
        checks.append(Check(name, outcome, reply, failed if passed is False else ok))

    checks.append(_unauthorized("no credential", api.get(api.api + "/", None), "a request without a key"))

    reply = api.get(api.api + "/?limit=1", key)
    plants = _page(reply, "items")
    refused = "the key is refused: unknown, expired, revoked or without read"
    failed = refused if reply.status in (401, 403) else reply.error or "listing plants fails"
    listed = f"the key works; {len(plants or [])} plant(s) on page 1"
    add("list plants", isinstance(plants, list), reply, listed, failed)

    if plants:
        plant_id = plants[0]["id"]
        reply = api.get(f"{api.api}/plant/{plant_id}", key)
        read = isinstance(reply.body, dict) and reply.body.get("id") == plant_id and reply.status == 200
        add("get plant", read, reply, f"plant {plant_id} reads", reply.error or "reading the plant fails")

        day = (today or datetime.now(UTC)).date() - timedelta(days=1)
        reply = api.get(f"{api.api}/data?plant-id={plant_id}&from={day}&to={day}", key)
        items = _page(reply, "items")
        stored = f"{len(items or [])} of 24 hours of {day} stored"
        add("data, yesterday", isinstance(items, list), reply, stored, reply.error or "reading data fails")

        first = day - timedelta(days=REPORT_DAYS - 1)
        query = f"plant-id={plant_id}&from={first}&to={day}&granularity=day&limit={REPORT_DAYS}"
        reply = api.get(f"{api.api}/report?{query}", key)
        totals = _page(reply, "totals") or {}
        present = f"{totals.get('hours_present')} of {totals.get('hours_total')} hours present"
        name = f"report, {REPORT_DAYS} days"
        add(name, "hours_present" in totals, reply, present, reply.error or "the day report fails")
    elif isinstance(plants, list):
        add("plant reads", None, Reply(None, None, 0.0), "no plant yet: get, data and report not checked", "")

    bogus = apikeys.new_token()  # well formed, so the authorizer looks it up and finds nothing
    checks.append(_unauthorized("unknown key", api.get(api.api + "/", bogus), "a well-formed unknown key"))

    reply = api.get(api.root + "/openapi.json", key)
    document = reply.body if reply.status == 200 and isinstance(reply.body, dict) else {}
    version, paths = document.get("openapi"), len(document.get("paths") or {})
    if reply.status in (401, 403, 404):
        add("openapi document", None, reply, "this API does not serve one", "")
    else:
        bad = reply.error or "the document is not OpenAPI JSON"
        add("openapi document", version is not None, reply, f"OpenAPI {version}, {paths} paths", bad)
    return checks


def _key(args: argparse.Namespace, local: bool) -> str | None:
    if args.key:
        return args.key.strip()
    if os.environ.get(KEY_ENV, "").strip():
        return os.environ[KEY_ENV].strip()
    path = args.key_file or (LOCAL_KEY_FILE if local else None)
    if path is not None and path.exists():
        return path.read_text().strip() or None
    return None


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    stack, region = args.stack, args.region
    try:
        url = args.url or (api_url(stack, region) if stack else LOCAL_URL)
    except TargetError as error:
        print(f"python -m manage smoke: {error}", file=sys.stderr)
        return 2
    key = _key(args, local=not args.url and not stack)
    if not key:
        print(f"python -m manage smoke: no API key: set {KEY_ENV}, or pass --key-file", file=sys.stderr)
        return 2
    api = Api(url)
    print(f"smoke checks against {api.api}/ (read-only)", file=out)
    checks = run_checks(api, key)
    for check in checks:
        print(check.line(), file=out, flush=True)
    failed = [c.name for c in checks if c.outcome == "FAIL"]
    skipped = sum(c.outcome == "skip" for c in checks)
    ok = len(checks) - len(failed) - skipped
    verdict = "all passed" if not failed else "FAILED: " + ", ".join(failed)
    counts = f"{len(checks)} checks, {ok} ok, {len(failed)} failed, {skipped} skipped"
    print(f"smoke: {counts}: {verdict}", file=out)
    return 1 if failed else 0
