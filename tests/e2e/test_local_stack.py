"""End to end: `make dev` started as a newcomer starts it, driven over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from devstack.template import ROOT, load_template
from manage.target import local as local_target
from manage.target import use_tables
from powerfactor.access import keys as apikeys
from tests.support import UNLIMITED_TIERS, make_dev

pytestmark = pytest.mark.e2e
POSTMAN = ROOT / "tests" / "data" / "original-postman-collection.json"  # the original app's, unchanged


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Client:
    """Requests to the stack, with an API key (`key=None`: without an Authorization header)."""

    def __init__(self, base: str, key: str | None = None) -> None:
        self.base = base
        self.key = key

    def with_key(self, key: str | None) -> Client:
        return Client(self.base, key)

    def __call__(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.key is not None:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[subprocess.Popen, Client]]:
    # schemathesis sends faster than the default stage limit (50/s); throttling has its own test
    tiers = " ".join(f"--param {name}={value}" for name, value in UNLIMITED_TIERS.items())
    with make_dev(f"--param ThrottlingRateLimit=10000 --param ThrottlingBurstLimit=5000 {tiers}") as dev:
        printed = dev.printed
        # the default account and its three keys, each kept in its file (the admin key where the
        # single development key was, as the README says)
        assert re.search(r"Account +default ", printed), printed
        keys = {}
        for role, scopes, suffix in (
            ("Admin", "read \\+ write \\+ admin", ""),
            ("Write", "read \\+ write", ".write"),
            ("Read", "read", ".read"),
        ):
            key = re.search(
                rf"{role} key +(pfk_\S+) +\({scopes}, active; kept in \.devstack/api-key{suffix}\)", printed
            )
            assert key, printed
            assert (ROOT / ".devstack" / f"api-key{suffix}").read_text().strip() == key[1]
            keys[role] = key[1]
        client = Client(dev.url, keys["Admin"])
        client.keys = keys
        client.db_endpoint = f"http://127.0.0.1:{dev.db_port}"
        assert f"{dev.url}/api/solar-plant/" in printed and f"{dev.url}/dashboard/" in printed
        assert f"http://127.0.0.1:{dev.db_port}" in printed and "DynamoDB Local" in printed
        assert f"http://127.0.0.1:{dev.monitoring_port}/" in printed
        yield dev.process, client


def test_plants_crud_over_http(stack) -> None:
    _, call = stack
    status, plant = call("POST", "/api/solar-plant/", {"name": "E2E Plant"})
    assert status == 201 and plant["name"] == "E2E Plant"
    assert call("GET", f"/api/solar-plant/plant/{plant['id']}") == (200, plant)
    status, listed = call("GET", "/api/solar-plant")
    assert status == 200 and plant in listed["items"]
    status, renamed = call("PUT", f"/api/solar-plant/plant/{plant['id']}", {"name": "Renamed"})
    assert status == 200 and renamed["name"] == "Renamed"
    assert call("DELETE", f"/api/solar-plant/plant/{plant['id']}") == (204, None)
    status, error = call("GET", f"/api/solar-plant/plant/{plant['id']}")
    assert status == 404 and error["error"]["code"] == "plant_not_found"


def test_errors_over_http(stack) -> None:
    _, call = stack
    assert call("GET", "/api/solar-plant/plant/abc")[0] == 422
    assert call("POST", "/api/solar-plant/plant/1")[0] == 405
    assert call("GET", "/no/such/route")[0] == 404


def test_make_devs_keys_read_write_and_manage_keys_as_their_scopes_say(stack) -> None:
    _, admin = stack
    read, write = admin.with_key(admin.keys["Read"]), admin.with_key(admin.keys["Write"])
    assert read("GET", "/api/solar-plant/")[0] == 200
    _assert_error(read("POST", "/api/solar-plant/", {"name": "Read only"}), 403, "insufficient_scope")
    status, plant = write("POST", "/api/solar-plant/", {"name": "Written by make dev's write key"})
    assert status == 201 and read("GET", f"/api/solar-plant/plant/{plant['id']}")[0] == 200
    _assert_error(write("GET", "/api/solar-plant/keys"), 403, "insufficient_scope")
    status, page = admin("GET", "/api/solar-plant/keys")
    assert status == 200 and {k["name"] for k in page["items"]} >= {
        "development admin key (make dev)",
        "development write key (make dev)",
        "development read key (make dev)",
    }
    assert all("pfk_" not in json.dumps(k) for k in page["items"])  # never a secret
    for key in (admin, read, write):
        assert key("GET", "/api/solar-plant/key")[1]["account_id"] == "default"


def test_twenty_concurrent_creates_over_http(stack) -> None:
    _, call = stack
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: call("POST", "/api/solar-plant", {"name": "Race"})[0], range(20)))
    assert sorted(statuses) == [201] + [409] * 19


SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.json")
DEV_KEY = "Bearer <the stack's development key>"  # cases are generated before the stack starts


@SCHEMA.auth()
class DevKeyAuth:
    """A key on every case, but those where schemathesis leaves it out on purpose (and expects
    401); the test puts the running stack's key in its place."""

    def get(self, case, ctx) -> str:
        return DEV_KEY

    def set(self, case, data: str, ctx) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@SCHEMA.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_schema(case, stack) -> None:
    """schemathesis, from the committed schema: no 5xx, and every response as documented.

    `positive_data_acceptance` is left out: a schema-valid but unknown plant id or a made-up
    cursor is rightly refused (404, 400), and those answers are documented.
    """
    _, client = stack
    if (case.headers or {}).get("Authorization") == DEV_KEY:
        case.headers["Authorization"] = f"Bearer {client.key}"
    case.call_and_validate(
        base_url=client.base,
        timeout=30,
        excluded_checks=[checks.positive_data_acceptance],
    )


def _manage(client: Client, *args: str) -> str:
    """`python -m manage keys ...` against the stack's DynamoDB, as the README shows it."""
    done = subprocess.run(
        [sys.executable, "-m", "manage", "--endpoint", client.db_endpoint, "keys", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def _new_key(client: Client, *scopes: str) -> str:
    return json.loads(
        _manage(client, "create", "--name", "e2e", *[f"--scope={s}" for s in scopes], "--json")
    )["key"]


def _assert_error(reply: tuple[int, object], status: int, code: str) -> None:
    assert reply[0] == status, reply
    assert reply[1]["error"]["status"] == status and reply[1]["error"]["code"] == code, reply


# every route of the template, with a concrete path, and the methods to try on it
ROUTES = sorted(
    {
        (route.path.replace("{plant_id}", "1").replace("{proxy+}", "no/such/route"), method)
        for route in load_template().api_routes()
        if route.authorized  # the dashboard's files are public: test_dashboard.py
        for method in ([route.method] if route.method != "ANY" else ["GET", "POST", "PATCH"])
    }
)
WRITE_ROUTES = [
    ("POST", "/api/solar-plant", {"name": "nope"}),
    ("PUT", "/api/solar-plant/plant/{id}", {"name": "nope"}),
    ("DELETE", "/api/solar-plant/plant/{id}", None),
    ("PATCH", "/api/solar-plant/plant/{id}", {"name": "nope"}),
    ("POST", "/api/solar-plant/report", None),
]


def test_every_route_refuses_a_request_without_a_valid_key(stack) -> None:
    _, client = stack
    expired_key = _expired_key(client)
    bad = {
        "no header": None,
        "malformed": "pfk_tooshort",
        "unknown": "pfk_" + "a" * 12 + "_" + "b" * 40,
        "expired": expired_key,
        "wrong secret": client.key[:-4] + "abcd",
    }
    for path, method in ROUTES:
        for key in bad.values():
            reply = client.with_key(key)(method, path, {"name": "x"} if method != "GET" else None)
            _assert_error(reply, 401, "unauthorized")


def _expired_key(client: Client) -> str:
    """A key that expired a moment ago, never used while it was valid (so nothing cached it)."""
    with use_tables(local_target(client.db_endpoint)):
        token, key = apikeys.create_key("expires soon", ["read"], datetime.now(UTC) + timedelta(seconds=1))
    while datetime.now(UTC) <= key.expires_at:
        time.sleep(0.1)
    return token


def test_a_revoked_key_is_refused_and_a_cached_one_lasts_the_ttl(stack) -> None:
    _, client = stack
    unused, used = _new_key(client, "read"), _new_key(client, "read")
    assert client.with_key(used)("GET", "/api/solar-plant")[0] == 200  # cached for 300 s now
    for key in (unused, used):
        _manage(client, "revoke", apikeys.parse_token(key)[0])
    _assert_error(client.with_key(unused)("GET", "/api/solar-plant"), 401, "unauthorized")
    # as the README says: a revocation bites when the authorizer cache forgets the key
    assert client.with_key(used)("GET", "/api/solar-plant")[0] == 200


def test_a_read_key_cannot_write_even_after_a_cached_read(stack) -> None:
    _, client = stack
    status, plant = client("POST", "/api/solar-plant", {"name": "Scope target"})
    assert status == 201
    reader = client.with_key(_new_key(client, "read"))
    status, read = reader("GET", f"/api/solar-plant/plant/{plant['id']}")  # its policy is cached now
    assert status == 200 and read["name"] == plant["name"]
    for method, path, body in WRITE_ROUTES:
        _assert_error(reader(method, path.format(id=plant["id"]), body), 403, "insufficient_scope")
    status, after = client("GET", f"/api/solar-plant/plant/{plant['id']}")
    assert status == 200 and (after["name"], after["updated_at"]) == (plant["name"], plant["updated_at"])
    writer = client.with_key(_new_key(client, "write"))
    _assert_error(writer("GET", "/api/solar-plant"), 403, "insufficient_scope")
    assert writer("PUT", f"/api/solar-plant/plant/{plant['id']}", {"name": "Written"})[0] == 200
    assert writer("DELETE", f"/api/solar-plant/plant/{plant['id']}") == (204, None)


def _raw(client: Client, method: str, path: str, key: str | None) -> tuple[int, dict[str, str], bytes]:
    """A request as sent (the method's case kept), with its status, headers and body bytes."""
    request = urllib.request.Request(client.base + path, method=method)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_unrouted_methods_are_405_for_every_key_and_401_without(stack) -> None:
    """Through the authorizer's policy and the function: a method no route has is not a 403."""
    _, client = stack
    keys = [client.key, _new_key(client, "read"), _new_key(client, "write")]
    for method, key in itertools.product(["OPTIONS", "PROPFIND", "TRACE", "get", "Post"], keys):
        status, headers, body = _raw(client, method, "/api/solar-plant/", key)
        assert (status, headers.get("Allow")) == (405, "GET, HEAD, POST"), (method, body)
        assert json.loads(body)["error"]["code"] == "method_not_allowed"
        assert _raw(client, method, "/api/solar-plant/", None)[0] == 401


def test_head_has_gets_status_and_headers_without_a_body(stack) -> None:
    _, client = stack
    reader = _new_key(client, "read")
    for path in ("/api/solar-plant/", "/api/solar-plant/key", "/dashboard/"):
        got, head = _raw(client, "GET", path, reader), _raw(client, "HEAD", path, reader)
        assert head[0] == got[0] == 200 and head[2] == b"" and got[2]
        for name in ("Content-Type", "Content-Length"):
            assert head[1][name] == got[1][name], (path, name)
        assert int(head[1]["Content-Length"]) == len(got[2])


def test_the_gateway_answers_malformed_request_lines_and_keeps_encoded_slashes(stack) -> None:
    _, client = stack
    host, port = urllib.parse.urlsplit(client.base).netloc.split(":")
    for line, status in ((b"GET /" + b"a" * (65537 - 5), b"414"), (b"GET / HTTP/3.0\r\n", b"505")):
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(line)
            answer = b"".join(iter(lambda conn=conn: conn.recv(65536), b""))
        assert answer.split(b" ")[1] == status, answer[:100]
    status, plant = client("POST", "/api/solar-plant", {"name": "Encoded slash"})
    body = {"from": "2024-01-01", "to": "2024-01-02"}
    assert client("POST", f"/api/solar-plant/plant/{plant['id']}%2Fsync", body)[0] == 405
    assert client("GET", f"/api/solar-plant/plant/{plant['id']}")[1]["sync"]["resync"] is None


def test_a_body_over_the_limit_is_413(stack) -> None:
    _, client = stack
    _assert_error(client("POST", "/api/solar-plant", {"name": "x" * 20_000}), 413, "payload_too_large")


def test_the_original_postman_collection_runs_with_the_key(stack) -> None:
    """Every request of the original app's Postman collection, as written, with only the base URL, the
    plant id and the Authorization header changed."""
    _, client = stack
    collection = json.loads(POSTMAN.read_text())
    plant_id = None
    seen = []
    for item in collection["item"]:
        request = item["request"]
        url = request["url"]["raw"].replace("http://127.0.0.1:8000", "")
        if plant_id is not None:
            url = url.replace("plant/1", f"plant/{plant_id}").replace("plant-id=1", f"plant-id={plant_id}")
        body = json.loads(request["body"]["raw"]) if request.get("body", {}).get("raw") else None
        status, payload = client(request["method"], url, body)
        if request["method"] == "POST":
            plant_id = payload["id"]
        seen.append((request["method"], status))
    assert seen == [("POST", 201), ("GET", 200), ("GET", 200), ("GET", 200), ("DELETE", 204),
                    ("GET", 404), ("PUT", 404)]  # fmt: skip
    without_key = client.with_key(None)
    assert (
        without_key(
            "GET", collection["item"][1]["request"]["url"]["raw"].replace("http://127.0.0.1:8000", "")
        )[0]
        == 401
    )


def test_ctrl_c_stops_everything_and_leaves_no_process(stack) -> None:
    process, _ = stack
    tree = _descendants(process.pid) | {process.pid}
    assert len(tree) >= 3  # make, python, DynamoDB Local (and warm Lambda workers)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
        time.sleep(0.2)
    assert [pid for pid in tree if _alive(pid)] == []
