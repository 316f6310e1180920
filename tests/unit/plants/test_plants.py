"""The plants domain against moto: ids, name rules, pagination, rename and delete."""

import pytest

from powerfactor.plants import logic as plants
from powerfactor.runtime.errors import InvalidCursor, NameTaken, PlantNotFound
from tests.support import OWNER

pytestmark = pytest.mark.usefixtures("aws")


def test_ids_are_sequential_and_never_reused() -> None:
    first = plants.create_plant(OWNER, "One")
    second = plants.create_plant(OWNER, "Two")
    assert (first.id, second.id) == (1, 2)
    plants.delete_plant(OWNER, second.id)
    assert plants.create_plant(OWNER, "Three").id == 3


def test_a_failed_create_burns_its_id_but_never_hands_it_out_twice() -> None:
    plants.create_plant(OWNER, "Same")
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, "same")
    assert plants.create_plant(OWNER, "Other").id == 3


FULLWIDTH_SOLAR = "\uff53\uff4f\uff4c\uff41\uff52"


@pytest.mark.parametrize("other", ["SOLAR park", "solar   park", "Solar Park", f"{FULLWIDTH_SOLAR} park"])
def test_names_are_unique_ignoring_case_width_and_inner_spaces(other: str) -> None:
    plants.create_plant(OWNER, "Solar Park")
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, other)


def test_name_key() -> None:
    assert plants.name_key(" Solar \t Park ") == "solar park"
    assert plants.name_key("STRASSE") == plants.name_key("straße")


def test_get_returns_what_create_returned() -> None:
    created = plants.create_plant(OWNER, "Alpha")
    assert plants.get_plant(OWNER, created.id) == created


def test_unknown_plant() -> None:
    with pytest.raises(PlantNotFound):
        plants.get_plant(OWNER, 99)
    with pytest.raises(PlantNotFound):
        plants.rename_plant(OWNER, 99, "x")
    with pytest.raises(PlantNotFound):
        plants.delete_plant(OWNER, 99)


def test_rename_moves_the_name_claim() -> None:
    plant = plants.create_plant(OWNER, "Old")
    renamed = plants.rename_plant(OWNER, plant.id, "New")
    assert renamed.name == "New" and renamed.updated_at >= plant.updated_at
    assert plants.get_plant(OWNER, plant.id).name == "New"
    # the old name is free again, the new one is taken
    plants.create_plant(OWNER, "Old")
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, "new")


def test_rename_to_a_taken_name_changes_nothing() -> None:
    a = plants.create_plant(OWNER, "A")
    plants.create_plant(OWNER, "B")
    with pytest.raises(NameTaken):
        plants.rename_plant(OWNER, a.id, "b")
    assert plants.get_plant(OWNER, a.id).name == "A"


def test_rename_to_another_spelling_of_its_own_name() -> None:
    plant = plants.create_plant(OWNER, "solar park")
    assert plants.rename_plant(OWNER, plant.id, "Solar  Park").name == "Solar  Park"
    with pytest.raises(NameTaken):
        plants.create_plant(OWNER, "SOLAR PARK")


def test_delete_frees_the_name() -> None:
    plant = plants.create_plant(OWNER, "Gone")
    plants.delete_plant(OWNER, plant.id)
    with pytest.raises(PlantNotFound):
        plants.get_plant(OWNER, plant.id)
    assert plants.create_plant(OWNER, "gone").name == "gone"


def test_pagination_walks_every_plant_once_in_id_order() -> None:
    created = [plants.create_plant(OWNER, f"P{i}").id for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = plants.list_plants(OWNER, limit=3, cursor=cursor)
        seen += [p.id for p in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == created
    assert pages == 3


def test_empty_list() -> None:
    page = plants.list_plants(OWNER)
    assert page.items == [] and page.next_cursor is None


@pytest.mark.parametrize("cursor", ["not-base64!", "eyJ4IjogMX0=", "eyJhZnRlciI6ICJ4In0=", "W10="])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        plants.list_plants(OWNER, cursor=cursor)


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


@pytest.fixture
def small_queries(monkeypatch):
    """Query calls of 2 plants each, so one page of results needs several of them."""
    from powerfactor.plants import store as storage

    monkeypatch.setattr(storage, "SEARCH_QUERY_ITEMS", 2)
    return storage


@pytest.mark.usefixtures("small_queries")
def test_search_finds_the_matches_across_pages_in_id_order() -> None:
    created = [
        plants.create_plant(OWNER, f"{'North Park' if i % 3 == 0 else 'Field'} {i}").id for i in range(12)
    ]
    matches = [plant_id for i, plant_id in enumerate(created) if i % 3 == 0]
    assert _search_all("park", limit=1) == (matches, 4)  # the last page finds no fifth match
    assert _search_all("PARK", limit=3) == (matches, 2)
    page = plants.search_plants(OWNER, "north park", limit=4)
    assert [p.id for p in page.items] == matches and page.next_cursor is None
    assert all("North Park" in p.name for p in page.items)


def test_search_folds_case_width_and_spaces_as_names_do() -> None:
    strasse = plants.create_plant(OWNER, "Hauptstraße Süd").id
    wide = plants.create_plant(OWNER, f"{FULLWIDTH_SOLAR}  Field").id  # two spaces
    plants.create_plant(OWNER, "Other")
    assert [p.id for p in plants.search_plants(OWNER, "STRASSE").items] == [strasse]
    assert [p.id for p in plants.search_plants(OWNER, "  Straße  süd ").items] == [strasse]
    assert [p.id for p in plants.search_plants(OWNER, "solar field").items] == [wide]
    assert [p.id for p in plants.search_plants(OWNER, "\uff26\uff29\uff25\uff2c\uff24").items] == [wide]


def test_a_search_without_matches_is_one_empty_last_page() -> None:
    plants.create_plant(OWNER, "Alpha")
    page = plants.search_plants(OWNER, "omega")
    assert page.items == [] and page.next_cursor is None
    assert plants.search_plants(OWNER, "x").items == []


def test_a_search_cursor_works_only_for_its_own_text() -> None:
    for i in range(3):
        plants.create_plant(OWNER, f"Park {i}")
    cursor = plants.search_plants(OWNER, "park", limit=1).next_cursor
    assert cursor
    assert [p.name for p in plants.search_plants(OWNER, "PARK ", limit=1, cursor=cursor).items] == ["Park 1"]
    with pytest.raises(InvalidCursor):
        plants.search_plants(OWNER, "par", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        plants.list_plants(OWNER, limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        plants.search_plants(OWNER, "park", cursor=plants.list_plants(OWNER, limit=1).next_cursor)


def test_one_page_of_a_search_makes_a_bounded_number_of_queries(small_queries, monkeypatch) -> None:
    """Out of Query calls before a match, a page is empty but continues the search."""
    from pynamodb.connection.table import TableConnection

    for i in range(9):
        plants.create_plant(OWNER, f"filler {i}")
    needle = plants.create_plant(OWNER, "Needle").id
    monkeypatch.setattr(small_queries, "SEARCH_MAX_QUERIES", 2)
    calls = []
    query = TableConnection.query
    monkeypatch.setattr(
        TableConnection, "query", lambda self, *a, **kw: calls.append(1) or query(self, *a, **kw)
    )
    first = plants.search_plants(OWNER, "needle", limit=5)
    assert first.items == [] and first.next_cursor and len(calls) == 2  # plants 1-4 read
    assert _search_all("needle", limit=5) == ([needle], 3)
    assert len(calls) <= 2 + 3 * 2  # at most SEARCH_MAX_QUERIES a page


@pytest.mark.parametrize("text", ["", "   ", "\ufdfa" * 100])
def test_a_search_text_that_cannot_match_a_name_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="search text"):
        plants.search_plants(OWNER, text)
