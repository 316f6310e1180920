"""Strict input, second pass (after test_hostile_input.py): each class of request that was answered
with a 5xx, accepted when it must be refused, or answered with the wrong status or content, closed
for every route and field it touches. Hypothesis draws from each class, besides the examples.

Moto through the `aws` fixture (function-scoped: the examples of one test share one account).
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import socket
import uuid
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devstack.apigateway import ApiGateway
from powerfactor.alerts import logic as alerts
from powerfactor.api.resolver import negotiate
from powerfactor.api.routes import BASE
from powerfactor.datapoints import reports
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.plants.schemas import timezone_names
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import InvalidCursor, InvalidRange, StorageBusy
from powerfactor.sync import resync
from tests.support import MOTO, OWNER, PURE, serving
from tests.unit.functions.test_plants_api import assert_error

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("aws")


# Every route of the API with a concrete path, and the body-taking ones with a valid body.
GET_ROUTES = [
    f"{BASE}/",
    f"{BASE}/plant/{{id}}",
    f"{BASE}/plant/{{id}}/alerts",
    f"{BASE}/alerts",
    f"{BASE}/key",
    f"{BASE}/data/?plant-id={{id}}&from=2024-01-01&to=2024-01-02",
    f"{BASE}/report/?plant-id={{id}}&from=2024-01-01&to=2024-01-02",
    f"{BASE}/data/?plant-id={{id}}&from=2024-01-01&to=2024-01-02&fields=provenance",
    f"{BASE}/plant/{{id}}/revisions?from=2024-01-01&to=2024-01-02",
]
REVERT = f"{BASE}/plant/{{id}}/resyncs/20240101-20240102-20240103T000000000000Z/revert"
BODY_ROUTES = [
    ("POST", f"{BASE}/", {"name": "Fresh"}),
    ("PUT", f"{BASE}/plant/{{id}}", {"name": "Renamed"}),
    ("PATCH", f"{BASE}/plant/{{id}}", {"capacity_kwp": 10}),
    ("POST", f"{BASE}/plant/{{id}}/sync", {"from": "2024-01-01", "to": "2024-01-02"}),
    ("POST", REVERT, {"reason": "a wrong correction"}),
]


def _plant(api, name: str | None = None) -> int:
    status, _, plant = api("POST", BASE, {"name": name or f"plant {uuid.uuid4()}"})
    assert status == 201, plant
    return plant["id"]


def _fmt(day: datetime) -> str:
    """A day as YYYY-MM-DD for any year (strftime writes year 1 as `1`)."""
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


# -- 1. Forged cursors at the calendar's edge: 400, never an OverflowError ---------------------

START, LAST = date(2024, 1, 1), date(2024, 1, 31)
INSTANTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59)


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


POSITIONS = {
    "data": st.builds(lambda t, o: f"{_fmt(t)}T{t:%H:%M:%S}{_offset(o)}", INSTANTS, OFFSETS),
    "hour": st.builds(lambda t: f"{_fmt(t)}T{t:%H}:00Z", INSTANTS),
    "day": st.builds(_fmt, INSTANTS),
    "month": st.builds(lambda t: _fmt(t)[:7], INSTANTS),
}


def _read(kind: str, plant_id: int, cursor: str, tz: str) -> None:
    if kind == "data":
        reports.read_data(OWNER, plant_id, START, LAST, 10, cursor, tz)
    else:
        reports.read_report(OWNER, plant_id, START, LAST, kind, 10, cursor, tz)  # type: ignore[arg-type]


@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.parametrize("kind", list(POSITIONS))
@MOTO
@given(data=st.data())
def test_a_forged_cursor_is_checked_against_the_range_before_any_arithmetic(kind, tz, data) -> None:
    """Cursors are not secret: any position can be forged, bound to the right request. One
    outside the request's days is a 400; one inside it reads on; none reaches date arithmetic
    that overflows (year 1 or 9999 with an offset)."""
    plant_id = plants.create_plant(OWNER, f"cursor {uuid.uuid4()}").id
    position = data.draw(
        st.one_of(
            POSITIONS[kind],
            st.sampled_from(
                ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00Z",
                 "9999-12-31T23:00Z", "0001-01-01", "9999-12-31", "0001-01", "9999-12"]
            ),
        )
    )  # fmt: skip
    cursor = cursors.encode(kind, position, reports._request(plant_id, START, LAST, tz), OWNER.scope_key)
    try:
        _read(kind, plant_id, cursor, tz)
    except InvalidCursor:
        return
    # only a position inside the request's days (or within a day of them: another zone's wall
    # time) can be read on
    assert position[:4] == "2024" or position[:7] in ("2023-12", "2025-01"), position


@pytest.mark.parametrize(
    ("kind", "position"),
    [("data", "0001-01-01T00:00:00+01:00"), ("data", "9999-12-31T23:00:00-01:00"),
     ("hour", "0001-01-01T00:00Z"), ("hour", "9999-12-31T23:00Z"), ("day", "9999-12-31"),
     ("month", "0001-01")],
)  # fmt: skip
def test_a_cursor_at_the_calendars_edge_is_a_400_over_http(api, kind, position) -> None:
    plant_id = _plant(api)
    cursor = cursors.encode(kind, position, reports._request(plant_id, START, LAST, "UTC"), OWNER.scope_key)
    route = "data/?" if kind == "data" else f"report/?granularity={kind}&"
    _, _, error = api(
        "GET", f"{BASE}/{route}plant-id={plant_id}&from={START}&to={LAST}&tz=UTC&cursor={cursor}"
    )
    assert_error(error, 400, "invalid_cursor")


def test_a_cursor_inside_the_range_reads_on() -> None:
    plant_id = plants.create_plant(OWNER, "inside").id
    for kind, position in [("data", "2024-01-05T10:00:00+00:00"), ("hour", "2024-01-05T10:00Z"),
                           ("day", "2024-01-05"), ("month", "2024-01")]:  # fmt: skip
        _read(
            kind,
            plant_id,
            cursors.encode(kind, position, reports._request(plant_id, START, LAST, "UTC"), OWNER.scope_key),
            "UTC",
        )


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])


@MOTO
@given(
    position=st.one_of(
        st.text(max_size=60),
        st.text(SURROGATES, min_size=1, max_size=3),
        st.sampled_from(["0001-01-01T00:00:00.000000+00:00#data_gap", "", "#", "##"]),
    )
)
@example(position="\ud800")
def test_a_forged_alert_or_plant_cursor_is_read_or_refused_never_a_crash(position) -> None:  # fmt: skip
    plant_id = plants.create_plant(OWNER, f"alerts {uuid.uuid4()}").id
    attempts = [
        lambda: alerts.plant_alerts(
            OWNER, plant_id, 5, cursors.encode("plant-alerts", position, f"{plant_id}/", OWNER.scope_key)
        ),
        lambda: alerts.open_alerts(OWNER, 5, cursors.encode("open-alerts", position, "", OWNER.scope_key)),
        lambda: plants.list_plants(OWNER, 5, cursors.encode("plants", position, "", OWNER.scope_key)),
    ]
    for attempt in attempts:
        with contextlib.suppress(InvalidCursor):  # or read: never another error
            attempt()


# -- 2. Concurrent re-sync requests: 202 or 409, decided by the conditional write ---------------


def test_a_resync_that_ends_between_the_write_and_the_read_lets_the_request_through(monkeypatch) -> None:
    """The race of issue 21: the conditional write fails on a pending re-sync, which ends before
    the re-read. The request is retried and recorded (202), not an assert (500)."""
    plant_id = plants.create_plant(OWNER, "racing").id
    now = datetime.now(UTC)
    assert (
        plant_storage.request_resync(plant_id, "2024-01-01", "2024-01-02", now, now - timedelta(hours=6))
        is None
    )
    real_load, calls = plant_storage._load, []

    def load_after_the_other_finished(pid: int):
        calls.append(pid)
        if len(calls) == 1:  # the pending re-sync ends now, before the read
            plant_storage._PlantItem(pk=plant_storage._plant_pk(pid)).update(
                actions=[getattr(plant_storage._PlantItem, f).remove() for f in plant_storage._RESYNC_FIELDS]
            )
        return real_load(pid)

    monkeypatch.setattr(plant_storage, "_load", load_after_the_other_finished)
    assert (
        plant_storage.request_resync(plant_id, "2024-02-01", "2024-02-02", now, now - timedelta(hours=6))
        is None
    )
    assert plant_storage.get_plant(plant_id).sync.resync.from_ == date(2024, 2, 1)


def test_a_resync_that_keeps_ending_between_write_and_read_is_a_503_not_an_assert(monkeypatch) -> None:
    plant_id = plants.create_plant(OWNER, "flapping").id
    monkeypatch.setattr(plant_storage, "_conditional_update", lambda *_: None)  # always refused
    now = datetime.now(UTC)
    with pytest.raises(StorageBusy):
        plant_storage.request_resync(plant_id, "2024-01-01", "2024-01-02", now, now - timedelta(hours=6))


def test_racing_resync_requests_are_each_a_202_or_a_409(api, monkeypatch) -> None:
    """Every other refused write is followed by the pending re-sync's end before the re-read (as
    a worker finishing it would): those requests are 202, the others 409, none a 500."""
    plant_id = _plant(api)
    real_load, real_update, races = plant_storage._load, plant_storage._conditional_update, itertools.count()
    refused: list[bool] = []

    def update(*args):
        result = real_update(*args)
        refused.append(result is None)
        return result

    def load(pid: int):
        if refused and refused.pop() and next(races) % 2 == 0:
            real_update(
                pid, [getattr(plant_storage._PlantItem, f).remove() for f in plant_storage._RESYNC_FIELDS],
                plant_storage._PlantItem.pk.exists(),
            )  # fmt: skip
        return real_load(pid)

    monkeypatch.setattr(plant_storage, "_conditional_update", update)
    monkeypatch.setattr(plant_storage, "_load", load)
    statuses = set()
    for _ in range(8):
        status, _, body = api(
            "POST", f"{BASE}/plant/{plant_id}/sync", {"from": "2024-01-01", "to": "2024-01-02"}
        )
        assert status in (202, 409), body
        statuses.add(status)
    assert statuses == {202, 409}


def test_no_assert_stands_for_a_runtime_condition_in_the_layer_or_the_functions() -> None:
    """`python -O` drops asserts, and a condition another writer can change is no invariant."""
    sources = [
        *(ROOT / "layers/powerfactor/powerfactor").rglob("*.py"),
        *(ROOT / "functions").glob("*/app.py"),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


# -- 3. A JSON array where an object is expected -----------------------------------------------

OBJECTS = st.fixed_dictionaries({"name": st.text("abcxyz ", min_size=1, max_size=10)})


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
@MOTO
@given(items=st.lists(st.one_of(OBJECTS, st.integers(), st.none()), max_size=3))
def test_an_array_body_is_a_422_not_its_first_element(api, method, path, body, items) -> None:
    plant_id = _plant(api)
    _, _, before = api("GET", f"{BASE}/plant/{plant_id}")
    for array in ([body, *items], items):
        status, _, error = api(method, path.format(id=plant_id), array)
        assert status == 422 and error["error"]["code"] == "validation_error", (array, error)
    assert api("GET", f"{BASE}/plant/{plant_id}")[2] == before


# -- 4. A body that is not UTF-8 -----------------------------------------------------------------

NOT_UTF8 = st.binary(min_size=1, max_size=40).filter(lambda b: not _is_utf8(b))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
@MOTO
@given(junk=NOT_UTF8)
@example(junk=b'{"name": "Caf\xe9"}')
def test_a_body_that_is_not_utf8_is_a_400_never_stored_with_replacements(
    api, method, path, body, junk
) -> None:
    plant_id = _plant(api)
    status, _, error = api(method, path.format(id=plant_id), junk)
    assert_error(error, 400, "malformed_json")
    assert status == 400


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=latin-1", "application/json;charset=ISO-8859-1",
     "application/json; charset=utf-16",
     "application/merge-patch+json; charset=windows-1252", "application/jsonx", "text/plain; charset=utf-8"],
)  # fmt: skip
def test_a_body_declared_in_another_charset_or_type_is_a_415(api, method, path, body, content_type) -> None:
    import json

    plant_id = _plant(api)
    data = json.dumps(body).encode("latin-1")
    _, _, error = api(method, path.format(id=plant_id), data, headers={"Content-Type": content_type})
    assert_error(error, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", 'application/json; charset="utf-8"', "Application/JSON",
     "application/merge-patch+json;charset=utf8"],
)  # fmt: skip
def test_a_body_declared_as_utf8_json_is_read(api, content_type) -> None:
    status, _, plant = api(
        "POST", BASE, {"name": f"ok {content_type}"}, headers={"Content-Type": content_type}
    )
    assert status == 201, plant


# -- 5. Types coerced ----------------------------------------------------------------------------

COERCIBLE_NUMBERS = st.one_of(
    st.booleans(), st.integers(1, 1000).map(str), st.floats(1, 1000).map(repr), st.just("1e3")
)
COERCIBLE_DAYS = st.one_of(
    st.integers(0, 2_000_000_000), st.floats(0, 2e9), st.just("2024-01-01T00:00:00"),
    st.just("2024-01-01 00:00"),
    st.just("20240101"), st.booleans(),
)  # fmt: skip


@MOTO
@given(field=st.sampled_from(["capacity_kwp", "latitude", "longitude"]), value=COERCIBLE_NUMBERS)
def test_booleans_and_numeric_strings_are_not_numbers(api, field, value) -> None:
    plant_id = _plant(api)
    for method, path, body in [("POST", BASE, {"name": f"n {field} {value!r}", field: value}),
                               ("PATCH", f"{BASE}/plant/{plant_id}", {field: value})]:  # fmt: skip
        status, _, error = api(method, path, body)
        assert status == 422 and error["error"]["details"][0]["location"].endswith(field), (body, error)


@MOTO
@given(value=COERCIBLE_DAYS)
def test_numbers_and_datetimes_are_not_days(api, value) -> None:
    plant_id = _plant(api)
    for method, path, body in [
        ("POST", BASE, {"name": f"d {value!r}", "commissioned_on": value}),
        ("PATCH", f"{BASE}/plant/{plant_id}", {"commissioned_on": value}),
        ("POST", f"{BASE}/plant/{plant_id}/sync", {"from": value, "to": "2024-01-02"}),
        ("POST", f"{BASE}/plant/{plant_id}/sync", {"from": "2024-01-01", "to": value}),
    ]:
        status, _, error = api(method, path, body)
        assert status == 422 and error["error"]["code"] == "validation_error", (body, error)


@MOTO
@given(
    flag=st.sampled_from(["remove_missing", "dry_run"]),
    value=st.one_of(
        st.integers(), st.floats(allow_nan=False), st.sampled_from(["true", "1", "yes", ""]), st.none()
    ),
)
def test_resync_flags_are_json_booleans_only(api, flag, value) -> None:
    plant_id = _plant(api)
    body = {"from": "2024-01-01", "to": "2024-01-02", flag: value}
    status, _, error = api("POST", f"{BASE}/plant/{plant_id}/sync", body)
    assert status == 422 and error["error"]["details"][0]["location"].endswith(flag), (body, error)


def test_a_fields_python_name_is_not_accepted_beside_its_alias(api) -> None:
    plant_id = _plant(api)
    for body in (
        {"from_": "2024-01-01", "to": "2024-01-02"},
        {"from": "2024-01-01", "from_": "2023-01-01", "to": "2024-01-02"},
    ):
        status, _, error = api("POST", f"{BASE}/plant/{plant_id}/sync", body)
        assert status == 422 and error["error"]["code"] == "validation_error", (body, error)
    status, _, error = api("GET", f"{BASE}/data/?plant_id={plant_id}&from=2024-01-01&to=2024-01-02")
    assert status == 422, error


def _decorated(number: int, decoration: str) -> str:
    text = str(number)
    return {
        "zero": "0" + text, "plus": "+" + text, "minus": "-" + text, "space": " " + text, "tail": text + " ",
        "underscore": text[:1] + "_" + text[1:] if len(text) > 1 else text + "_0", "tab": "\t" + text,
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in text),
        "arabic": "".join(chr(ord(c) + 0x0630) for c in text),
        "float": text + ".0", "exp": text + "e0", "hex": hex(number),
    }[decoration]  # fmt: skip


DECORATIONS = [
    "zero",
    "plus",
    "minus",
    "space",
    "tail",
    "underscore",
    "tab",
    "fullwidth",
    "arabic",
    "float",
    "exp",
    "hex",
]


@MOTO
@given(decoration=st.sampled_from(DECORATIONS), small=st.integers(1, 9))
@example(decoration="underscore", small=1)
def test_integer_parameters_are_decimal_digits_only(api, decoration, small) -> None:
    from urllib.parse import quote

    plant_id = _plant(api)
    value = quote(_decorated(plant_id if decoration != "underscore" else plant_id * 10 + small, decoration))
    limit = quote(_decorated(small, decoration))
    paths = [
        f"{BASE}/plant/{value}", f"{BASE}/plant/{value}/alerts", f"{BASE}/?limit={limit}",
        f"{BASE}/alerts?limit={limit}", f"{BASE}/plant/{plant_id}/alerts?limit={limit}",
        f"{BASE}/data/?plant-id={value}&from=2024-01-01&to=2024-01-01",
        f"{BASE}/report/?plant-id={plant_id}&from=2024-01-01&to=2024-01-01&limit={limit}",
    ]  # fmt: skip
    for path in paths:
        status, _, error = api("GET", path)
        assert status == 422 and error["error"]["code"] == "validation_error", (path, error)
    status, _, error = api("PATCH", f"{BASE}/plant/{value}", {"capacity_kwp": 1})
    assert status == 422, error


def test_canonical_integers_are_read(api) -> None:
    plant_id = _plant(api)
    assert api("GET", f"{BASE}/plant/{plant_id}")[0] == 200
    assert api("GET", f"{BASE}/?limit=10")[0] == 200
    assert api("GET", f"{BASE}/data/?plant-id={plant_id}&from=2024-01-01&to=2024-01-01&limit=24")[0] == 200


# -- 6. Invisible characters in names ------------------------------------------------------------

FORMAT_CHARS = st.characters(categories=["Cf"])


@MOTO
@given(base=st.text("abcdefgh XYZ", min_size=1, max_size=20).filter(str.strip), invisible=FORMAT_CHARS,
       at=st.integers(0, 20))  # fmt: skip
@example(base="Solar Park", invisible="\u200b", at=5)
@example(base="Solar Park", invisible="\u00ad", at=3)
@example(base="Solar Park", invisible="\u202e", at=0)
def test_a_name_with_an_invisible_character_is_a_422(api, base, invisible, at) -> None:
    name = base[:at] + invisible + base[at:]
    status, _, error = api("POST", BASE, {"name": name})
    assert status == 422 and error["error"]["details"][0]["location"] == "body.name", error
    plant_id = _plant(api)
    for method in ("PUT", "PATCH"):
        status, _, error = api(method, f"{BASE}/plant/{plant_id}", {"name": name})
        assert status == 422, error
    status, _, error = api("GET", f"{BASE}/?q={quote_text(name)}")
    assert status == 422, error


def quote_text(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_the_lookalike_of_an_existing_plant_cannot_be_made(api) -> None:
    _plant(api, "Solar Park")
    for lookalike in (
        "Solar\u200bPark",
        "Solar Park\u200d",
        "\ufeffSolar Park",
        "Sol\u00adar Park",
        "\u2066Solar Park\u2069",
    ):
        status, _, _ = api("POST", BASE, {"name": lookalike})
        assert status == 422
    assert [p["name"] for p in api("GET", BASE)[2]["items"]] == ["Solar Park"]


# -- 7. Only IANA names of the shipped tzdata ----------------------------------------------------


def test_the_zone_names_are_the_shipped_tzdatas() -> None:
    shipped = set(resources.files("tzdata").joinpath("zones").read_text().split())
    assert timezone_names() == shipped
    assert "localtime" not in timezone_names()


HOST_ONLY = [
    *sorted(available_timezones() - timezone_names()),
    *[
        "localtime",
        "posixrules",
        "posix/Europe/Berlin",
        "right/UTC",
        "zone.tab",
        "tzdata.zi",
        "../zoneinfo/UTC",
    ],
]


@pytest.mark.parametrize("name", HOST_ONLY)
def test_a_host_dependent_zone_name_is_a_422(api, name) -> None:
    plant_id = _plant(api)
    for method, path, body in [("POST", BASE, {"name": "z", "timezone": name}),
                               ("PATCH", f"{BASE}/plant/{plant_id}", {"timezone": name})]:  # fmt: skip
        status, _, error = api(method, path, body)
        assert status == 422, error
    status, _, error = api(
        "GET", f"{BASE}/data/?plant-id={plant_id}&from=2024-01-01&to=2024-01-01&tz={quote_text(name)}"
    )
    assert status == 422, error


@MOTO
@given(name=st.sampled_from(sorted(resources.files("tzdata").joinpath("zones").read_text().split())))
def test_every_shipped_zone_name_is_accepted(api, name) -> None:
    status, _, plant = api("POST", BASE, {"name": f"tz {name}", "timezone": name})
    assert status == 201 and plant["timezone"] == name, plant


# -- 8. A re-sync of days before commissioning ---------------------------------------------------


@MOTO
@given(days_before=st.integers(1, 400), length=st.integers(0, 40))
def test_a_resync_before_commissioning_is_a_422_invalid_range(api, days_before, length) -> None:
    commissioned = date(2024, 6, 1)
    plant_id = _plant(api)
    api("PATCH", f"{BASE}/plant/{plant_id}", {"commissioned_on": commissioned.isoformat()})
    start = commissioned - timedelta(days=days_before)
    body = {"from": start.isoformat(), "to": (start + timedelta(days=length)).isoformat()}
    _, _, error = api("POST", f"{BASE}/plant/{plant_id}/sync", body)
    assert_error(error, 422, "invalid_range")
    assert "commissioning" in error["error"]["message"]
    assert api("GET", f"{BASE}/plant/{plant_id}")[2]["sync"]["resync"] is None


def test_a_resync_from_the_commissioning_day_is_queued() -> None:
    plant = plants.create_plant(OWNER, "from day one", commissioned_on=date(2024, 6, 1))
    assert resync.request(OWNER, plant.id, date(2024, 6, 1), date(2024, 6, 3)).from_ == date(2024, 6, 1)
    other = plants.create_plant(OWNER, "the day before", commissioned_on=date(2024, 6, 1))
    with pytest.raises(InvalidRange, match="commissioning"):
        resync.request(OWNER, other.id, date(2024, 5, 31), date(2024, 6, 3))


# -- 9. Accept: media types negotiated, not matched as substrings --------------------------------

OFFERED = ("application/json", "text/csv")
RANGES = st.sampled_from(["text/csv", "application/json", "text/*", "application/*", "*/*", "text/html",
                          "application/xml", "image/png"])  # fmt: skip
QUALITIES = st.one_of(st.none(), st.sampled_from(["0", "0.0", "0.001", "0.5", "1", "1.0", "0.000"]))


def _accept(items: list[tuple[str, str | None]]) -> str:
    return ", ".join(kind + (f";q={q}" if q is not None else "") for kind, q in items)


def _quality(items: list[tuple[str, str | None]], media: str) -> float:
    """The reference: the most specific range's quality (RFC 9110 section 12.5.1)."""
    main = media.split("/")[0]
    for wanted in (media, f"{main}/*", "*/*"):
        found = [float(q) if q is not None else 1.0 for kind, q in items if kind == wanted]
        if found:
            return max(found)
    return 0.0


@PURE
@given(
    items=st.lists(st.tuples(RANGES, QUALITIES), max_size=5),
    case=st.sampled_from([str.upper, str.lower, str.title, str]),
)
def test_accept_is_negotiated_by_quality_and_case_insensitively(items, case) -> None:  # fmt: skip
    chosen = negotiate(case(_accept(items)), OFFERED)
    json_q, csv_q = _quality(items, "application/json"), _quality(items, "text/csv")
    expected = "text/csv" if csv_q > json_q else "application/json"  # ties and nothing acceptable: JSON
    assert chosen == expected, (items, chosen)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("text/csv", "text/csv"), ("TEXT/CSV", "text/csv"), ("text/csv;q=0", "application/json"),
     ("text/csv;q=0, application/json", "application/json"), ("application/json;q=0.5, text/csv", "text/csv"),
     ("text/csvx", "application/json"), ("application/xml", "application/json"), ("text/*", "text/csv"),
     ("*/*", "application/json"), ("text/html, text/csv;q=0.1", "text/csv"), ("", "application/json"),
     ("text/csv;q=abc", "application/json"), ("application/vnd.text/csv+json", "application/json")],
)  # fmt: skip
def test_the_data_and_report_routes_answer_the_negotiated_type(api, accept, expected) -> None:
    plant_id = _plant(api)
    for route in ("data", "report"):
        status, headers, _ = api("GET", f"{BASE}/{route}/?plant-id={plant_id}&from=2024-01-01&to=2024-01-01",
                                 headers={"Accept": accept})  # fmt: skip
        assert status == 200 and headers["Content-Type"].startswith(expected), (accept, headers)


# -- 10. HEAD answered as GET --------------------------------------------------------------------


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_is_answered_as_get_on_every_route(api, path) -> None:
    plant_id = _plant(api)
    concrete = path.format(id=plant_id)
    got = api("GET", concrete)
    head = api("HEAD", concrete, scopes=("read",))
    assert head[0] == got[0] == 200
    assert head[1].keys() == got[1].keys() and head[1]["Content-Type"] == got[1]["Content-Type"]


def test_head_needs_the_read_scope(api) -> None:
    _, _, error = api("HEAD", f"{BASE}/", scopes=("write",))
    assert_error(error, 403, "insufficient_scope")


# -- 11. Methods no route has: 405 with Allow, after authentication ------------------------------

UNROUTED = ["OPTIONS", "TRACE", "PROPFIND", "CONNECT", "BREW", "get", "Get", "post", "head", "delete"]


@pytest.mark.parametrize("method", UNROUTED)
@pytest.mark.parametrize("path", [p for p in GET_ROUTES] + [f"{BASE}/plant/{{id}}/sync", REVERT])
def test_a_method_no_route_has_is_a_405_with_allow(api, method, path) -> None:
    plant_id = _plant(api)
    for scopes in (("read", "write"), ("read",), ("write",)):
        _, headers, error = api(method, path.format(id=plant_id), scopes=scopes)
        assert_error(error, 405, "method_not_allowed")
        assert headers["Allow"] and method not in headers["Allow"].split(", ")
    # after authentication: no key is a 401 first
    _, _, error = api(method, path.format(id=plant_id), scopes=None)
    assert_error(error, 401, "unauthorized")


# -- 12. The local gateway: the request line, the HTTP version and %2F ---------------------------


class _EchoRuntime:
    """Answers every invocation with the event it got (JSON), and remembers it."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def invoke(self, name: str, event: dict) -> dict:
        import json

        self.events.append(event)
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"n": 1} | {"pad": "x" * 100}),
        }


@pytest.fixture
def gateway(template):
    runtime = _EchoRuntime()
    server = ApiGateway(
        "127.0.0.1", 0, template.api_routes(), runtime, "Prod", responses=template.gateway_responses()
    )
    with serving(server):
        yield server, runtime


def _raw(server, request: bytes) -> bytes:
    """Send bytes, read the answer until the server closes the connection."""
    chunks = []
    with socket.create_connection(server.server_address, timeout=10) as conn:
        conn.sendall(request)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.loopback
@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"GET /" + b"a" * (65537 - 5), b"414"), (b"GET / HTTP/3.0\r\n", b"505"),
     (b"GET / HTTP/9.9\r\n", b"505"),
     (b"GET / HTTX/1.1\r\n", b"400"), (b"GET\r\n", b"400"), (b"GET / HTTP/1.1 extra\r\n", b"400")],
)  # fmt: skip
def test_the_gateway_answers_a_malformed_request_line_instead_of_dropping_it(
    gateway, request_line, status
) -> None:
    """Only the request line is sent (the server reads no further before refusing it; unread
    bytes would reset the connection): a longer line than it reads, or an unknown version."""
    server, _ = gateway
    answer = _raw(server, request_line)
    assert answer.split(b" ")[1] == status, answer[:200]


@pytest.mark.loopback
def test_the_gateway_routes_an_encoded_slash_inside_its_segment(gateway, template) -> None:
    server, runtime = gateway
    answer = _raw(
        server, b"GET /api/solar-plant/plant/1%2Fsync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.split(b" ")[1] == b"200"
    event = runtime.events[-1]
    assert event["resource"] == "/api/solar-plant/plant/{plant_id}"
    assert event["pathParameters"] == {"plant_id": "1/sync"}
    assert event["path"] == "/api/solar-plant/plant/1%2Fsync"


def test_an_encoded_slash_never_reaches_another_route(api) -> None:
    plant_id = _plant(api)
    for method, body in (("GET", None), ("POST", {"from": "2024-01-01", "to": "2024-01-02"})):
        status, _, error = api(method, f"{BASE}/plant/{plant_id}%2Fsync", body)
        assert status in (405, 422), error
    assert api("GET", f"{BASE}/plant/{plant_id}")[2]["sync"]["resync"] is None


@pytest.mark.loopback
def test_the_gateway_answers_head_with_gets_headers_and_no_body(gateway) -> None:
    server, _ = gateway
    get = _raw(server, b"GET /api/solar-plant/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = _raw(server, b"HEAD /api/solar-plant/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    get_headers, _, get_body = get.partition(b"\r\n\r\n")
    head_headers, _, head_body = head.partition(b"\r\n\r\n")
    assert head_body == b"" and get_body
    length = [line for line in get_headers.split(b"\r\n") if line.lower().startswith(b"content-length")]
    assert length and length == [
        line for line in head_headers.split(b"\r\n") if line.lower().startswith(b"content-length")
    ]
    assert length[0].split(b":")[1].strip() == str(len(get_body)).encode()
