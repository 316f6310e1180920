"""Plants: what a plant is and the rules for creating, listing, changing and deleting one.

A plant belongs to one account and has a name, unique within the account, and optional metadata
(models.PlantCreate: capacity, time zone, location, commissioning day). PATCH applies a JSON
merge patch (RFC 7386) to it: the fields sent change, `null` clears one; the name can be changed
but not cleared.

Every function a request calls takes the request's `Principal` first: a plant it does not reach
is PlantNotFound, exactly as a plant that does not exist (access/principal.py); lists hold only
the plants it reaches, read from its account's partition of the plant index, merged with the
plants other accounts share with it (marked `shared`) and, for a key restricted to portfolios,
read from their members (below); cursors are bound to it. A write needs the write scope and a
plant the caller owns or holds a write grant on; deleting stays with the owner; a key restricted
to some plants cannot create any.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from powerfactor.access import accounts
from powerfactor.access.principal import DEFAULT_ACCOUNT, PlantRef, Principal, Reach
from powerfactor.plants import portfolio_store
from powerfactor.plants import store as storage
from powerfactor.plants.schemas import METADATA_FIELDS, Plant, PlantPage, Shared, visible_text
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import (
    InvalidCursor,
    InvalidName,
    NotPermitted,
    PlantNotFound,
    PortfolioNotFound,
)
from powerfactor.runtime.settings import get_settings

# What is stored is the normalized key (`NAME#<key>` is a DynamoDB partition key, at most 2,048
# bytes); NFKC and case folding can make a 100-character name ten times longer (U+FDFA alone
# becomes 18 characters), so the key is checked, not only the name.
NAME_KEY_MAX_BYTES = 1024
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_SPACES = re.compile(r"\s+")


def name_key(name: str) -> str:
    """The form of a name that uniqueness is judged on: NFKC, case-folded, NFKC again (folding
    can leave a string that is not NFKC: "\u0390" and its capital would differ), spaces collapsed.

    "Solar Park", "solar  park" and "SOLAR PARK" are the same name; the plant keeps the spelling
    it was given.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return _SPACES.sub(" ", folded).strip()


def _checked_key(name: str) -> str:
    key = name_key(name)
    size = len(key.encode())
    if size > NAME_KEY_MAX_BYTES:
        raise InvalidName(
            f"the name is {size} bytes once normalized (Unicode NFKC, case folding); "
            f"at most {NAME_KEY_MAX_BYTES} are allowed"
        )
    return key


def _now() -> datetime:
    return datetime.now(UTC)


def create_plant(principal: Principal, name: str, **metadata: Any) -> Plant:
    """Create a plant of the caller's account with a fresh id and these metadata fields
    (models.METADATA_FIELDS).

    NameTaken if another plant of the account has this name; PlantLimitReached if the account
    holds its maximum of plants, or the deployment its MaxPlants, already; NotPermitted for a key
    restricted to some plants (it could not reach the new one).
    """
    principal.require_scope("write")
    if principal.restricted:
        raise NotPermitted("this key is restricted to some plants: it cannot create plants")
    _check_fields(metadata)
    key = _checked_key(name)
    ceiling = get_settings().max_plants
    limits = accounts.plant_limit(principal.account_id, ceiling), ceiling
    plant_id = storage.allocate_plant_id()
    return storage.insert_plant(
        plant_id, principal.account_id, name, key, _now(), limits, metadata, by=principal
    )


def _check_fields(metadata: dict[str, Any]) -> None:
    unknown = set(metadata) - set(METADATA_FIELDS)
    if unknown:
        raise TypeError(f"not metadata fields: {sorted(unknown)}")


def recount_plants() -> int:
    """Make the count the deployment's plant cap is checked against equal to the plants that exist."""
    return storage.recount_plants()


def recount_account(account_id: str) -> int:
    """Make the account's plant count equal to its plants."""
    return storage.recount_account(account_id)


def adopt_legacy_plants(dry_run: bool = False) -> tuple[int, int]:
    """Give the plants written before accounts existed to the default account, each counted there
    in the same transaction: (found, adopted). Safe to repeat and to stop at any point: a plant
    is adopted (and counted) once, whoever creates or deletes plants meanwhile."""
    found = list(storage.plants_without_account())
    if dry_run:
        return len(found), 0
    return len(found), sum(storage.adopt_plant(plant_id, DEFAULT_ACCOUNT) for plant_id in found)


def account_plants_counted(account_id: str) -> tuple[int, int]:
    """(the account's plant count, its plants in the index): equal unless plants were written
    straight into the table (then recount_account, while nobody creates or deletes its plants)."""
    return storage.account_plant_count(account_id), storage.recount_account(account_id, dry_run=True)


def _shown(principal: Principal, plant: Plant) -> Plant | None:
    """The plant as the caller sees it (a shared one marked with its owner's name and the share's
    access), or None if the caller does not reach it."""
    reach = principal.reach(plant.ref())
    if reach is None:
        return None
    if reach is not Reach.OWN:
        owner = next((g.owner_name for g in principal.grants if g.owner == plant.account_id), "")
        plant.shared = Shared(owner=owner, access="write" if reach is Reach.SHARED_WRITE else "read")
    return plant


def _reached(principal: Principal, plant: Plant) -> Plant:
    shown = _shown(principal, plant)
    if shown is None:
        raise PlantNotFound(plant.id)  # as for a plant that does not exist
    return shown


def get_plant(principal: Principal, plant_id: int) -> Plant:
    """The plant, if the caller reaches it; PlantNotFound otherwise (missing or not its own)."""
    return _reached(principal, storage.get_plant(plant_id))


def reachable(principal: Principal, plant_ids: Iterable[int]) -> frozenset[int]:
    """These plant ids, each checked to be a plant the caller reaches (PlantNotFound for the
    first that is not, as for a missing one): what a key it creates may be restricted to."""
    return frozenset(get_plant(principal, plant_id).id for plant_id in sorted(set(plant_ids)))


def _may_change(principal: Principal) -> storage.Guard:
    def guard(plant: PlantRef) -> None:
        if principal.reach(plant) is None:
            raise PlantNotFound(plant.plant_id)
        if not principal.may_change(plant):
            raise NotPermitted(f"this key cannot change plant {plant.plant_id}")

    return guard


def _may_delete(principal: Principal) -> storage.Guard:
    def guard(plant: PlantRef) -> None:
        _may_change(principal)(plant)
        if not principal.may_delete(plant):
            raise NotPermitted(f"only the account that owns plant {plant.plant_id} can delete it")

    return guard


def rename_plant(principal: Principal, plant_id: int, name: str) -> Plant:
    principal.require_scope("write")
    return _reached(
        principal,
        storage.update_plant(
            plant_id,
            _now(),
            _may_change(principal),
            name,
            _checked_key(name),
            by=principal,
            action="plant.renamed",
        ),
    )


def patch_plant(principal: Principal, plant_id: int, changes: dict[str, Any]) -> Plant:
    """Apply a merge patch's fields: `name` (not None) and metadata fields (None clears one).
    No fields: the plant as it is, unchanged."""
    principal.require_scope("write")
    changes = dict(changes)
    name = changes.pop("name", None)
    _check_fields(changes)
    if name is None and not changes:
        plant = get_plant(principal, plant_id)
        _may_change(principal)(plant.ref())
        return plant
    key = _checked_key(name) if name is not None else None
    return _reached(
        principal,
        storage.update_plant(plant_id, _now(), _may_change(principal), name, key, changes, by=principal),
    )


def delete_plant(principal: Principal, plant_id: int) -> None:
    principal.require_scope("write")
    storage.delete_plant(plant_id, _may_delete(principal), by=principal)


def _after_id(cursor: str, kind: str, request: str, principal: Principal) -> int:
    after = cursors.decode(cursor, kind, request, principal.scope_key)
    if not (after.isascii() and after.isdigit()) or int(after) > 2**53:
        raise InvalidCursor()
    return int(after)


# ---- lists that merge several sources: shared plants, portfolios, keys restricted to them ----
#
# Plant ids are one sequence across accounts, so every list is in id order and its cursor is the
# last id looked at, whatever account the plants belong to. A list merges sources that are each in
# id order: the account's partition of the plant index, a portfolio's member items (its own
# account's partition of the accounts table), the ids a key or a grant names. Each source is read
# from the cursor on for as many ids as the page needs; the smallest of their union are the page's
# candidates, read (those not read already) in one BatchGetItem, then kept if the caller reaches
# them (principal.reach). A page may then hold fewer plants than `limit` and still have a cursor.

Source = Callable[[int | None, int], tuple[list[int], dict[int, Plant]]]
MERGE_ROUNDS = 10  # a search's reads per page, as storage.SEARCH_MAX_QUERIES
MERGE_CHUNK = 100  # ids a search's round looks at (BatchGetItem's maximum)


def _account_source(account_id: str) -> Source:
    def read(after: int | None, count: int) -> tuple[list[int], dict[int, Plant]]:
        items, _ = storage.list_plants(account_id, count, after)
        return [p.id for p in items], {p.id: p for p in items}

    return read


def _ids_source(ids: frozenset[int]) -> Source:
    def read(after: int | None, count: int) -> tuple[list[int], dict[int, Plant]]:
        return sorted(i for i in ids if after is None or i > after)[:count], {}

    return read


def _portfolio_source(account_id: str, portfolio_id: str) -> Source:
    def read(after: int | None, count: int) -> tuple[list[int], dict[int, Plant]]:
        return portfolio_store.members(account_id, portfolio_id, count, after)[0], {}

    return read


def _sources(principal: Principal) -> list[Source]:
    """Where the plants the caller reaches are: its key's restriction, or its account and grants."""
    if principal.restricted:
        found = [_ids_source(principal.plants)] if principal.plants else []
        return found + [
            _portfolio_source(principal.account_id, p) for p in sorted(principal.portfolios or ())
        ]
    found = [_account_source(principal.account_id)]
    for grant in principal.grants:
        if grant.plants:
            found.append(_ids_source(grant.plants))
        found += [_portfolio_source(grant.owner, p) for p in sorted(grant.portfolios)]
    return found


def _walk(
    principal: Principal,
    sources: list[Source],
    after: int | None,
    limit: int,
    chunk: int,
    rounds: int,
    match: Callable[[Plant], bool] = lambda plant: True,
) -> tuple[list[Plant], int | None]:
    """Up to `limit` plants the caller reaches that `match`, from the merged sources, in id order
    after `after`; and the id the next page starts after (None: the sources are exhausted).
    Each round looks at the next `chunk` ids of the union; at most `rounds` rounds."""
    found: list[Plant] = []
    for _ in range(rounds):
        ids: set[int] = set()
        known: dict[int, Plant] = {}
        for source in sources:
            some, plants = source(after, chunk + 1)
            ids.update(some)
            known.update(plants)
        ordered = sorted(ids)
        more = len(ordered) > chunk
        ordered = ordered[:chunk]
        missing = [i for i in ordered if i not in known]
        for start in range(0, len(missing), MERGE_CHUNK):
            known.update(storage.get_plants(missing[start : start + MERGE_CHUNK]))
        for plant_id in ordered:
            plant = known.get(plant_id)
            shown = _shown(principal, plant) if plant is not None else None
            if shown is not None and match(shown):
                found.append(shown)
                if len(found) > limit:
                    return found[:limit], found[limit - 1].id
        if not more or not ordered:
            return found, None
        after = ordered[-1]
    return found, after


def _portfolio_filter(principal: Principal, portfolio_id: str) -> list[Source]:
    """The source of `?portfolio=`: one of the caller's account's portfolios (PortfolioNotFound
    for another's, as for none)."""
    if portfolio_store.get_portfolio(principal.account_id, portfolio_id) is None:
        raise PortfolioNotFound(portfolio_id)
    return [_portfolio_source(principal.account_id, portfolio_id)]


def list_plants(
    principal: Principal,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    portfolio: str | None = None,
) -> PlantPage:
    """One page of the plants the caller reaches (its own, and those shared with its account,
    marked `shared`), in id order; with `portfolio`, those of that portfolio of its account.
    `next_cursor` continues where this page ends (for this caller and portfolio only)."""
    request = f"portfolio={portfolio}" if portfolio is not None else ""
    after_id = _after_id(cursor, "plants", request, principal) if cursor else None
    if portfolio is None and not principal.restricted and not principal.grants:
        items, after = storage.list_plants(principal.account_id, limit, after_id)
    else:
        sources = _portfolio_filter(principal, portfolio) if portfolio is not None else _sources(principal)
        items, after = _walk(principal, sources, after_id, limit, limit, 1)
    next_cursor = (
        cursors.encode("plants", str(after), request, principal.scope_key) if after is not None else None
    )
    return PlantPage(items=items, next_cursor=next_cursor)


def restriction_plants(principal: Principal, most: int) -> frozenset[int] | None:
    """The ids of the plants a restricted key reaches (its plants, its portfolios' members), at
    most `most` of them; None for a key that is not restricted (the alert lists' `only`)."""
    if not principal.restricted:
        return None
    items, _ = _walk(principal, _sources(principal), None, most, most, 1)
    return frozenset(p.id for p in items)


SEARCH_MAX_LENGTH = 100  # characters of `q`, as a name's


def search_key(text: str) -> str:
    """The normalized form of a search text (name_key's, so case, width and repeated spaces do
    not matter: "STRASSE" finds "Straße"); ValueError if nothing but spaces is left or it is
    longer than any stored name key can be, or if it holds an invisible character no name may
    hold (models.visible_text)."""
    visible_text(text)
    key = name_key(text)
    if not key:
        raise ValueError("the search text is empty once spaces are trimmed")
    size = len(key.encode())
    if size > NAME_KEY_MAX_BYTES:
        raise ValueError(
            f"the search text is {size} bytes once normalized (Unicode NFKC, case folding); "
            f"no name is longer than {NAME_KEY_MAX_BYTES}"
        )
    return key


def search_plants(
    principal: Principal,
    text: str,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    portfolio: str | None = None,
) -> PlantPage:
    """One page of the plants the caller reaches whose name contains `text` (compared as
    search_key normalizes both), in id order, paginated as list_plants; a cursor works only for
    the same normalized text and caller.

    Cost: the account's partition of the plant index is read with a filter, from the cursor on,
    until limit+1 plants match or it ends; one page reads at most storage.SEARCH_MAX_QUERIES (10)
    Query calls of at most SEARCH_QUERY_ITEMS (1,000) plants and 1 MB each: at most 10,000
    plants, 10 MB and 1,280 read units (eventually consistent, 0.5 per 4 KB read, matching or
    not), about a second. Where that runs out first (more than 10,000 plants of the account, or
    large items) the page is short, possibly empty,
    and its `next_cursor` continues the search: only a null `next_cursor` means no more matches.
    ValueError for a text search_key refuses.
    """
    key = search_key(text)
    request = f"{key}\nportfolio={portfolio}" if portfolio is not None else key
    after_id = _after_id(cursor, "plant-search", request, principal) if cursor else None
    if portfolio is None and not principal.restricted and not principal.grants:
        items, after = storage.search_plants(principal.account_id, key, limit, after_id)
    else:
        sources = _portfolio_filter(principal, portfolio) if portfolio is not None else _sources(principal)
        items, after = _walk(
            principal, sources, after_id, limit, MERGE_CHUNK, MERGE_ROUNDS, lambda p: key in name_key(p.name)
        )
    next_cursor = (
        cursors.encode("plant-search", str(after), request, principal.scope_key)
        if after is not None
        else None
    )
    return PlantPage(items=items, next_cursor=next_cursor)
