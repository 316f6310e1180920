"""Plants against DynamoDB Local: the transactions that keep names unique and ids atomic."""

from __future__ import annotations

import pytest

from powerfactor.plants import logic as plants
from powerfactor.runtime.errors import NameTaken, PlantNotFound, StorageBusy
from tests.support import OWNER, concurrently, error_kinds

pytestmark = pytest.mark.usefixtures("local_aws", "patient_storage")

BASE = "/api/solar-plant"
CONCURRENCY = 20


def test_twenty_concurrent_creates_of_one_name_give_exactly_one_plant() -> None:
    results, errors = concurrently(
        [lambda i=i: plants.create_plant(OWNER, f"Same{' ' * (i % 3)}") for i in range(CONCURRENCY)]
    )
    assert len(results) == 1
    assert len(errors) == CONCURRENCY - 1
    assert all(isinstance(e, NameTaken) for e in errors), error_kinds(errors)
    assert [p.id for p in plants.list_plants(OWNER).items] == [results[0].id]


def test_twenty_concurrent_renames_to_one_name_give_exactly_one_winner() -> None:
    ids = [plants.create_plant(OWNER, f"plant {i}").id for i in range(CONCURRENCY)]
    results, errors = concurrently([lambda i=i: plants.rename_plant(OWNER, i, "Winner") for i in ids])
    assert len(results) == 1 and len(errors) == CONCURRENCY - 1
    assert all(isinstance(e, NameTaken) for e in errors), error_kinds(errors)
    names = sorted(p.name for p in plants.list_plants(OWNER, limit=100).items)
    assert names.count("Winner") == 1
    # every loser kept its own name, so its old name is still claimed
    loser = next(i for i in ids if i != results[0].id)
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, f"plant {ids.index(loser)}")


def test_concurrent_creates_of_distinct_names_get_distinct_ids() -> None:
    results, errors = concurrently(
        [lambda i=i: plants.create_plant(OWNER, f"n{i}") for i in range(CONCURRENCY)]
    )
    assert not errors
    assert sorted(p.id for p in results) == list(range(1, CONCURRENCY + 1))


def test_handler_crud_against_dynamodb_local(api) -> None:
    status, _, plant = api("POST", BASE, {"name": "Local"})
    assert status == 201
    assert api("GET", f"{BASE}/plant/{plant['id']}")[2] == plant
    assert api("PUT", f"{BASE}/plant/{plant['id']}", {"name": "Renamed"})[2]["name"] == "Renamed"
    assert api("POST", BASE, {"name": "renamed"})[0] == 409
    assert api("DELETE", f"{BASE}/plant/{plant['id']}")[0] == 204
    assert api("DELETE", f"{BASE}/plant/{plant['id']}")[0] == 404
    assert api("POST", BASE, {"name": "RENAMED"})[0] == 201


def _name_claims() -> dict[str, int]:
    """Every name claim in the plants table: normalized name -> plant id."""
    from powerfactor.plants.store import _bind, _NameClaim

    _bind()
    return {
        claim.pk.removeprefix("NAME#"): int(claim.plant_id)
        for claim in _NameClaim.scan(_NameClaim.pk.startswith("NAME#"))
    }


def test_twenty_concurrent_renames_of_one_plant_never_say_name_taken() -> None:
    plant = plants.create_plant(OWNER, "Original")
    names = [f"Rename {i}" for i in range(CONCURRENCY)]
    results, errors = concurrently([lambda n=n: plants.rename_plant(OWNER, plant.id, n) for n in names])
    # each rename either won (last writer wins) or ran out of retries (503 storage_busy): another
    # rename of the same plant is no other plant holding the name
    assert all(isinstance(e, StorageBusy) for e in errors), error_kinds(errors)
    assert results
    final = plants.get_plant(OWNER, plant.id)
    assert final.name in names
    assert _name_claims() == {plants.name_key(final.name): plant.id}


def test_concurrent_patches_that_rename_one_plant_keep_one_claim() -> None:
    plant = plants.create_plant(OWNER, "Original")
    calls = [
        lambda i=i: plants.patch_plant(
            OWNER, plant.id, {"name": f"Patched {i}", "capacity_kwp": float(i + 1)}
        )
        for i in range(CONCURRENCY)
    ]
    results, errors = concurrently(calls)
    assert all(isinstance(e, StorageBusy) for e in errors), error_kinds(errors)
    assert results
    final = plants.get_plant(OWNER, plant.id)
    assert final.name.startswith("Patched ")
    assert final.capacity_kwp == float(final.name.split()[1]) + 1  # name and capacity of one patch
    assert _name_claims() == {plants.name_key(final.name): plant.id}


def test_rename_racing_a_create_of_the_same_name_has_one_winner() -> None:
    for round_ in range(5):
        plant = plants.create_plant(OWNER, f"Old {round_}")
        new = f"Contested {round_}"
        results, errors = concurrently(
            [
                lambda p=plant.id, n=new: plants.rename_plant(OWNER, p, n),
                lambda n=new: plants.create_plant(OWNER, n),
            ]
        )
        assert len(results) == 1 and len(errors) == 1, (results, errors)
        assert isinstance(errors[0], NameTaken), errors
        holder = results[0].id
        claims = _name_claims()
        assert claims[plants.name_key(new)] == holder
        renamed = plants.get_plant(OWNER, plant.id)
        assert claims[plants.name_key(renamed.name)] == plant.id
        assert renamed.name == (new if holder == plant.id else f"Old {round_}")
        assert sorted(claims.values()) == sorted(p.id for p in plants.list_plants(OWNER, limit=200).items)


def test_concurrent_deletes_of_one_plant_give_one_success_and_not_found() -> None:
    plant = plants.create_plant(OWNER, "Doomed")
    results, errors = concurrently([lambda: plants.delete_plant(OWNER, plant.id) for _ in range(CONCURRENCY)])
    assert len(results) == 1
    assert all(isinstance(e, PlantNotFound) for e in errors), error_kinds(errors)
    assert _name_claims() == {}


def test_rename_racing_a_delete_gives_a_clean_answer() -> None:
    for round_ in range(5):
        plant = plants.create_plant(OWNER, f"Victim {round_}")
        results, errors = concurrently(
            [
                lambda p=plant.id, n=f"Escaped {round_}": plants.rename_plant(OWNER, p, n),
                lambda p=plant.id: plants.delete_plant(OWNER, p),
            ]
        )
        # the delete always succeeds; the rename either went first or finds the plant gone
        assert all(isinstance(e, PlantNotFound) for e in errors), error_kinds(errors)
        assert len(results) >= 1
        assert _name_claims() == {}


def test_a_rename_from_a_stale_read_retries_rather_than_saying_name_taken(monkeypatch) -> None:
    """Deterministic form of the race: the rename read the plant before another rename moved its
    name claim, so its transaction fails on the plant guard and on the old claim's delete."""
    from powerfactor.plants import store as storage

    plant = plants.create_plant(OWNER, "First")
    stale = storage._load(plant.id)
    plants.rename_plant(OWNER, plant.id, "Second")
    reads = iter([stale])
    real_load = storage._load
    monkeypatch.setattr(storage, "_load", lambda plant_id: next(reads, None) or real_load(plant_id))
    assert plants.rename_plant(OWNER, plant.id, "Third").name == "Third"
    assert plants.get_plant(OWNER, plant.id).name == "Third"
    assert _name_claims() == {"third": plant.id}


def _search_all(text: str, limit: int) -> tuple[list[int], int]:
    """Every id a search returns, following its cursors, and how many pages that took."""
    seen, cursor, pages = [], None, 0
    while True:
        page = plants.search_plants(OWNER, text, limit=limit, cursor=cursor)
        seen += [p.id for p in page.items]
        pages += 1
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor


def test_search_reads_past_query_pages_the_filter_emptied(monkeypatch) -> None:
    """DynamoDB applies a Query's Limit before its filter: pages without a match are read on."""
    from powerfactor.plants import store as storage

    monkeypatch.setattr(storage, "SEARCH_QUERY_ITEMS", 3)
    names = [f"Straße {i}" if i % 5 == 4 else f"Feld {i}" for i in range(25)]
    ids = [plants.create_plant(OWNER, name).id for name in names]
    matches = [plant_id for plant_id, name in zip(ids, names, strict=True) if name.startswith("Straße")]
    assert len(matches) == 5
    assert _search_all("STRASSE", limit=2) == (matches, 3)
    assert _search_all("straße", limit=5) == (matches, 1)
    assert [p.name for p in plants.search_plants(OWNER, "  feld   1").items] == [
        f"Feld {i}" for i in (1, 10, 11, 12, 13, 15, 16, 17, 18)
    ]
    assert plants.search_plants(OWNER, "nowhere").model_dump() == {"items": [], "next_cursor": None}
    monkeypatch.setattr(storage, "SEARCH_MAX_QUERIES", 1)  # three plants a page: some pages are empty
    assert _search_all("strasse", limit=5) == (matches, 9)


def test_search_over_http_against_dynamodb_local(api) -> None:
    for name in ("Nordpark", "NORDPARK Süd", "Südfeld", "nord park"):
        assert api("POST", BASE, {"name": name})[0] == 201
    status, _, page = api("GET", f"{BASE}/?q=nordpark&limit=1")
    assert status == 200 and [p["name"] for p in page["items"]] == ["Nordpark"] and page["next_cursor"]
    status, _, rest = api("GET", f"{BASE}/?q=NordPark&limit=1&cursor={page['next_cursor']}")
    assert status == 200 and [p["name"] for p in rest["items"]] == ["NORDPARK Süd"]
    assert rest["next_cursor"] is None
    status, _, error = api("GET", f"{BASE}/?q=nord&limit=1&cursor={page['next_cursor']}")
    assert status == 400 and error["error"]["code"] == "invalid_cursor"
    assert api("GET", f"{BASE}/?q=SUD")[2] == {"items": [], "next_cursor": None}  # ü is not u
    assert [p["name"] for p in api("GET", f"{BASE}/?q=S%C3%9CD")[2]["items"]] == ["NORDPARK Süd", "Südfeld"]
