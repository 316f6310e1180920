"""What the API functions enforce themselves, against moto: the caller the authorizer passed
(defence in depth behind API Gateway), the body size limit, and the cap on plants."""

import json
import logging

import pytest

from powerfactor.api.resolver import MAX_BODY_BYTES
from tests.unit.functions.test_plants_api import assert_error

BASE = "/api/solar-plant"
WRITES = [
    ("POST", BASE, {"name": "W"}),
    ("PUT", f"{BASE}/plant/1", {"name": "W"}),
    ("DELETE", f"{BASE}/plant/1", None),
]
READS = [BASE, f"{BASE}/plant/1", f"{BASE}/data?plant-id=1&from=2024-01-01&to=2024-01-01",
         f"{BASE}/report?plant-id=1&from=2024-01-01&to=2024-01-01", f"{BASE}/key",
         f"{BASE}/?q=exist"]  # fmt: skip

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def plant(api) -> dict:
    return api("POST", BASE, {"name": "Existing"})[2]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_key_cannot_write(api, plant, method, path, body) -> None:
    _, _, error = api(method, path, body, scopes=("read",))
    assert_error(error, 403, "insufficient_scope")
    assert api("GET", f"{BASE}/plant/1")[2] == plant  # nothing changed


@pytest.mark.parametrize("path", READS)
def test_a_write_only_key_cannot_read(api, plant, path) -> None:
    assert_error(api("GET", path, scopes=("write",))[2], 403, "insufficient_scope")
    assert api("GET", path, scopes=("read",))[0] == 200


@pytest.mark.parametrize(("method", "path", "body"), [*WRITES, *[("GET", p, None) for p in READS]])
def test_no_authorizer_context_is_a_401(api, plant, method, path, body) -> None:
    _, _, error = api(method, path, body, scopes=None)
    assert_error(error, 401, "unauthorized")


def test_a_body_over_the_limit_is_refused_before_any_work(api) -> None:
    body = json.dumps({"name": "x" * MAX_BODY_BYTES})
    _, _, error = api("POST", BASE, body)
    assert_error(error, 413, "payload_too_large")
    assert api("GET", BASE)[2]["items"] == []
    assert api("POST", BASE, json.dumps({"name": "y" * 100}).encode())[0] == 201  # well under it


def test_requests_are_logged_with_the_key_id_and_name(api, caplog) -> None:
    caplog.set_level(logging.INFO)
    api("PUT", f"{BASE}/plant/999", {"name": "x"}, scopes=("read",))
    formatter = logging.getLogger("powerfactor").handlers[0].formatter
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    refused = next(line for line in lines if line["message"] == "API key lacks a scope")
    assert refused["key_id"] == "testkey00000" and refused["key_name"] == "tests"


def test_the_plant_cap_holds_and_a_delete_frees_a_place(api, use_function_env, aws) -> None:
    use_function_env("PlantsApiFunction", queue_urls=aws, MaxPlants="3")
    created = [api("POST", BASE, {"name": f"P{i}"})[0] for i in range(3)]
    assert created == [201] * 3
    _, _, error = api("POST", BASE, {"name": "One too many"})
    assert_error(error, 409, "plant_limit_reached")
    assert "at most 3 plants" in error["error"]["message"]
    names = [p["name"] for p in api("GET", BASE)[2]["items"]]
    assert names == ["P0", "P1", "P2"]  # nothing half-created: no plant, no name claim
    assert api("DELETE", f"{BASE}/plant/1")[0] == 204
    assert api("POST", BASE, {"name": "One too many"})[0] == 201
    assert api("POST", BASE, {"name": "Another"})[0] == 409


def test_writes_that_keep_conflicting_are_a_503_to_retry(api, plant, monkeypatch) -> None:
    from powerfactor.plants import logic as plants
    from powerfactor.runtime.errors import StorageBusy

    def busy(*_: object, **__: object) -> None:
        raise StorageBusy("plant 1 kept changing during the update")

    monkeypatch.setattr(plants.storage, "delete_plant", busy)
    _, headers, error = api("DELETE", f"{BASE}/plant/{plant['id']}")
    assert_error(error, 503, "storage_busy")
    assert headers["Retry-After"] == "1"


def test_a_401_from_the_function_says_how_to_authenticate(api) -> None:
    status, headers, _ = api("GET", BASE, scopes=None)
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
