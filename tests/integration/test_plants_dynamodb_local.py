"""Plants against DynamoDB Local: the transactions that keep names unique and ids atomic."""

from __future__ import annotations

import pytest

from powerfactor import plants
from powerfactor.errors import NameTaken
from tests.support import concurrently

pytestmark = pytest.mark.usefixtures("local_aws")

BASE = "/api/solar-plant"
CONCURRENCY = 20


def test_twenty_concurrent_creates_of_one_name_give_exactly_one_plant() -> None:
    results, errors = concurrently(
        [lambda i=i: plants.create_plant(f"Same{' ' * (i % 3)}") for i in range(CONCURRENCY)]
    )
    assert len(results) == 1
    assert len(errors) == CONCURRENCY - 1
    assert all(isinstance(e, NameTaken) for e in errors), errors
    assert [p.id for p in plants.list_plants().items] == [results[0].id]


def test_twenty_concurrent_renames_to_one_name_give_exactly_one_winner() -> None:
    ids = [plants.create_plant(f"plant {i}").id for i in range(CONCURRENCY)]
    results, errors = concurrently([lambda i=i: plants.rename_plant(i, "Winner") for i in ids])
    assert len(results) == 1 and len(errors) == CONCURRENCY - 1
    assert all(isinstance(e, NameTaken) for e in errors), errors
    names = sorted(p.name for p in plants.list_plants(limit=100).items)
    assert names.count("Winner") == 1
    # every loser kept its own name, so its old name is still claimed
    loser = next(i for i in ids if i != results[0].id)
    with pytest.raises(NameTaken):
        plants.create_plant(f"plant {ids.index(loser)}")


def test_concurrent_creates_of_distinct_names_get_distinct_ids() -> None:
    results, errors = concurrently([lambda i=i: plants.create_plant(f"n{i}") for i in range(CONCURRENCY)])
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
