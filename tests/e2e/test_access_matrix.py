"""Who sees what, over the local stack: every plant route x every kind of key x every relation of
the plant to the key's account, with the exact status, and nothing of another account in any
body, header, cursor or CSV.

Accounts: `acme`, whose keys are most kinds; `globex`, whose plants are "another account's" and
`shared`; `initech` and `umbrella`, the grantees' own accounts. Globex shares its `shared` plant
with acme (read, through a portfolio of globex), with initech (read, the plant itself) and with
umbrella (write, through the portfolio).

Relations, each to the key's own account: `own` (a plant the key reaches), `own_hidden` (one
outside a restricted key's plants or portfolios), `shared` (globex's plant shared with it),
`other` (globex's, not shared), `missing` (no such id). Key kinds: an account key (read + write),
a read key, a key restricted to one plant, a key restricted to a portfolio, an admin key, an
expired key (used once before its expiry, so the gateway's authorizer cache still holds its
answer: the function refuses it), a revoked key, and a grantee's read + write key whose share is
`read` (initech) or `write` (umbrella). Another account's plant is answered byte for byte as a
missing one. `Kind.sees`, `changes` and `deletes` say which relations each kind reaches, may
change and may delete; `expected` derives the status.
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
    """A kind of key: its account, its scopes, the relations it reaches (`sees`), may change and
    may delete (by default those it may change that are its own)."""

    name: str
    scopes: tuple[str, ...]
    sees: frozenset[str]
    changes: frozenset[str]
    valid: bool = True  # False: refused (401) before anything else
    account: str = "acme"

    @property
    def deletes(self) -> frozenset[str]:
        return self.changes & OWN


OWN = frozenset({"own", "own_hidden"})
SHARED = frozenset({"shared"})
ONE = frozenset({"own"})
KINDS = [
    Kind("account", ("read", "write"), OWN | SHARED, OWN),  # acme's share is read only
    Kind("read", ("read",), OWN | SHARED, frozenset()),
    Kind("plant-restricted", ("read", "write"), ONE, ONE),
    Kind("portfolio-restricted", ("read", "write"), ONE, ONE),
    Kind("admin", ("read", "write", "admin"), OWN | SHARED, OWN),
    Kind("expired", ("read", "write"), frozenset(), frozenset(), valid=False),
    Kind("revoked", ("read", "write"), frozenset(), frozenset(), valid=False),
    Kind("grantee-read", ("read", "write"), OWN | SHARED, OWN, account="initech"),
    Kind("grantee-write", ("read", "write"), OWN | SHARED, OWN | SHARED, account="umbrella"),
]
RELATIONS = ["own", "own_hidden", "shared", "other", "missing"]


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
    if route.method == "DELETE" and relation not in kind.deletes:
        return 403, "insufficient_scope"  # deleting stays with the owner
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
    keys: dict[str, str]  # by kind; "globex": globex's admin key; "<account> admin": each one's
    plants: dict[tuple[str, str], int]  # (account, relation) -> plant id
    portfolio: str  # acme's portfolio the portfolio-restricted key reaches (it holds `own`)
    globex_markers: tuple[str, ...]  # what of globex must appear nowhere in another's answers

    def plant(self, kind: Kind, relation: str) -> int:
        return self.plants[(kind.account, relation)]

    @property
    def own(self) -> int:
        return self.plants[("acme", "own")]

    @property
    def own_hidden(self) -> int:
        return self.plants[("acme", "own_hidden")]

    @property
    def other(self) -> int:
        return self.plants[("acme", "other")]

    @property
    def missing(self) -> int:
        return self.plants[("acme", "missing")]


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
            accounts.create_account("Initech Power", "initech")
            accounts.create_account("Umbrella Renewables", "umbrella")
            admins = {
                account: apikeys.create_key(
                    f"{account} admin", ("read", "write", "admin"), account_id=account
                )[0]
                for account in ("acme", "globex", "initech", "umbrella")
            }
        admin, globex = admins["acme"], admins["globex"]
        plants: dict[tuple[str, str], int] = {}
        for account in ("acme", "initech", "umbrella"):
            for relation, name in (("own", "One"), ("own_hidden", "Two")):
                made = call(stack, admins[account], "POST", "/", {"name": f"{account.title()} {name}"})
                plants[(account, relation)] = made.json()["id"]
        other = call(stack, globex, "POST", "/", {"name": SECRET_NAME}).json()["id"]
        shared = call(stack, globex, "POST", "/", {"name": f"Shared park {uuid.uuid4().hex[:8]}"}).json()[
            "id"
        ]
        for account in ("acme", "initech", "umbrella"):
            plants[(account, "other")] = other
            plants[(account, "shared")] = shared
            plants[(account, "missing")] = shared + 100_000
        # globex's portfolio of the shared plant, shared with acme (read) and umbrella (write);
        # the plant itself shared with initech (read)
        folio = call(stack, globex, "POST", "/portfolios", {"name": "Shared", "plants": [shared]})
        assert folio.status == 201, folio.text
        for body in (
            {"account": "acme", "portfolio": folio.json()["id"], "access": "read"},
            {"account": "umbrella", "portfolio": folio.json()["id"], "access": "write"},
            {"account": "initech", "plant": shared, "access": "read"},
        ):
            granted = call(stack, globex, "POST", "/grants", body)
            assert granted.status == 201, granted.text
        acme_folio = call(
            stack, admin, "POST", "/portfolios", {"name": "Site one", "plants": [plants[("acme", "own")]]}
        )
        assert acme_folio.status == 201, acme_folio.text
        keys = {"admin": admin, "globex": globex, **{f"{a} admin": k for a, k in admins.items()}}
        assert stack.api is not None
        stack.api.authorizer.flush()  # the admin keys' answers, cached before the grants, go

        def make(name: str, scopes: tuple[str, ...], by: str = admin, **extra: Any) -> tuple[str, dict]:
            reply = call(stack, by, "POST", "/keys", {"name": name, "scopes": list(scopes), **extra})
            assert reply.status == 201, reply.text
            return reply.json()["key"], reply.json()

        keys["account"] = make("acme account", ("read", "write"))[0]
        keys["read"] = make("acme read", ("read",))[0]
        keys["plant-restricted"] = make("acme site", ("read", "write"), plants=[plants[("acme", "own")]])[0]
        keys["portfolio-restricted"] = make(
            "acme portfolio", ("read", "write"), portfolios=[acme_folio.json()["id"]]
        )[0]
        keys["grantee-read"] = make("initech ops", ("read", "write"), by=admins["initech"])[0]
        keys["grantee-write"] = make("umbrella ops", ("read", "write"), by=admins["umbrella"])[0]
        # revoked first: a revocation over the API flushes the stage's authorizer cache
        keys["revoked"], record = make("acme revoked", ("read", "write"))
        assert call(stack, admin, "DELETE", f"/keys/{record['id']}").json()["status"] == "revoked"
        expiry = datetime.now(UTC) + timedelta(seconds=EXPIRES_IN)
        keys["expired"] = make("acme expiring", ("read", "write"), expires_at=expiry.isoformat())[0]
        assert call(stack, keys["expired"], "GET", "/").status == 200  # its answer is cached from now on

        # data, and an open alert, on each plant, written as the sync would
        environment = function_environment(stack.template, {"DynamoDbEndpoint": stack.dynamodb.endpoint})
        with pytest.MonkeyPatch.context() as patch:
            for name, value in environment["SyncWorkerFunction"].items():
                patch.setenv(name, value)
            reset_settings()
            start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
            points = [Datapoint(start + timedelta(hours=h), 1.0, 2.0, 3.0, 4.0) for h in range(48)]
            owners = {
                plant_id: account for (account, relation), plant_id in plants.items() if relation in OWN
            }
            for plant_id, account in (*owners.items(), (other, "globex"), (shared, "globex")):
                datapoints.write_days(plant_id, points)
                verdict = alerts.Verdict("data_gap", True, f"gap at plant {plant_id}", {"hours": 99})
                alerts.write(plant_id, account, [verdict])
        reset_settings()

        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds() + 0.5))
        markers = ("globex", SECRET_NAME, globex.split("_")[1])
        yield World(stack, keys, plants, acme_folio.json()["id"], markers)


def _plant(world: World, route: Route, kind: Kind, relation: str) -> tuple[str, int]:
    """The key to send and the plant to ask for; a fresh plant (and a fresh restricted key for it)
    where the route would change the plant for good."""
    key = world.keys[kind.name]
    plant_id = world.plant(kind, relation)
    if route.fresh and relation in OWN:
        admin = world.keys[f"{kind.account} admin"]
        plant_id = call(world.stack, admin, "POST", "/", {"name": f"Fresh {uuid.uuid4().hex}"}).json()["id"]
        if kind.name == "plant-restricted" and relation == "own":
            body = {"name": "fresh site", "scopes": ["read", "write"], "plants": [plant_id]}
            key = call(world.stack, admin, "POST", "/keys", body).json()["key"]
        if kind.name == "portfolio-restricted" and relation == "own":  # reached from the next request on
            added = call(
                world.stack, admin, "POST", f"/portfolios/{world.portfolio}/plants", {"plants": [plant_id]}
            )
            assert added.status == 200, added.text
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
    if relation == "shared" and status == 200 and route.path == "/plant/{id}" and route.method != "HEAD":
        access = "write" if "shared" in kind.changes else "read"
        assert reply.json()["shared"] == {"owner": "Globex Energy", "access": access}
    if relation == "other":  # byte for byte what a missing plant gets, but for the id asked for
        path, body = _render(route, world.missing)
        missing = call(world.stack, key, route.method, path, body)
        assert missing.status == reply.status
        assert missing.headers.get("Content-Type") == reply.headers.get("Content-Type")
        assert _without(missing.text, world.missing) == _without(reply.text, plant_id)


LISTS = ["/?limit=1", "/?q=e&limit=1", "/?q=globex&limit=1", "/alerts?limit=1"]


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
    reached = {world.plant(kind, r) for r in kind.sees & OWN}
    if "/alerts" not in path:  # open alerts: the account's own plants only
        reached |= {world.plant(kind, r) for r in kind.sees & SHARED}
    assert world.other not in listed
    if "/alerts" not in path:  # plants in id order, across accounts
        assert listed == sorted(listed) and len(set(listed)) == len(listed)
    if "q=globex" in path:
        assert listed == []
    elif kind.name == "plant-restricted":
        assert set(listed) == reached
    else:  # and the plants created since (or their data gaps)
        assert reached <= set(listed), (path, listed, reached)
        if "shared" not in kind.sees:
            assert world.plant(kind, "shared") not in listed


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_key_route_and_the_keys_routes(world, kind) -> None:
    """GET /key names the key's account; only the admin key manages keys, its account's only."""
    key = world.keys[kind.name]
    reply = call(world.stack, key, "GET", "/key")
    keys = call(world.stack, key, "GET", "/keys?limit=200")
    if not kind.valid:
        assert reply.status == keys.status == 401
        return
    assert reply.status == 200 and reply.json()["account_id"] == kind.account
    if kind.name == "admin":
        assert keys.status == 200 and _leaks(world, keys) == []
        assert {k["name"] for k in keys.json()["items"]} >= {"acme admin", "acme read", "acme revoked"}
        assert {k["account_id"] for k in [reply.json()]} == {"acme"}
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


def test_a_portfolio_lists_its_plants_page_by_page_and_only_its_account_manages_it(world) -> None:
    """`?portfolio=` reads the portfolio's members, in id order, with cursors bound to it; another
    account's portfolio, or plant, is answered as a missing one; only admin keys change it."""
    admin, stack = world.keys["admin"], world.stack
    ids = [
        call(stack, admin, "POST", "/", {"name": f"Folio {n} {uuid.uuid4().hex[:6]}"}).json()["id"]
        for n in range(3)
    ]
    made = call(stack, admin, "POST", "/portfolios", {"name": "Three", "plants": ids})
    assert made.status == 201, made.text
    folio = made.json()["id"]
    listed, path = [], f"/?portfolio={folio}&limit=2"
    reply = call(stack, admin, "GET", path)
    while True:
        assert reply.status == 200, reply.text
        listed += [p["id"] for p in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            break
        elsewhere = call(stack, admin, "GET", f"/?limit=2&cursor={cursor}")  # bound to the portfolio
        assert (elsewhere.status, elsewhere.json()["error"]["code"]) == (400, "invalid_cursor")
        reply = call(stack, admin, "GET", f"{path}&cursor={cursor}")
    assert listed == ids
    found = call(stack, admin, "GET", f"/?portfolio={folio}&q=folio%201")
    assert [p["id"] for p in found.json()["items"]] == [ids[1]]
    assert call(stack, admin, "DELETE", f"/portfolios/{folio}/plants/{ids[0]}").status == 204
    assert [p["id"] for p in call(stack, admin, "GET", f"/?portfolio={folio}").json()["items"]] == ids[1:]
    assert call(stack, admin, "PUT", f"/portfolios/{folio}", {"name": "Two"}).json()["name"] == "Two"
    assert folio in [p["id"] for p in call(stack, world.keys["read"], "GET", "/portfolios").json()["items"]]
    # another account's portfolio and plant: as missing ones; no change without the admin scope
    globex_folios = call(stack, world.keys["globex"], "GET", "/portfolios").json()["items"]
    theirs = globex_folios[0]["id"]
    for key, method, path, body in (
        (admin, "POST", f"/portfolios/{theirs}/plants", {"plants": [world.own]}),
        *(
            (k, "GET", p, None)
            for k in (admin, world.keys["grantee-write"])
            for p in (f"/?portfolio={theirs}", f"/portfolios/{theirs}")
        ),
    ):
        reply = call(stack, key, method, path, body)
        assert (reply.status, reply.json()["error"]["code"]) == (404, "portfolio_not_found"), reply.text
        assert _leaks(world, reply) == []
    added = call(
        stack, admin, "POST", f"/portfolios/{folio}/plants", {"plants": [world.plant(KINDS[0], "shared")]}
    )
    assert (added.status, added.json()["error"]["code"]) == (404, "plant_not_found")
    refused = call(stack, world.keys["account"], "POST", f"/portfolios/{folio}/plants", {"plants": [ids[0]]})
    assert (refused.status, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    assert call(stack, admin, "DELETE", f"/portfolios/{folio}").status == 204
    gone = call(stack, admin, "GET", f"/?portfolio={folio}")
    assert (gone.status, gone.json()["error"]["code"]) == (404, "portfolio_not_found")
    assert call(stack, admin, "GET", f"/plant/{ids[1]}").status == 200  # its plants stay


def test_a_portfolio_restricted_key_reaches_a_plant_added_later_from_the_next_request(world) -> None:
    """The restriction is judged on the plant's portfolios, read with the plant: no cache to wait for."""
    admin, key, stack = world.keys["admin"], world.keys["portfolio-restricted"], world.stack
    plant_id = call(stack, admin, "POST", "/", {"name": f"Later {uuid.uuid4().hex[:8]}"}).json()["id"]
    assert call(stack, key, "GET", f"/plant/{plant_id}").status == 404
    assert (
        call(stack, admin, "POST", f"/portfolios/{world.portfolio}/plants", {"plants": [plant_id]}).status
        == 200
    )
    assert call(stack, key, "GET", f"/plant/{plant_id}").status == 200
    assert plant_id in [p["id"] for p in call(stack, key, "GET", "/?limit=200").json()["items"]]
    assert call(stack, admin, "DELETE", f"/portfolios/{world.portfolio}/plants/{plant_id}").status == 204
    assert call(stack, key, "GET", f"/plant/{plant_id}").status == 404


def test_grants_are_listed_by_both_sides_and_a_revoked_one_stops_at_the_next_uncached_answer(world) -> None:
    """A grant revoked over the API stops when the gateway's cached answer for a key goes (here a
    new key: not cached); `python -m manage grants revoke` flushes the cache: at once for every key."""
    stack, globex = world.stack, world.keys["globex"]
    plant_id = call(stack, globex, "POST", "/", {"name": f"Lent {uuid.uuid4().hex[:8]}"}).json()["id"]
    grant = call(stack, globex, "POST", "/grants", {"account": "initech", "plant": plant_id})
    assert grant.status == 201, grant.text
    given = call(stack, globex, "GET", "/grants").json()["items"]
    assert grant.json()["id"] in [g["id"] for g in given]
    initech = world.keys["initech admin"]
    received = call(stack, initech, "GET", "/grants?direction=received").json()["items"]
    assert {(g["owner_name"], g["plant"]) for g in received} >= {("Globex Energy", plant_id)}
    # the grantee neither revokes nor shares on what it holds
    other_side = call(stack, initech, "DELETE", f"/grants/{grant.json()['id']}")
    assert (other_side.status, other_side.json()["error"]["code"]) == (404, "grant_not_found")
    stack.api.authorizer.flush()  # the grant applies to keys whose answers were cached before it
    assert call(stack, initech, "GET", f"/plant/{plant_id}").json()["shared"]["access"] == "read"
    onward = call(stack, initech, "POST", "/grants", {"account": "acme", "plant": plant_id})
    assert (onward.status, onward.json()["error"]["code"]) == (404, "plant_not_found")
    assert call(stack, globex, "DELETE", f"/grants/{grant.json()['id']}").status == 200
    fresh = call(stack, initech, "POST", "/keys", {"name": "after", "scopes": ["read"]}).json()["key"]
    refused = call(stack, fresh, "GET", f"/plant/{plant_id}")
    assert (refused.status, refused.json()["error"]["code"]) == (404, "plant_not_found")
    # through the operators' command, which flushes the cache: the cached key too
    assert world.stack.dynamodb is not None
    cli = [
        sys.executable,
        "-m",
        "manage",
        "--endpoint",
        world.stack.dynamodb.endpoint,
        "--api",
        world.stack.api_url,
    ]
    made = subprocess.run(
        [*cli, "grants", "create", "--account", "globex", "--to", "initech", "--plant", f"{plant_id}",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert call(stack, initech, "GET", f"/plant/{plant_id}").status == 200
    revoked = subprocess.run(
        [*cli, "grants", "revoke", "--account", "globex", json.loads(made.stdout.splitlines()[0])["id"]],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert revoked.returncode == 0 and "flushed" in revoked.stdout, revoked.stderr
    assert call(stack, initech, "GET", f"/plant/{plant_id}").status == 404
