"""The plants API handler, invoked with API Gateway events, against moto."""

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.usefixtures("aws")

BASE = "/api/solar-plant"


def assert_error(payload: dict, status: int, code: str) -> None:
    """Every error has the same shape on every route."""
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"status", "code", "message", "details"}
    assert payload["error"]["status"] == status
    assert payload["error"]["code"] == code
    assert payload["error"]["message"]


def test_create_returns_201_with_the_plant_and_its_location(api) -> None:
    status, headers, body = api("POST", f"{BASE}/", {"name": "  North  "})
    assert status == 201
    assert body["id"] == 1 and body["name"] == "North"
    assert body["created_at"] == body["updated_at"] and body["created_at"].endswith("Z")
    assert headers["Location"] == f"{BASE}/plant/1"


@pytest.mark.parametrize("path", [BASE, f"{BASE}/"])
def test_both_spellings_of_the_collection_path(api, path: str) -> None:
    assert api("POST", path, {"name": path})[0] == 201
    status, _, body = api("GET", path)
    assert status == 200 and [p["name"] for p in body["items"]] == [path]


def test_crud_round_trip(api) -> None:
    plant = api("POST", BASE, {"name": "A"})[2]
    assert api("GET", f"{BASE}/plant/{plant['id']}")[2] == plant
    status, _, renamed = api("PUT", f"{BASE}/plant/{plant['id']}", {"name": "B"})
    assert status == 200 and renamed["name"] == "B" and renamed["id"] == plant["id"]
    status, _, body = api("DELETE", f"{BASE}/plant/{plant['id']}")
    assert status == 204 and body is None
    status, _, body = api("GET", f"{BASE}/plant/{plant['id']}")
    assert status == 404
    assert_error(body, 404, "plant_not_found")


def test_duplicate_name_is_409(api) -> None:
    api("POST", BASE, {"name": "Dup"})
    status, _, body = api("POST", BASE, {"name": "DUP"})
    assert_error(body, 409, "name_taken")
    assert status == 409


def test_list_pagination_over_http(api) -> None:
    for i in range(5):
        api("POST", BASE, {"name": f"p{i}"})
    status, _, page = api("GET", f"{BASE}?limit=2")
    assert status == 200 and [p["id"] for p in page["items"]] == [1, 2]
    page = api("GET", f"{BASE}?limit=2&cursor={page['next_cursor']}")[2]
    page = api("GET", f"{BASE}?limit=2&cursor={page['next_cursor']}")[2]
    assert [p["id"] for p in page["items"]] == [5] and page["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", f"{BASE}/plant/abc", None, 422, "validation_error"),
        ("GET", f"{BASE}/plant/0", None, 422, "validation_error"),
        ("GET", f"{BASE}/plant/-3", None, 422, "validation_error"),
        ("GET", f"{BASE}/plant/1.5", None, 422, "validation_error"),
        ("GET", f"{BASE}/plant/99999999999999999999999999999999999999999", None, 422, "validation_error"),
        ("GET", f"{BASE}/plant/7", None, 404, "plant_not_found"),
        ("PUT", f"{BASE}/plant/7", {"name": "x"}, 404, "plant_not_found"),
        ("DELETE", f"{BASE}/plant/7", None, 404, "plant_not_found"),
        ("POST", BASE, None, 422, "validation_error"),
        ("POST", BASE, "", 422, "validation_error"),
        ("POST", BASE, "not json", 400, "malformed_json"),
        ("POST", BASE, '{"name": ', 400, "malformed_json"),
        ("POST", BASE, b"\xff\xfe\x00", 400, "malformed_json"),
        ("POST", BASE, [1, 2], 422, "validation_error"),
        ("POST", BASE, "null", 422, "validation_error"),
        ("POST", BASE, {}, 422, "validation_error"),
        ("POST", BASE, {"name": ""}, 422, "validation_error"),
        ("POST", BASE, {"name": "   "}, 422, "validation_error"),
        ("POST", BASE, {"name": "x" * 101}, 422, "validation_error"),
        ("POST", BASE, {"name": 5}, 422, "validation_error"),
        ("POST", BASE, {"name": None}, 422, "validation_error"),
        ("POST", BASE, {"name": "a\nb"}, 422, "validation_error"),
        ("POST", BASE, {"name": "ok", "extra": 1}, 422, "validation_error"),
        ("PUT", f"{BASE}/plant/1", {"nome": "x"}, 422, "validation_error"),
        ("GET", f"{BASE}?limit=0", None, 422, "validation_error"),
        ("GET", f"{BASE}?limit=201", None, 422, "validation_error"),
        ("GET", f"{BASE}?limit=ten", None, 422, "validation_error"),
        ("GET", f"{BASE}?cursor=%%%", None, 400, "invalid_cursor"),
        ("GET", "/nowhere", None, 404, "not_found"),
        ("GET", "/", None, 404, "not_found"),
        ("GET", f"{BASE}/plant/1/extra", None, 404, "not_found"),
        ("POST", f"{BASE}/plant/1", {"name": "x"}, 405, "method_not_allowed"),
        ("DELETE", BASE, None, 405, "method_not_allowed"),
    ],
)
def test_bad_requests_get_a_clear_4xx(api, method, path, body, status, code) -> None:
    got_status, _, payload = api(method, path, body)
    assert got_status == status, payload
    assert_error(payload, status, code)


def test_405_says_which_methods_are_allowed(api) -> None:
    status, headers, _ = api("DELETE", BASE)
    assert status == 405 and headers["Allow"] == "GET, HEAD, POST"


def test_a_body_labelled_as_a_form_is_read_as_json(api) -> None:
    status, _, body = api(
        "POST", BASE, {"name": "curl"}, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 201 and body["name"] == "curl"


@pytest.mark.parametrize("media_type", ["text/plain", "multipart/form-data", "application/xml"])
def test_a_non_json_media_type_is_415(api, media_type) -> None:
    status, _, body = api("POST", BASE, '{"name": "x"}', headers={"Content-Type": media_type})
    assert status == 415
    assert_error(body, 415, "unsupported_media_type")


def test_validation_details_point_at_the_field(api) -> None:
    _, _, body = api("POST", BASE, {"name": ""})
    assert [d["location"] for d in body["error"]["details"]] == ["body.name"]


METADATA = {
    "capacity_kwp": 4500.5,
    "timezone": "Europe/Berlin",
    "latitude": 52.52,
    "longitude": 13.405,
    "commissioned_on": "2019-04-01",
}


def test_a_plant_without_metadata_has_null_fields(api) -> None:
    body = api("POST", BASE, {"name": "Bare"})[2]
    assert {field: body[field] for field in METADATA} == dict.fromkeys(METADATA)


def test_create_with_metadata_and_read_it_back(api) -> None:
    status, _, body = api("POST", BASE, {"name": "Full", **METADATA})
    assert status == 201 and {field: body[field] for field in METADATA} == METADATA
    assert api("GET", f"{BASE}/plant/{body['id']}")[2] == body


def test_put_renames_and_keeps_the_metadata(api) -> None:
    plant = api("POST", BASE, {"name": "Kept", **METADATA})[2]
    status, _, body = api("PUT", f"{BASE}/plant/{plant['id']}", {"name": "Renamed"})
    assert status == 200 and body["name"] == "Renamed"
    assert {field: body[field] for field in METADATA} == METADATA
    status, _, body = api("PUT", f"{BASE}/plant/{plant['id']}", {"name": "X", "capacity_kwp": 1})
    assert_error(body, 422, "validation_error")


def test_patch_is_a_merge_patch(api) -> None:
    plant = api("POST", BASE, {"name": "Merge", **METADATA})[2]
    url = f"{BASE}/plant/{plant['id']}"
    status, _, body = api("PATCH", url, {"capacity_kwp": 10, "timezone": None},
                          headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert status == 200, body
    assert body["capacity_kwp"] == 10 and body["timezone"] is None and body["name"] == "Merge"
    assert body["latitude"] == 52.52 and body["commissioned_on"] == "2019-04-01"
    assert body["updated_at"] >= plant["updated_at"]
    assert api("GET", url)[2] == body
    status, _, body = api("PATCH", url, {"name": "Merged", "commissioned_on": None})
    assert status == 200 and body["name"] == "Merged" and body["commissioned_on"] is None
    assert body["capacity_kwp"] == 10
    status, _, same = api("PATCH", url, {})
    assert status == 200 and same == body
    # the old name is free again, the new one taken
    assert api("POST", BASE, {"name": "merge"})[0] == 201
    assert api("POST", BASE, {"name": "MERGED"})[0] == 409


def test_patch_to_a_taken_name_is_409_and_an_unknown_plant_404(api) -> None:
    api("POST", BASE, {"name": "Taken"})
    plant = api("POST", BASE, {"name": "Other"})[2]
    assert_error(api("PATCH", f"{BASE}/plant/{plant['id']}", {"name": "taken"})[2], 409, "name_taken")
    assert_error(api("PATCH", f"{BASE}/plant/999", {"capacity_kwp": 1})[2], 404, "plant_not_found")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"capacity_kwp": 0}, "capacity_kwp"),
        ({"capacity_kwp": -5}, "capacity_kwp"),
        ({"capacity_kwp": 5e-324}, "capacity_kwp"),
        ({"capacity_kwp": 1e12}, "capacity_kwp"),
        ({"capacity_kwp": "big"}, "capacity_kwp"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "europe/berlin"}, "timezone"),
        ({"latitude": 90.5}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"commissioned_on": "2999-01-01"}, "commissioned_on"),
        ({"commissioned_on": "2020-02-30"}, "commissioned_on"),
        ({"commissioned_on": "2020-01-01T00:00:00"}, "commissioned_on"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_rule_is_a_422_naming_the_field(api, patch: dict, field: str) -> None:
    plant = api("POST", BASE, {"name": "Rules"})[2]
    for method, url, body in (("PATCH", f"{BASE}/plant/{plant['id']}", patch),
                              ("POST", BASE, {"name": "New", **patch})):  # fmt: skip
        if method == "POST" and "name" in patch:
            continue
        status, _, error = api(method, url, body)
        assert status == 422, (method, error)
        assert_error(error, 422, "validation_error")
        assert [d["location"] for d in error["error"]["details"]] == [f"body.{field}"], error
    assert api("GET", f"{BASE}/plant/{plant['id']}")[2] == plant


def test_tiny_coordinates_are_stored_rounded_never_a_5xx(api) -> None:
    """DynamoDB refuses numbers below 1e-130: coordinates are rounded to 7 decimals first."""
    status, _, body = api("POST", BASE, {"name": "Tiny", "latitude": 1e-200, "longitude": -12.345678949})
    assert status == 201, body
    assert body["latitude"] == 0.0 and body["longitude"] == -12.3456789


def test_the_key_route_names_the_callers_key(api) -> None:
    status, _, body = api("GET", f"{BASE}/key", scopes=("read",))
    assert status == 200
    usage = body.pop("usage")
    assert body == {
        "id": "testkey00000", "name": "tests", "scopes": ["read"], "expires_at": None,
        "account_id": "default", "plants": None, "portfolios": None, "tier": "standard",
    }  # fmt: skip
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert usage == {
        "tier": "standard", "used": 1, "remaining": 9_999, "limit": 10_000,
        "resets_at": f"{tomorrow}T00:00:00Z",
    }  # fmt: skip
    assert api("GET", f"{BASE}/key/", scopes=("read", "write"))[2]["scopes"] == ["read", "write"]


def test_the_key_route_gives_the_expiry_the_authorizer_passed(api, monkeypatch) -> None:

    from powerfactor.access import keys as apikeys

    key = apikeys.ApiKey(
        "expiring0000", "dash board", frozenset({"read"}), "0" * 64, datetime.now(UTC),
        expires_at=datetime(2030, 1, 31, 12, tzinfo=UTC),
    )  # fmt: skip
    context = {"principalId": key.key_id, **apikeys.authorizer_context(key, ())}
    assert context["expires_at"] == "2030-01-31T12:00:00+00:00"  # a string: API Gateway takes no null
    monkeypatch.setitem(api.__globals__, "caller", lambda scopes: context)  # the conftest's caller
    status, _, body = api("GET", f"{BASE}/key")
    assert status == 200
    assert body.pop("usage")["used"] == 1
    assert body == {
        "id": "expiring0000", "name": "dash board", "scopes": ["read"], "expires_at": "2030-01-31T12:00:00Z",
        "account_id": "default", "plants": None, "portfolios": None, "tier": "standard",
    }  # fmt: skip


def test_other_methods_on_the_key_route_are_405(api) -> None:
    status, headers, body = api("POST", f"{BASE}/key", {})
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert_error(body, 405, "method_not_allowed")


def test_search_over_http(api) -> None:
    for name in ("Straße 1", "STRASSE 2", "Elsewhere", "strasse 3"):
        api("POST", BASE, {"name": name})
    status, _, page = api("GET", f"{BASE}/?q=Stra%C3%9Fe&limit=2")
    assert status == 200 and [p["name"] for p in page["items"]] == ["Straße 1", "STRASSE 2"]
    status, _, rest = api("GET", f"{BASE}/?q=STRASSE&limit=2&cursor={page['next_cursor']}")
    assert status == 200 and [p["name"] for p in rest["items"]] == ["strasse 3"]
    assert rest["next_cursor"] is None
    status, _, none = api("GET", f"{BASE}?q=nowhere")
    assert status == 200 and none == {"items": [], "next_cursor": None}


def test_a_search_cursor_replayed_with_another_text_is_400(api) -> None:
    for i in range(3):
        api("POST", BASE, {"name": f"Park {i}"})
    cursor = api("GET", f"{BASE}?q=park&limit=1")[2]["next_cursor"]
    status, _, body = api("GET", f"{BASE}?q=par&limit=1&cursor={cursor}")
    assert status == 400
    assert_error(body, 400, "invalid_cursor")
    assert_error(api("GET", f"{BASE}?limit=1&cursor={cursor}")[2], 400, "invalid_cursor")


@pytest.mark.parametrize(
    "query", ["q=", "q=%20%20", "q=" + "a" * 101, "q=" + "%EF%B7%BA" * 100, "q=a&limit=0", "q=a&limit=201"]
)
def test_a_bad_search_is_422(api, query: str) -> None:
    status, _, body = api("GET", f"{BASE}/?{query}")
    assert status == 422
    assert_error(body, 422, "validation_error")
    assert body["error"]["details"][0]["location"] in {"query.q", "query.limit"}


ADMIN = ("read", "write", "admin")


def test_portfolio_routes_over_http(api) -> None:
    ids = [api("POST", f"{BASE}/", {"name": f"P{n}"}, scopes=ADMIN)[2]["id"] for n in range(2)]
    status, headers, made = api(
        "POST", f"{BASE}/portfolios", {"name": "North", "plants": ids[:1]}, scopes=ADMIN
    )
    assert status == 201 and headers["Location"] == f"{BASE}/portfolios/{made['id']}"
    assert set(made) == {"id", "name", "created_at", "updated_at"}
    folio = made["id"]
    assert api("POST", f"{BASE}/portfolios/{folio}/plants", {"plants": ids[1:]}, scopes=ADMIN)[0] == 200
    status, _, page = api("GET", f"{BASE}/?portfolio={folio}&limit=1")
    assert status == 200 and [p["id"] for p in page["items"]] == ids[:1] and page["next_cursor"]
    assert page["items"][0]["shared"] is None  # own plants: the field is there, null
    assert api("GET", f"{BASE}/portfolios", scopes=("read",))[2]["items"][0]["id"] == folio
    assert api("PUT", f"{BASE}/portfolios/{folio}", {"name": "South"}, scopes=ADMIN)[2]["name"] == "South"
    assert api("DELETE", f"{BASE}/portfolios/{folio}/plants/{ids[0]}", scopes=ADMIN)[0] == 204
    assert api("DELETE", f"{BASE}/portfolios/{folio}", scopes=ADMIN)[0] == 204
    status, _, payload = api("GET", f"{BASE}/portfolios/{folio}")
    assert_error(payload, 404, "portfolio_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "scopes", "status", "code"),
    [
        ("POST", "/portfolios", {"name": "x"}, ("read", "write"), 403, "insufficient_scope"),
        ("POST", "/portfolios", {"name": ""}, ADMIN, 422, "validation_error"),
        ("POST", "/portfolios", {"name": "x", "plants": []}, ADMIN, 422, "validation_error"),
        ("POST", "/portfolios", {"name": "x", "plants": [999]}, ADMIN, 404, "plant_not_found"),
        ("GET", "/?portfolio=Not-An-Id", None, ("read",), 422, "validation_error"),
        ("GET", "/?portfolio=000000000000", None, ("read",), 404, "portfolio_not_found"),
        ("POST", "/grants", {"account": "acme"}, ADMIN, 422, "validation_error"),
        ("POST", "/grants", {"account": "acme", "plant": 1, "portfolio": "000000000000"}, ADMIN, 422,
         "validation_error"),
        ("POST", "/grants", {"account": "acme", "plant": 1, "access": "all"}, ADMIN, 422,
         "validation_error"),
        ("POST", "/grants", {"account": "acme", "plant": 1}, ("read", "write"), 403, "insufficient_scope"),
        ("GET", "/grants", None, ("read",), 403, "insufficient_scope"),
        ("DELETE", "/grants/000000000000", None, ADMIN, 404, "grant_not_found"),
    ],
)  # fmt: skip
def test_portfolio_and_grant_requests_get_a_clear_4xx(api, method, path, body, scopes, status, code) -> None:
    got, _, payload = api(method, f"{BASE}{path}", body, scopes=scopes)
    assert got == status, payload
    assert_error(payload, status, code)
