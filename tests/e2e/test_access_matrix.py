"""Who sees what, over the local stack: every plant route x every kind of key x every relation of
the plant to the key's account, with the exact status, and nothing of another account in any
body, header, cursor or CSV.

Two accounts: `acme`, whose keys are tried, and `globex`, whose plant is "another account's".
Relations: `own` (an acme plant the key reaches), `own_hidden` (an acme plant outside a
restricted key's plants), `other` (globex's), `missing` (no such id). Key kinds: an account key
(read + write), a read key, a key restricted to one plant, an admin key, an expired key (used
once before its expiry, so the gateway's authorizer cache still holds its answer: the function
refuses it), a revoked key. Another account's plant is answered byte for byte as a missing one.

Kinds and relations of later steps (a key restricted to portfolios, a grantee's read or write
key; a plant `shared` with acme) are rows of KINDS and RELATIONS: `Kind.sees` and `Kind.changes`
say which relations each kind reaches and may change, and `expected` derives the status.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from devstack.stack import Stack, function_environment
from devstack.template import ROOT
from manage import target
from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import store as datapoints
from powerfactor.datapoints.schemas import Datapoint
from powerfactor.runtime.settings import reset_settings
from tests.support import in_process_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BASE = "/api/solar-plant"
SECRET_NAME = f"Globex secret plant {uuid.uuid4().hex[:8]}"  # must never reach an acme key
DAY = date(2024, 3, 1)
EXPIRES_IN = 6.0  # seconds: the expired key is used once before, then the matrix runs after


@dataclass(frozen=True)
class Kind:
    """A kind of key of acme: its scopes, the relations it reaches (`sees`) and may change."""

    name: str
    scopes: tuple[str, ...]
    sees: frozenset[str]
    changes: frozenset[str]
    valid: bool = True  # False: refused (401) before anything else


OWN = frozenset({"own", "own_hidden"})
KINDS = [
    Kind("account", ("read", "write"), OWN, OWN),
    Kind("read", ("read",), OWN, frozenset()),
    Kind("plant-restricted", ("read", "write"), frozenset({"own"}), frozenset({"own"})),
    Kind("admin", ("read", "write", "admin"), OWN, OWN),
    Kind("expired", ("read", "write"), frozenset(), frozenset(), valid=False),
    Kind("revoked", ("read", "write"), frozenset(), frozenset(), valid=False),
    # later: Kind("portfolio-restricted", ...), Kind("grantee-read", ..., sees=OWN | {"shared"}),
    # Kind("grantee-write", ..., changes=OWN | {"shared"})
]
RELATIONS = ["own", "own_hidden", "other", "missing"]  # later: "shared"


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # {id}: the plant
    ok: int
    body: Any = None
    fresh: bool = (
        False  # changes the plant for good (delete) or once (a pending re-sync): a new one each time
    )

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")


DATA = "plant-id={id}&from=2024-03-01&to=2024-03-02"
ROUTES = [
    Route("get", "GET", "/plant/{id}", 200),
    Route("head", "HEAD", "/plant/{id}", 200),
    Route("rename", "PUT", "/plant/{id}", 200, {"name": "Acme renamed {uuid}"}),  # still found by q=acme
    Route("patch", "PATCH", "/plant/{id}", 200, {"capacity_kwp": 12.5}),
    Route("delete", "DELETE", "/plant/{id}", 204, fresh=True),
    Route("resync", "POST", "/plant/{id}/sync", 202, {"from": "{week_ago}", "to": "{week_ago}"}, fresh=True),
    Route("alerts", "GET", "/plant/{id}/alerts", 200),
    Route("data", "GET", f"/data/?{DATA}&limit=5", 200),
    Route("data csv", "GET", f"/data/?{DATA}&limit=5&format=csv", 200),
    Route("report", "GET", f"/report/?{DATA}&granularity=hour&limit=5", 200),
    Route("report csv", "GET", f"/report/?{DATA}&granularity=day&format=csv", 200),
]


def expected(route: Route, kind: Kind, relation: str) -> tuple[int, str | None]:
    """The status (and error code) a key of this kind gets on this route for such a plant."""
    if not kind.valid:
        return 401, "unauthorized"
    needed = "write" if route.writes else "read"
    if needed not in kind.scopes:
        return 403, "insufficient_scope"  # the method's scope, whatever the plant: no existence leak
    if relation not in kind.sees:
        return 404, "plant_not_found"
    if route.writes and relation not in kind.changes:
        return 403, "insufficient_scope"  # a plant it sees but may not change (a read-only share)
    return route.ok, None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


def call(stack: Stack, key: str, method: str, path: str, body: Any = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.api_url + BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read().decode())


@dataclass
class World:
    stack: Stack
    keys: dict[str, str]  # acme's, by kind; "globex": globex's read + write key
    own: int  # acme's plant the restricted key reaches
    own_hidden: int  # acme's plant outside it
    other: int  # globex's
    missing: int
    globex_markers: tuple[str, ...]  # what of globex must appear nowhere in acme's answers


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    params = {"SyncUntilYear": "1", "ThrottlingRateLimit": "10000", "ThrottlingBurstLimit": "5000"}
    # a monitoring service that has nothing: the syncs of new plants leave the alerts written
    # below open (a data gap stays a data gap)
    with in_process_stack(tmp_path_factory.mktemp("matrix"), "amnesiac", **params) as stack:
        assert stack.dynamodb is not None
        local = target.local(stack.dynamodb.endpoint)
        with target.use_tables(local):
            accounts.create_account("Acme Solar", "acme")
            accounts.create_account("Globex Energy", "globex")
            admin = apikeys.create_key("acme admin", ("read", "write", "admin"), account_id="acme")[0]
            globex = apikeys.create_key("globex ops", ("read", "write"), account_id="globex")[0]
        own = call(stack, admin, "POST", "/", {"name": "Acme One"}).json()["id"]
        own_hidden = call(stack, admin, "POST", "/", {"name": "Acme Two"}).json()["id"]
        other = call(stack, globex, "POST", "/", {"name": SECRET_NAME}).json()["id"]
        keys = {"admin": admin, "globex": globex}

        def make(name: str, scopes: tuple[str, ...], **extra: Any) -> tuple[str, dict]:
            reply = call(stack, admin, "POST", "/keys", {"name": name, "scopes": list(scopes), **extra})
            assert reply.status == 201, reply.text
            return reply.json()["key"], reply.json()

        keys["account"] = make("acme account", ("read", "write"))[0]
        keys["read"] = make("acme read", ("read",))[0]
        keys["plant-restricted"] = make("acme site", ("read", "write"), plants=[own])[0]
        # revoked first: a revocation over the API flushes the stage's authorizer cache
        keys["revoked"], record = make("acme revoked", ("read", "write"))
        assert call(stack, admin, "DELETE", f"/keys/{record['id']}").json()["status"] == "revoked"
        expiry = datetime.now(UTC) + timedelta(seconds=EXPIRES_IN)
        keys["expired"] = make("acme expiring", ("read", "write"), expires_at=expiry.isoformat())[0]
        assert call(stack, keys["expired"], "GET", "/").status == 200  # its answer is cached from now on

        # data, and an open alert, on each account's plant, written as the sync would
        environment = function_environment(stack.template, {"DynamoDbEndpoint": stack.dynamodb.endpoint})
        with pytest.MonkeyPatch.context() as patch:
            for name, value in environment["SyncWorkerFunction"].items():
                patch.setenv(name, value)
            reset_settings()
            start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
            points = [Datapoint(start + timedelta(hours=h), 1.0, 2.0, 3.0, 4.0) for h in range(48)]
            for plant_id, account in ((own, "acme"), (own_hidden, "acme"), (other, "globex")):
                datapoints.write_days(plant_id, points)
                verdict = alerts.Verdict("data_gap", True, f"gap at plant {plant_id}", {"hours": 99})
                alerts.write(plant_id, account, [verdict])
        reset_settings()

        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds() + 0.5))
        markers = ("globex", SECRET_NAME, globex.split("_")[1])
        yield World(stack, keys, own, own_hidden, other, other + 100_000, markers)


def _plant(world: World, route: Route, kind: Kind, relation: str) -> tuple[str, int]:
    """The key to send and the plant to ask for; a fresh plant (and a fresh restricted key for it)
    where the route would change the plant for good."""
    key = world.keys[kind.name]
    plant_id = getattr(world, relation)
    if route.fresh and relation in OWN:
        admin = world.keys["admin"]
        plant_id = call(world.stack, admin, "POST", "/", {"name": f"Fresh {uuid.uuid4().hex}"}).json()["id"]
        if kind.name == "plant-restricted" and relation == "own":
            body = {"name": "fresh site", "scopes": ["read", "write"], "plants": [plant_id]}
            key = call(world.stack, admin, "POST", "/keys", body).json()["key"]
    return key, plant_id


def _leaks(world: World, reply: Reply) -> list[str]:
    """What of globex an acme key's answer holds: in its body, its headers, its cursors."""
    seen = reply.text + json.dumps(reply.headers)
    found = [marker for marker in world.globex_markers if marker in seen]
    for cursor in _cursors(reply):
        seen = base64.urlsafe_b64decode(cursor.encode()).decode()
        found += [f"cursor {marker}" for marker in world.globex_markers if marker in seen]
    return found


def _cursors(reply: Reply) -> list[str]:
    found = [reply.headers[h] for h in reply.headers if h.lower() == "x-next-cursor"]
    if reply.headers.get("Content-Type", "").startswith("application/json") and reply.text:
        body = reply.json()
        if isinstance(body, dict) and body.get("next_cursor"):
            found.append(body["next_cursor"])
    return found


def _without(text: str, plant_id: int) -> str:
    """The text with the id asked for, where it stands as a number of its own, as `<id>`."""
    return re.sub(rf"(?<![0-9]){plant_id}(?![0-9])", "<id>", text)


def _render(route: Route, plant_id: int) -> tuple[str, Any]:
    body = route.body
    if isinstance(body, dict):
        week_ago = datetime.now(UTC).date() - timedelta(days=7)  # inside any horizon
        values = {"uuid": uuid.uuid4().hex[:8], "week_ago": week_ago.isoformat()}
        body = {k: (v.format(**values) if isinstance(v, str) else v) for k, v in body.items()}
    return route.path.format(id=plant_id), body


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_key_gets_exactly_what_its_kind_allows_on_every_plant_route(world, route, kind, relation) -> None:
    key, plant_id = _plant(world, route, kind, relation)
    path, body = _render(route, plant_id)
    reply = call(world.stack, key, route.method, path, body)
    status, code = expected(route, kind, relation)
    assert reply.status == status, (reply.status, reply.text)
    if code is not None and route.method != "HEAD":
        assert reply.json()["error"]["code"] == code, reply.text
    assert _leaks(world, reply) == []
    if relation == "other":  # byte for byte what a missing plant gets, but for the id asked for
        path, body = _render(route, world.missing)
        missing = call(world.stack, key, route.method, path, body)
        assert missing.status == reply.status
        assert missing.headers.get("Content-Type") == reply.headers.get("Content-Type")
        assert _without(missing.text, world.missing) == _without(reply.text, plant_id)


LISTS = ["/?limit=1", "/?q=acme&limit=1", "/?q=globex&limit=1", "/alerts?limit=1"]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize("path", LISTS)
def test_lists_hold_only_what_the_key_reaches_through_every_page(world, kind, path) -> None:
    """Followed page by page with their cursors: only the plants the key reaches (and their open
    alerts), never globex's; every cursor refused to another key of the same account."""
    key = world.keys[kind.name]
    reply = call(world.stack, key, "GET", path)
    if not kind.valid:
        assert (reply.status, reply.json()["error"]["code"]) == (401, "unauthorized")
        return
    listed: list[int] = []
    while True:
        assert reply.status == 200, reply.text
        assert _leaks(world, reply) == []
        page = reply.json()
        listed += [item["plant_id"] if "/alerts" in path else item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        other_key = world.keys["account" if kind.name != "account" else "read"]
        refused = call(world.stack, other_key, "GET", f"{path}&cursor={page['next_cursor']}")
        assert (refused.status, refused.json()["error"]["code"]) == (400, "invalid_cursor")
        reply = call(world.stack, key, "GET", f"{path}&cursor={page['next_cursor']}")
    reached = {world.own} if "own_hidden" not in kind.sees else {world.own, world.own_hidden}
    assert world.other not in listed
    if "q=globex" in path:
        assert listed == []
    elif kind.name == "plant-restricted":
        assert set(listed) == reached
    else:  # and the plants created since (or their data gaps): acme's too
        assert reached <= set(listed), (path, listed, reached)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_key_route_and_the_keys_routes(world, kind) -> None:
    """GET /key names the key's account; only the admin key manages keys, its account's only."""
    key = world.keys[kind.name]
    reply = call(world.stack, key, "GET", "/key")
    keys = call(world.stack, key, "GET", "/keys?limit=200")
    if not kind.valid:
        assert reply.status == keys.status == 401
        return
    assert reply.status == 200 and reply.json()["account_id"] == "acme"
    if kind.name == "admin":
        assert keys.status == 200 and _leaks(world, keys) == []
        assert {k["name"] for k in keys.json()["items"]} >= {"acme admin", "acme read", "acme revoked"}
        globex_key_id = world.keys["globex"].split("_")[1]
        revoke = call(world.stack, key, "DELETE", f"/keys/{globex_key_id}")
        assert (revoke.status, revoke.json()["error"]["code"]) == (404, "key_not_found")
    else:
        assert keys.status == 403


def test_an_expired_key_is_refused_by_the_function_while_the_gateway_still_caches_it(world) -> None:
    """The authorizer's answer for the expired key was cached before its expiry: the gateway does
    not ask the authorizer again, and the function refuses the key from its expiry on."""
    authorizer = world.stack.api.authorizer if world.stack.api else None
    assert authorizer is not None
    before = authorizer.calls
    reply = call(world.stack, world.keys["expired"], "GET", f"/plant/{world.own}")
    assert (reply.status, reply.json()["error"]["code"]) == (401, "unauthorized")
    assert authorizer.calls == before  # answered from the cache: the function refused it


def test_creating_plants_and_keys_stays_within_the_account(world) -> None:
    restricted = world.keys["plant-restricted"]
    refused = call(world.stack, restricted, "POST", "/", {"name": "Not for a site key"})
    assert (refused.status, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    same_name = call(world.stack, world.keys["account"], "POST", "/", {"name": SECRET_NAME})
    assert same_name.status == 201  # globex's name is free in acme: no 409 tells of it
    wider = call(
        world.stack,
        world.keys["admin"],
        "POST",
        "/keys",
        {"name": "x", "scopes": ["read"], "plants": [world.other]},
    )
    assert (wider.status, wider.json()["error"]["code"]) == (404, "plant_not_found")


def test_manage_keys_revoke_flushes_the_gateways_cache_so_the_key_is_refused_at_once(world) -> None:
    """A key whose answer the gateway caches (AuthorizerCacheTtl, 300 s here) is refused on the
    request right after `python -m manage keys revoke`: the command flushes the cache, as it
    flushes the stage's on AWS."""
    made = call(world.stack, world.keys["admin"], "POST", "/keys", {"name": "to revoke", "scopes": ["read"]})
    key, key_id = made.json()["key"], made.json()["id"]
    assert call(world.stack, key, "GET", "/").status == 200  # cached from here on
    assert world.stack.dynamodb is not None
    revoked = subprocess.run(
        [sys.executable, "-m", "manage", "--endpoint", world.stack.dynamodb.endpoint,
         "--api", world.stack.api_url, "keys", "revoke", key_id],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert revoked.returncode == 0 and "authorizer cache was flushed" in revoked.stdout, revoked.stderr
    reply = call(world.stack, key, "GET", "/")
    assert (reply.status, reply.json()["error"]["code"]) == (401, "unauthorized")
