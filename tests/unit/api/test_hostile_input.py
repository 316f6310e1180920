"""Classes of hostile or careless input, each closed for the whole class, against moto."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.exceptions import GetError, QueryError, TransactWriteError

from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from tests.support import OWNER
from tests.unit.functions.test_plants_api import assert_error

BASE = "/api/solar-plant"
pytestmark = pytest.mark.usefixtures("aws")


# 1. Names whose stored key is far longer than the name
@pytest.mark.parametrize("name", ["\ufdfa" * 100, "\ufdfb" * 100, "\ufdfa" * 40 + "a" * 60])
def test_a_name_that_normalizes_too_long_is_a_422_not_a_storage_error(api, name) -> None:
    """U+FDFA becomes 18 Arabic letters (33 bytes) under NFKC; 100 of them, 3,300 bytes."""
    assert len(plants.name_key(name).encode()) > plants.NAME_KEY_MAX_BYTES
    _, _, error = api("POST", BASE, {"name": name})
    assert_error(error, 422, "name_too_long")
    plant = api("POST", BASE, {"name": "Short"})[2]
    _, _, error = api("PUT", f"{BASE}/plant/{plant['id']}", {"name": name})
    assert_error(error, 422, "name_too_long")
    assert api("GET", BASE)[2]["items"] == [plant]


def test_the_longest_names_that_fit_are_stored() -> None:
    name = "ß" * 100  # casefolds to 200 bytes: well inside the limit
    assert plants.create_plant(OWNER, name).name == name


# 2. Dates at the edges of the calendar
@pytest.mark.parametrize(
    "query",
    ["from=0001-01-01&to=2024-01-01", "from=2024-01-01&to=9999-12-31", "from=9999-12-31&to=9999-12-31",
     "from=1969-12-31&to=2024-01-01", "from=2024-01-01&to=2200-01-01"],
)  # fmt: skip
@pytest.mark.parametrize(
    "endpoint", ["data", "report", "report?granularity=hour&", "report?granularity=month&"]
)
def test_days_outside_the_accepted_range_are_a_422(api, endpoint, query) -> None:
    plant = api("POST", BASE, {"name": "Edges"})[2]
    path = endpoint if "?" in endpoint else f"{endpoint}?"
    _, _, error = api("GET", f"{BASE}/{path}plant-id={plant['id']}&{query}")
    assert_error(error, 422, "validation_error")


def test_the_widest_accepted_range_is_answered(api) -> None:
    plant = api("POST", BASE, {"name": "Wide"})[2]
    for endpoint in ("data?", "report?", "report?granularity=month&", "report?granularity=hour&"):
        status, _, page = api("GET", f"{BASE}/{endpoint}plant-id={plant['id']}&from=1970-01-01&to=2199-12-31")
        assert status == 200 and page["items"] == []


# 3. Pathological JSON bodies
@pytest.mark.parametrize(
    "body",
    [
        '{"name": ' + "9" * 5000 + "}",  # more digits than Python converts to an int
        '{"name": "x", "n": -' + "1" * 4301 + "}",
        "{" * 3000,
        "\ufeff" + '{"name": "x"}',
    ],
)
@pytest.mark.parametrize(("method", "path"), [("POST", BASE), ("PUT", f"{BASE}/plant/1")])
def test_json_that_cannot_be_read_is_a_400(api, body, method, path) -> None:
    api("POST", BASE, {"name": "Target"})
    status, _, error = api(method, path, body)
    assert status == 400 and error["error"]["code"] == "malformed_json", error


@pytest.mark.parametrize("depth", [1000, 5000, 8000])
def test_deeply_nested_json_is_a_4xx(api, depth) -> None:
    for body in ("[" * depth + "]" * depth, '{"name": "x", "n": ' + "[" * depth + "]" * depth + "}"):
        status, _, error = api("POST", BASE, body)
        assert status in (400, 422), error


def test_the_json_reader_reports_recursion_as_malformed(monkeypatch) -> None:
    """Bodies are capped at 16 KiB, too small to exhaust the parser here; a parser that runs out
    of stack is still a malformed body, not a crash."""
    from powerfactor.api import resolver as http

    def too_deep(_: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(http.json, "loads", too_deep)
    with pytest.raises(json.JSONDecodeError):
        http._json_body("[[[]]]")


# 5. Storage errors: only outages are 503
def _client_error(code: str, operation: str = "Query") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


@pytest.mark.parametrize(
    ("cause", "status", "code"),
    [
        (_client_error("ProvisionedThroughputExceededException"), 503, "storage_unavailable"),
        (_client_error("ThrottlingException"), 503, "storage_unavailable"),
        (_client_error("InternalServerError"), 503, "storage_unavailable"),
        (ReadTimeoutError(endpoint_url="http://dynamodb"), 503, "storage_unavailable"),
        (_client_error("ValidationException"), 500, "internal_error"),
        (_client_error("ResourceNotFoundException"), 500, "internal_error"),
    ],
)
def test_only_outages_are_a_503(api, monkeypatch, cause, status, code) -> None:
    def fail(*_, **__):
        raise QueryError("Failed to query items", cause)

    monkeypatch.setattr(plant_storage._PlantItem.by_account, "query", fail)
    _got, headers, error = api("GET", BASE)
    assert_error(error, status, code)
    if status == 503:
        assert headers["Retry-After"] == "1"
    else:
        assert "request" in error["error"]["message"]  # the id to quote when reporting it


def test_a_refused_transaction_without_reasons_is_reported_not_crashed_on(api, monkeypatch, caplog) -> None:
    """A transaction refused as a whole has no cancellation reasons; the mapping must not index them."""
    from pynamodb import transactions

    plant = api("POST", BASE, {"name": "exists"})[2]

    def refuse(self, *_):
        raise TransactWriteError("Failed to write transaction items", _client_error("ValidationException"))

    monkeypatch.setattr(transactions.TransactWrite, "__exit__", refuse)
    for method, path, body in [
        ("POST", BASE, {"name": "x"}),
        ("PUT", f"{BASE}/plant/{plant['id']}", {"name": "y"}),
        ("DELETE", f"{BASE}/plant/{plant['id']}", None),
    ]:
        _, _, error = api(method, path, body)
        assert_error(error, 500, "internal_error")
    # what is logged is DynamoDB's refusal, not an IndexError of the error mapping
    logged = [r.exc_info[0] for r in caplog.records if r.exc_info]
    assert logged == [TransactWriteError] * 3, logged


def test_a_get_that_times_out_is_a_503(api, monkeypatch) -> None:
    def timeout(*_, **__):
        raise GetError("Failed to get item", ReadTimeoutError(endpoint_url="http://dynamodb"))

    monkeypatch.setattr(plant_storage._PlantItem, "get", timeout)
    _, _, error = api("GET", f"{BASE}/plant/1")
    assert_error(error, 503, "storage_unavailable")
    assert json.dumps(error)


@pytest.mark.parametrize("value", [5e-324, 1e-10, 1e200, 1.7976931348623157e308])
def test_readings_dynamodb_could_not_sum_are_invalid_items(value) -> None:
    """The monitoring client drops them (and asks again) instead of failing the whole write."""
    from pydantic import TypeAdapter, ValidationError

    from powerfactor.sync.vendor import Value

    with pytest.raises(ValidationError):
        TypeAdapter(Value).validate_python(value)
    for fine in (0.0, 1e-9, 42.5, 1e9):
        assert TypeAdapter(Value).validate_python(fine) == fine
