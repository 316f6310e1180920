"""The plants domain against moto: ids, name rules, pagination, rename and delete."""

import pytest

from powerfactor import plants
from powerfactor.errors import InvalidCursor, NameTaken, PlantNotFound

pytestmark = pytest.mark.usefixtures("aws")


def test_ids_are_sequential_and_never_reused() -> None:
    first = plants.create_plant("One")
    second = plants.create_plant("Two")
    assert (first.id, second.id) == (1, 2)
    plants.delete_plant(second.id)
    assert plants.create_plant("Three").id == 3


def test_a_failed_create_burns_its_id_but_never_hands_it_out_twice() -> None:
    plants.create_plant("Same")
    with pytest.raises(NameTaken):
        plants.create_plant("same")
    assert plants.create_plant("Other").id == 3


FULLWIDTH_SOLAR = "\uff53\uff4f\uff4c\uff41\uff52"


@pytest.mark.parametrize("other", ["SOLAR park", "solar   park", "Solar Park", f"{FULLWIDTH_SOLAR} park"])
def test_names_are_unique_ignoring_case_width_and_inner_spaces(other: str) -> None:
    plants.create_plant("Solar Park")
    with pytest.raises(NameTaken):
        plants.create_plant(other)


def test_name_key() -> None:
    assert plants.name_key(" Solar \t Park ") == "solar park"
    assert plants.name_key("STRASSE") == plants.name_key("straße")


def test_get_returns_what_create_returned() -> None:
    created = plants.create_plant("Alpha")
    assert plants.get_plant(created.id) == created


def test_unknown_plant() -> None:
    with pytest.raises(PlantNotFound):
        plants.get_plant(99)
    with pytest.raises(PlantNotFound):
        plants.rename_plant(99, "x")
    with pytest.raises(PlantNotFound):
        plants.delete_plant(99)


def test_rename_moves_the_name_claim() -> None:
    plant = plants.create_plant("Old")
    renamed = plants.rename_plant(plant.id, "New")
    assert renamed.name == "New" and renamed.updated_at >= plant.updated_at
    assert plants.get_plant(plant.id).name == "New"
    # the old name is free again, the new one is taken
    plants.create_plant("Old")
    with pytest.raises(NameTaken):
        plants.create_plant("new")


def test_rename_to_a_taken_name_changes_nothing() -> None:
    a = plants.create_plant("A")
    plants.create_plant("B")
    with pytest.raises(NameTaken):
        plants.rename_plant(a.id, "b")
    assert plants.get_plant(a.id).name == "A"


def test_rename_to_another_spelling_of_its_own_name() -> None:
    plant = plants.create_plant("solar park")
    assert plants.rename_plant(plant.id, "Solar  Park").name == "Solar  Park"
    with pytest.raises(NameTaken):
        plants.create_plant("SOLAR PARK")


def test_delete_frees_the_name() -> None:
    plant = plants.create_plant("Gone")
    plants.delete_plant(plant.id)
    with pytest.raises(PlantNotFound):
        plants.get_plant(plant.id)
    assert plants.create_plant("gone").name == "gone"


def test_pagination_walks_every_plant_once_in_id_order() -> None:
    created = [plants.create_plant(f"P{i}").id for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = plants.list_plants(limit=3, cursor=cursor)
        seen += [p.id for p in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == created
    assert pages == 3


def test_empty_list() -> None:
    page = plants.list_plants()
    assert page.items == [] and page.next_cursor is None


@pytest.mark.parametrize("cursor", ["not-base64!", "eyJ4IjogMX0=", "eyJhZnRlciI6ICJ4In0=", "W10="])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        plants.list_plants(cursor=cursor)
