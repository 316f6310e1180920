"""Accounts own plants (moto): names unique within an account, each account's plant limit under the
deployment's, and a plant outside the caller's reach answered exactly as a missing one, by the
domain and over HTTP, with cursors bound to the key that was given them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import Principal
from powerfactor.alerts import logic as alerts
from powerfactor.datapoints import reports
from powerfactor.plants import logic as plants
from powerfactor.plants import store as plant_storage
from powerfactor.runtime.errors import (
    ApiKeyNotFound,
    InsufficientScope,
    InvalidCursor,
    NameTaken,
    NotPermitted,
    PlantLimitReached,
    PlantNotFound,
)
from powerfactor.sync import resync
from tests.support import caller, principal

BASE = "/api/solar-plant"
ACME = principal("acme", key_id="acmekey00001")
ACME_READER = principal("acme", ("read",), key_id="acmekey00002")
GLOBEX = principal("globex", key_id="globexkey001")


@pytest.fixture
def two_accounts(aws) -> tuple[int, int]:
    """Acme's plant and Globex's plant, both named alike."""
    accounts.create_account("Acme", "acme")
    accounts.create_account("Globex", "globex")
    return plants.create_plant(ACME, "Solar Park").id, plants.create_plant(GLOBEX, "solar  PARK").id


def test_names_are_unique_within_an_account_not_across(two_accounts) -> None:
    with pytest.raises(NameTaken):
        plants.create_plant(ACME, "SOLAR PARK")
    acme, globex = two_accounts
    plants.create_plant(ACME, "Rooftop")
    with pytest.raises(NameTaken):
        plants.rename_plant(ACME, acme, "rooftop")
    assert plants.rename_plant(GLOBEX, globex, "Rooftop").name == "Rooftop"  # Acme's name, Globex's plant
    plants.delete_plant(ACME, acme)
    assert plants.create_plant(ACME, "Solar Park").name == "Solar Park"  # released in Acme only


@pytest.mark.parametrize(
    "call",
    [
        lambda p, i: plants.get_plant(p, i),
        lambda p, i: plants.rename_plant(p, i, "Taken over"),
        lambda p, i: plants.patch_plant(p, i, {"capacity_kwp": 1.0}),
        lambda p, i: plants.patch_plant(p, i, {}),
        lambda p, i: plants.delete_plant(p, i),
        lambda p, i: alerts.plant_alerts(p, i),
        lambda p, i: reports.data_page(p, i, date(2024, 1, 1), date(2024, 1, 2)),
        lambda p, i: reports.report(p, i, date(2024, 1, 1), date(2024, 1, 2), "hour"),
        lambda p, i: resync.request(p, i, date(2024, 1, 1), date(2024, 1, 2), today=date(2024, 3, 1)),
    ],
    ids=["get", "rename", "patch", "empty patch", "delete", "alerts", "data", "report", "resync"],
)
def test_another_accounts_plant_is_a_missing_plant_to_every_call(two_accounts, call) -> None:
    _, globex = two_accounts
    for plant_id in (globex, 999_999):
        with pytest.raises(PlantNotFound) as refused:
            call(ACME, plant_id)
        assert refused.value.message == f"plant {plant_id} does not exist"
    assert plants.get_plant(GLOBEX, globex).name == "solar  PARK"  # untouched


def test_lists_and_searches_hold_the_callers_plants_only(two_accounts) -> None:
    acme, globex = two_accounts
    assert [p.id for p in plants.list_plants(ACME).items] == [acme]
    assert [p.id for p in plants.list_plants(GLOBEX).items] == [globex]
    assert [p.id for p in plants.search_plants(ACME, "solar").items] == [acme]
    assert plants.list_plants(principal("initech")).items == []


def test_a_key_restricted_to_plants_sees_only_those_and_creates_none(two_accounts) -> None:
    acme, globex = two_accounts
    other = plants.create_plant(ACME, "Other").id
    pinned = principal("acme", key_id="acmepinned01", plants=frozenset({other, globex}))
    assert [p.id for p in plants.list_plants(pinned).items] == [other]
    assert [p.id for p in plants.search_plants(pinned, "o").items] == [other]
    for hidden in (acme, globex):
        with pytest.raises(PlantNotFound):
            plants.get_plant(pinned, hidden)
    assert plants.rename_plant(pinned, other, "Mine").name == "Mine"
    with pytest.raises(NotPermitted):
        plants.create_plant(pinned, "New")


def test_a_cursor_works_only_for_the_key_it_was_given_to(two_accounts) -> None:
    for i in range(3):
        plants.create_plant(ACME, f"Page {i}")
    page = plants.list_plants(ACME, limit=1)
    assert page.next_cursor and plants.list_plants(ACME, 1, page.next_cursor).items
    for other in (ACME_READER, GLOBEX):  # another key of the account, a key of another account
        with pytest.raises(InvalidCursor):
            plants.list_plants(other, 1, page.next_cursor)


def test_each_account_has_its_own_plant_limit_under_the_deployments(
    two_accounts, use_function_env, aws
) -> None:
    use_function_env("PlantsApiFunction", queue_urls=aws, MaxPlants="4")
    accounts.set_plant_limit("acme", 2)
    plants.create_plant(ACME, "Second")
    with pytest.raises(PlantLimitReached) as full:
        plants.create_plant(ACME, "Third")
    assert full.value.account and "this account holds at most 2 plants" in full.value.message
    plants.create_plant(GLOBEX, "Second")  # Globex has no limit of its own: the deployment's 4
    with pytest.raises(PlantLimitReached) as ceiling:
        plants.create_plant(GLOBEX, "Third")
    assert not ceiling.value.account
    assert plant_storage.account_plant_count("acme") == plant_storage.account_plant_count("globex") == 2
    plants.delete_plant(ACME, plants.list_plants(ACME).items[0].id)
    assert plant_storage.account_plant_count("acme") == 1
    accounts.set_plant_limit("globex", 0)
    with pytest.raises(PlantLimitReached):
        plants.create_plant(GLOBEX, "Anything")


def test_open_alerts_are_listed_per_account(two_accounts) -> None:
    acme, globex = two_accounts
    now = datetime(2024, 3, 1, tzinfo=UTC)
    for plant_id, account in ((acme, "acme"), (globex, "globex")):
        alerts.write(plant_id, account, [alerts.Verdict("data_gap", True, "gap", {"hours": 50})], now)
    assert [a.plant_id for a in alerts.open_alerts(ACME).items] == [acme]
    assert [a.plant_id for a in alerts.open_alerts(GLOBEX).items] == [globex]
    pinned = principal("acme", key_id="acmepinned01", plants=frozenset({globex}))
    assert alerts.open_alerts(pinned).items == []
    (alert,) = alerts.plant_alerts(GLOBEX, globex).items
    assert alerts.event_detail(alert, "opened")["account_id"] == "globex"


def test_admin_keys_manage_their_accounts_keys_only(two_accounts) -> None:
    admin = principal("acme", ("read", "write", "admin"), key_id="acmeadmin001")
    _, mine = apikeys.create_key("mine", ["read"], account_id="acme")
    _, theirs = apikeys.create_key("theirs", ["read"], account_id="globex")
    keys, _ = apikeys.account_keys(admin)
    assert [k.key_id for k in keys] == [mine.key_id]
    _, made = apikeys.create_account_key(admin, "new", ["read"], frozenset(two_accounts[:1]))
    assert (made.account_id, made.plants) == ("acme", frozenset(two_accounts[:1]))
    with pytest.raises(ApiKeyNotFound):
        apikeys.revoke_account_key(admin, theirs.key_id)
    assert apikeys.revoke_account_key(admin, mine.key_id).revoked_at is not None
    with pytest.raises(InsufficientScope):
        apikeys.account_keys(ACME)  # no admin scope
    narrow = principal("acme", ("read", "admin"), key_id="acmeadmin002", plants=frozenset({1}))
    with pytest.raises(InsufficientScope):
        apikeys.create_account_key(narrow, "wider", ["read", "write"])
    with pytest.raises(NotPermitted):
        apikeys.create_account_key(narrow, "unrestricted", ["read"])
    with pytest.raises(NotPermitted):
        apikeys.create_account_key(narrow, "elsewhere", ["read"], frozenset({1, 2}))
    assert apikeys.create_account_key(narrow, "within", ["read"], frozenset({1}))[1].plants == {1}
    in_portfolio = Principal(
        "acme", "acmeadmin003", "p", frozenset({"read", "admin"}), portfolios=frozenset({"n"})
    )
    with pytest.raises(NotPermitted):  # whatever its portfolios hold, an unrestricted key is wider
        apikeys.create_account_key(in_portfolio, "unrestricted", ["read"])


# ---- over HTTP: the same bytes for another account's plant as for a missing one ----


def _as(account: str, plants_: frozenset[int] | None = None, scopes=("read", "write")) -> dict[str, str]:
    return caller(
        scopes, key_id=f"{account[:6]}key0001".ljust(12, "0")[:12], account_id=account, plants=plants_
    )


ROUTES = [
    ("GET", "/plant/{id}", None),
    ("PUT", "/plant/{id}", {"name": "Taken over"}),
    ("PATCH", "/plant/{id}", {"capacity_kwp": 1.5}),
    ("DELETE", "/plant/{id}", None),
    ("GET", "/plant/{id}/alerts", None),
    ("POST", "/plant/{id}/sync", {"from": "2024-01-01", "to": "2024-01-02"}),
    ("GET", "/data/?plant-id={id}&from=2024-01-01&to=2024-01-02", None),
    ("GET", "/data/?plant-id={id}&from=2024-01-01&to=2024-01-02&format=csv", None),
    ("GET", "/report/?plant-id={id}&from=2024-01-01&to=2024-01-02&granularity=hour", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_another_accounts_plant_answers_byte_for_byte_as_a_missing_one(api, two_accounts, method, path, body):
    _, globex = two_accounts
    missing = globex + 1000
    answers = []
    for plant_id in (globex, missing):
        status, headers, reply = api(method, BASE + path.format(id=plant_id), body, context=_as("acme"))
        answers.append((status, headers.get("Content-Type"), str(reply).replace(str(plant_id), "<id>")))
    assert answers[0] == answers[1] == (404, "application/json", answers[1][2])
    assert "plant_not_found" in answers[0][2]
    assert api("GET", f"{BASE}/plant/{globex}", context=_as("globex"))[0] == 200  # untouched


def test_lists_over_http_hold_nothing_of_another_account(api, two_accounts) -> None:
    acme, globex = two_accounts
    for path in ("/", "/?q=solar", "/alerts"):
        status, _, page = api("GET", BASE + path, context=_as("acme"))
        assert status == 200 and "globex" not in str(page).lower() and f"'id': {globex}" not in str(page)
    status, _, page = api("GET", BASE + "/", context=_as("acme"))
    assert [p["id"] for p in page["items"]] == [acme]


def test_the_key_route_shows_the_account_and_restriction(api, two_accounts) -> None:
    status, _, body = api("GET", f"{BASE}/key", context=_as("acme", frozenset({7, 3})))
    assert status == 200 and (body["account_id"], body["plants"]) == ("acme", [3, 7])


def test_an_expired_key_is_refused_by_the_function_while_its_answer_is_cached(api, two_accounts) -> None:
    context = {**_as("acme"), "expires_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
    status, headers, body = api("GET", f"{BASE}/", context=context)
    assert (status, body["error"]["code"], headers["WWW-Authenticate"]) == (401, "unauthorized", "Bearer")
