"""The plants table. Its pynamodb models are private; the functions speak the domain.

Plants table (single-table, key `pk`, see template.yaml):
- `PLANT#<id>`  the plant: id, its account (`account_id`), name, name_key, timestamps, the optional
                metadata (capacity_kwp, timezone, latitude, longitude, commissioned_on; absent
                when unset). `account_id` puts it in the sparse GSI `by_account`, which lists an
                account's plants in id order (one partition per account). `entity = "plant"` puts
                it in the sparse GSI `by_plant_id`, every plant in id order, which only the
                system's own jobs read (the daily sync, the count of all plants, the migration).
                A plant written before accounts existed has no `account_id`: it is the default
                account's (`python -m manage migrate` writes it and counts it).
- `NAME#<key>`  the claim on a normalized name in the default account, `ACCOUNT#<id>#NAME#<key>`
                in any other (names are unique within an account); created and deleted in the
                same transaction as the plant, so DynamoDB itself keeps names unique. The default
                account's claims keep the key today's items have, so they need no migration.
- `COUNTER#plant` the id counter, incremented atomically; ids are never reused (one sequence for
                every account).
- `COUNT#plants` how many plants exist in the deployment, and `ACCOUNT#<id>#COUNT#plants` how many
                the account holds: both incremented in the transaction that inserts a plant, on
                condition that they are below the deployment's MaxPlants and the account's limit,
                and decremented in the one that deletes it, so both caps hold under concurrent
                creates.

Every write a caller makes (create, rename, patch, delete, a re-sync's request) puts its audit
entry (powerfactor.access.audit) in the same transaction as the change: a change refused writes
no entry, and none is kept without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import ITEMS
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.access import audit, audit_store
from powerfactor.access.principal import DEFAULT_ACCOUNT, PlantRef, Principal
from powerfactor.aws import internals, transactions
from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.plants.schemas import Plant, Resync, ResyncResult, SyncState, resync_id
from powerfactor.runtime.errors import NameTaken, PlantLimitReached, PlantNotFound, StorageBusy

_PLANT_ENTITY = "plant"
_COUNTER_KEY = "COUNTER#plant"
_COUNT_KEY = "COUNT#plants"
_TRANSACTION_ATTEMPTS = 10
_TRANSACTION_ITEMS = 6  # the most items a transaction here writes (a create, and two audit entries)

# A guard of a change: raises (PlantNotFound, ...) unless the caller may change this plant.
Guard = Callable[[PlantRef], None]


def _record(
    tx: TransactWrite,
    by: Principal,
    owner: str,
    action: str,
    plant_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Put the audit entries of this write in its transaction (after the change's own items, so
    that the change's cancellation reasons keep their places)."""
    for entry in audit.entries(by, owner, action, f"plant/{plant_id}", before, after, details=details):
        audit_store.record(tx, entry)


_AUDITED = ("name", "capacity_kwp", "timezone", "latitude", "longitude", "commissioned_on")


def _audited(item: _PlantItem, fields: Iterable[str] = _AUDITED) -> dict[str, Any]:
    return {name: getattr(item, name) for name in fields}


def _plant_pk(plant_id: int) -> str:
    return f"PLANT#{plant_id}"


def _name_pk(account_id: str, name_key: str) -> str:
    if account_id == DEFAULT_ACCOUNT:
        return f"NAME#{name_key}"
    return f"ACCOUNT#{account_id}#NAME#{name_key}"


def _account_count_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}#{_COUNT_KEY}"


class _ByPlantId(GlobalSecondaryIndex["_PlantItem"]):
    class Meta:
        index_name = "by_plant_id"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    plant_id = NumberAttribute(range_key=True)


class _ByAccount(GlobalSecondaryIndex["_PlantItem"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    plant_id = NumberAttribute(range_key=True)


class _PlantItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default=_PLANT_ENTITY)
    plant_id = NumberAttribute()
    account_id = UnicodeAttribute(null=True)  # absent: written before accounts, the default account's
    name = UnicodeAttribute()
    name_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    by_plant_id = _ByPlantId()
    by_account = _ByAccount()
    # the ids of the account's portfolios it is in (plants/portfolio_store.py keeps it in step with
    # the portfolios' member items): what a key restricted to portfolios, or a portfolio's grant,
    # is judged on, read with the plant itself
    portfolios = UnicodeSetAttribute(null=True)
    # metadata (see powerfactor.plants.schemas.PlantCreate); absent when unset
    capacity_kwp = NumberAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    latitude = NumberAttribute(null=True)
    longitude = NumberAttribute(null=True)
    commissioned_on = UnicodeAttribute(null=True)
    # sync state (see powerfactor.sync)
    history_from = UnicodeAttribute(null=True)
    synced_until = UnicodeAttribute(null=True)
    missing_days = ListAttribute(of=UnicodeAttribute, null=True)
    last_success_at = UTCDateTimeAttribute(null=True)
    last_attempt_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    # a re-sync of a range, while queued or running (powerfactor.sync.resync)
    resync_from = UnicodeAttribute(null=True)
    resync_to = UnicodeAttribute(null=True)
    resync_state = UnicodeAttribute(null=True)
    resync_requested_at = UTCDateTimeAttribute(null=True)
    resync_error = UnicodeAttribute(null=True)
    resync_remove_missing = BooleanAttribute(null=True)
    resync_dry_run = BooleanAttribute(null=True)
    resync_result = UnicodeAttribute(null=True)  # ResyncResult as JSON: the counts so far
    resync_key_id = UnicodeAttribute(null=True)  # the API key that asked for it
    resync_reason = UnicodeAttribute(null=True)
    last_resync = UnicodeAttribute(null=True)  # ResyncResult as JSON: the last finished one

    def resync(self) -> Resync | None:
        if self.resync_from is None:
            return None
        return Resync(
            id=resync_id(date.fromisoformat(self.resync_from), date.fromisoformat(self.resync_to),
                         self.resync_requested_at),
            plant_id=int(self.plant_id), from_=self.resync_from, to=self.resync_to,
            state=self.resync_state or "pending", requested_at=self.resync_requested_at,
            last_error=self.resync_error, remove_missing=bool(self.resync_remove_missing),
            dry_run=bool(self.resync_dry_run), key_id=self.resync_key_id, reason=self.resync_reason,
            result=ResyncResult.model_validate_json(self.resync_result) if self.resync_result else None,
        )  # fmt: skip

    def sync_state(self) -> SyncState:
        return SyncState(
            resync=self.resync(),
            last_resync=ResyncResult.model_validate_json(self.last_resync) if self.last_resync else None,
            history_from=self.history_from,
            synced_until=self.synced_until,
            missing_days=self.missing_days or [],
            last_success_at=self.last_success_at,
            last_attempt_at=self.last_attempt_at,
            last_error=self.last_error,
        )

    @property
    def owner(self) -> str:
        return self.account_id or DEFAULT_ACCOUNT

    def ref(self) -> PlantRef:
        return PlantRef(self.owner, int(self.plant_id), frozenset(self.portfolios or ()))

    def to_domain(self) -> Plant:
        return Plant(
            id=int(self.plant_id),
            name=self.name,
            capacity_kwp=self.capacity_kwp,
            timezone=self.timezone,
            latitude=self.latitude,
            longitude=self.longitude,
            commissioned_on=self.commissioned_on,
            created_at=self.created_at,
            updated_at=self.updated_at,
            sync=self.sync_state(),
        ).owned_by(self.owner, frozenset(self.portfolios or ()))


class _NameClaim(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    plant_id = NumberAttribute()


class _Counter(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


_MODELS: tuple[type[Model], ...] = (_PlantItem, _NameClaim, _Counter)


def _bind() -> None:
    bind(_MODELS, lambda settings: settings.plants_table)


def _with_transaction_retries[T](attempt: Callable[[], T]) -> T:
    """Run a transaction, again when it lost a race with another transaction on the same items.

    DynamoDB cancels concurrent transactions on one item with `TransactionConflict` rather than
    serializing them; a retry then sees the winner's write and its condition decides the outcome.
    A failed condition in the same cancellation already decided it (a claimed name stays claimed
    whatever else conflicted), so that is raised at once.
    """
    for n in range(_TRANSACTION_ATTEMPTS):
        try:
            return attempt()
        except TransactWriteError as error:
            reasons = transactions.reasons(error, _TRANSACTION_ITEMS)
            if "TransactionConflict" not in reasons or "ConditionalCheckFailed" in reasons:
                raise
            if n == _TRANSACTION_ATTEMPTS - 1:
                raise StorageBusy("concurrent writes kept conflicting") from error
            transactions.backoff(n)
    raise AssertionError("unreachable")


def allocate_plant_id() -> int:
    """The next plant id: an atomic counter, so two creates never get the same id."""
    _bind()
    counter = _Counter(pk=_COUNTER_KEY)
    counter.update(actions=[_Counter.value.add(1)])
    return int(counter.value)


def _stored(value: Any) -> Any:
    """A metadata value as its attribute holds it (days as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


def insert_plant(
    plant_id: int,
    account_id: str,
    name: str,
    name_key: str,
    now: datetime,
    limits: tuple[int, int],
    metadata: dict[str, Any] | None = None,
    *,
    by: Principal,
) -> Plant:
    """Store a new plant of `account_id`, claim its name in the account and count it (in the
    account and in the deployment), in one transaction.

    `limits` are the account's plant limit and the deployment's (MaxPlants). `metadata` maps
    metadata fields to values (None: unset). NameTaken if the account has a plant of this name;
    PlantLimitReached if the account, or the deployment, holds its maximum of plants already.
    """
    _bind()
    account_limit, ceiling = limits
    item = _PlantItem(
        pk=_plant_pk(plant_id),
        plant_id=plant_id,
        account_id=account_id,
        name=name,
        name_key=name_key,
        created_at=now,
        updated_at=now,
        **{field: _stored(value) for field, value in (metadata or {}).items() if value is not None},
    )
    claim = _NameClaim(pk=_name_pk(account_id, name_key), plant_id=plant_id)

    def attempt() -> None:
        with TransactWrite(
            connection=internals.low_level_connection(_PlantItem), client_request_token=transactions.token()
        ) as tx:
            tx.save(item, condition=_PlantItem.pk.does_not_exist())
            tx.save(claim, condition=_NameClaim.pk.does_not_exist())
            tx.update(
                _Counter(pk=_account_count_pk(account_id)),
                actions=[_Counter.value.add(1)],
                condition=_Counter.value.does_not_exist() | (_Counter.value < account_limit),
            )
            tx.update(
                _Counter(pk=_COUNT_KEY),
                actions=[_Counter.value.add(1)],
                condition=_Counter.value.does_not_exist() | (_Counter.value < ceiling),
            )
            _record(tx, by, account_id, "plant.created", plant_id, None, _audited(item))

    if account_limit < 1 or ceiling < 1:  # a count that does not exist yet passes its condition
        raise PlantLimitReached(min(account_limit, ceiling), account=account_limit <= ceiling)
    try:
        _with_transaction_retries(attempt)
    except TransactWriteError as error:
        reasons = transactions.reasons(error, _TRANSACTION_ITEMS)
        if reasons[1] == "ConditionalCheckFailed":
            raise NameTaken(name) from None
        if reasons[2] == "ConditionalCheckFailed":
            raise PlantLimitReached(account_limit, account=True) from None
        if reasons[3] == "ConditionalCheckFailed":
            raise PlantLimitReached(ceiling, account=False) from None
        raise
    return item.to_domain()


def _load(plant_id: int) -> _PlantItem:
    try:
        return _PlantItem.get(_plant_pk(plant_id), consistent_read=True)
    except _PlantItem.DoesNotExist:
        raise PlantNotFound(plant_id) from None


def get_plant(plant_id: int) -> Plant:
    _bind()
    return _load(plant_id).to_domain()


def get_plants(plant_ids: list[int]) -> dict[int, Plant]:
    """The plants of these ids that exist, by id (BatchGetItem: at most 100 keys a call)."""
    _bind()
    return {
        int(item.plant_id): item.to_domain()
        for item in _PlantItem.batch_get([_plant_pk(i) for i in plant_ids])
    }


def list_plants(
    account_id: str, limit: int, after_id: int | None, only: frozenset[int] | None = None
) -> tuple[list[Plant], int | None]:
    """Up to `limit` of the account's plants with ids above `after_id`, in id order, and the id
    the next page starts after (None: this is the last); with `only`, those plants alone."""
    if only is not None:
        return _restricted(account_id, only, None, limit, after_id)
    _bind()
    range_condition = _PlantItem.plant_id > after_id if after_id is not None else None
    found = list(
        _PlantItem.by_account.query(account_id, range_key_condition=range_condition, limit=limit + 1)
    )
    items = [item.to_domain() for item in found[:limit]]
    return items, (items[-1].id if len(found) > limit and items else None)


def _restricted(
    account_id: str, only: frozenset[int], part: str | None, limit: int, after_id: int | None
) -> tuple[list[Plant], int | None]:
    """list_plants and search_plants for a key restricted to `only` (at most 100 plants): those
    plants read by key (BatchGetItem: DynamoDB filters on no key attribute of the index, and a
    restricted key needs none of the account's other plants), the account's alone, in id order."""
    _bind()
    wanted = sorted(i for i in only if after_id is None or i > after_id)
    found = [
        item
        for item in _PlantItem.batch_get([_plant_pk(i) for i in wanted])
        if item.account_id == account_id and (part is None or part in item.name_key)
    ]
    found.sort(key=lambda item: int(item.plant_id))
    items = [item.to_domain() for item in found[:limit]]
    return items, (items[-1].id if len(found) > limit and items else None)


# A search reads the index with a filter: at most this many plants per Query call (and at most
# 1 MB, DynamoDB's own cap), and at most this many calls per page of results.
SEARCH_QUERY_ITEMS = 1000
SEARCH_MAX_QUERIES = 10


def search_plants(
    account_id: str, part: str, limit: int, after_id: int | None, only: frozenset[int] | None = None
) -> tuple[list[Plant], int | None]:
    """Up to `limit` of the account's plants with ids above `after_id` whose name_key contains
    `part` (with `only`: among those plants alone), in id order, and the id the next page starts
    after (None: no plant after these can match).

    DynamoDB applies a Query's Limit before its filter, so the account's partition of the index
    is read a page at a time until limit+1 plants matched or it ends, but for at most
    SEARCH_MAX_QUERIES calls of SEARCH_QUERY_ITEMS plants each: if those run out first, the page
    may be short (even empty) and continues after the last plant read.
    """
    if only is not None:
        return _restricted(account_id, only, part, limit, after_id)
    _bind()
    condition = _PlantItem.name_key.contains(part)
    range_condition = _PlantItem.plant_id > after_id if after_id is not None else None
    pages = _PlantItem.by_account.query(
        account_id,
        range_key_condition=range_condition,
        filter_condition=condition,
        page_size=SEARCH_QUERY_ITEMS,
    ).page_iter
    found: list[_PlantItem] = []
    for queries, page in enumerate(pages, start=1):
        for raw in page.get(ITEMS) or ():
            found.append(_PlantItem.from_raw_data(raw))
            if len(found) > limit:
                return [item.to_domain() for item in found[:limit]], int(found[limit - 1].plant_id)
        last = pages.last_evaluated_key
        if last is None:
            break
        if queries >= SEARCH_MAX_QUERIES:
            return [item.to_domain() for item in found], int(last["plant_id"]["N"])
    return [item.to_domain() for item in found], None


def _mutate_plant(
    plant_id: int, guard: Guard, write: Callable[[_PlantItem, TransactWrite], None]
) -> _PlantItem:
    """Read a plant, check that the caller may change it (`guard` raises otherwise), then run
    `write` in a transaction guarded by the name and account it was read with.

    `write` puts the plant first. If the plant changed in between (a concurrent rename or delete),
    read it again and retry; if it is gone, PlantNotFound. Whatever the other items' reasons are
    then, they judged the stale read: the old name's claim is gone once a concurrent rename moved
    it, so a failed plant guard always means retry, never NameTaken. The other items' failures are
    raised (for the caller to map) only when the plant was as read. StorageBusy when the attempts
    run out. Returns the item as it was read for the successful attempt.
    """
    for n in range(_TRANSACTION_ATTEMPTS):
        current = _load(plant_id)
        guard(current.ref())
        try:
            with TransactWrite(
                connection=internals.low_level_connection(_PlantItem),
                client_request_token=transactions.token(),
            ) as tx:
                write(current, tx)
            return current
        except TransactWriteError as error:
            reasons = transactions.reasons(error, _TRANSACTION_ITEMS)
            stale = reasons[0] == "ConditionalCheckFailed"
            if not stale and ("ConditionalCheckFailed" in reasons or "TransactionConflict" not in reasons):
                raise
            transactions.backoff(n)
    raise StorageBusy(f"plant {plant_id} kept changing during the update")


def _unchanged(item: _PlantItem) -> Any:
    """The plant is as it was read: same name, same account (or still none, before the migration)."""
    same_account = (
        _PlantItem.account_id == item.account_id
        if item.account_id is not None
        else _PlantItem.account_id.does_not_exist()
    )
    return _PlantItem.pk.exists() & (_PlantItem.name_key == item.name_key) & same_account


def update_plant(
    plant_id: int,
    now: datetime,
    guard: Guard,
    name: str | None = None,
    name_key: str | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    by: Principal,
    action: str = "plant.patched",
) -> Plant:
    """Change a plant the guard lets the caller change: its name if given (moving its name
    claim in the same transaction; NameTaken if the account has it) and these metadata fields
    (None: remove the field). `by` and `action` are the audit entry's."""
    _bind()
    metadata = metadata or {}

    def write(current: _PlantItem, tx: TransactWrite) -> None:
        actions: list[Action] = [_PlantItem.updated_at.set(now)]
        if name is not None:
            if name_key is None:
                raise ValueError("a new name comes with its name key")
            actions += [_PlantItem.name.set(name), _PlantItem.name_key.set(name_key)]
        for field, value in metadata.items():
            actions.append(_set_or_remove(getattr(_PlantItem, field), _stored(value)))
        tx.update(current, actions=actions, condition=_unchanged(current))
        if name is not None and name_key is not None and current.name_key != name_key:
            tx.save(
                _NameClaim(pk=_name_pk(current.owner, name_key), plant_id=plant_id),
                condition=_NameClaim.pk.does_not_exist(),
            )
            tx.delete(
                _NameClaim(pk=_name_pk(current.owner, current.name_key)),
                condition=_NameClaim.plant_id == plant_id,
            )
        fields = ([] if name is None else ["name"]) + list(metadata)
        after = {**metadata, **({} if name is None else {"name": name})}
        _record(tx, by, current.owner, action, plant_id, _audited(current, fields),
                {k: _stored(v) for k, v in after.items()})  # fmt: skip

    try:
        renamed = _mutate_plant(plant_id, guard, write)
    except TransactWriteError as error:
        # the plant was as read (_mutate_plant retries otherwise), so only the new claim can fail
        if transactions.reasons(error, _TRANSACTION_ITEMS)[1] == "ConditionalCheckFailed":
            raise NameTaken(str(name)) from None
        raise
    if name is not None:
        renamed.name, renamed.name_key = name, name_key
    renamed.updated_at = now
    for field, value in metadata.items():
        setattr(renamed, field, _stored(value))
    return renamed.to_domain()


def delete_plant(plant_id: int, guard: Guard, *, by: Principal) -> None:
    """Delete a plant the guard lets the caller delete, release its name and uncount it. Its
    datapoints are removed by the stream consumer."""
    _bind()

    def write(current: _PlantItem, tx: TransactWrite) -> None:
        tx.delete(current, condition=_unchanged(current))
        tx.delete(
            _NameClaim(pk=_name_pk(current.owner, current.name_key)),
            condition=_NameClaim.plant_id == plant_id,
        )
        tx.update(_Counter(pk=_COUNT_KEY), actions=[_Counter.value.add(-1)])
        if current.account_id is not None:  # a plant not yet migrated is not in its account's count
            tx.update(_Counter(pk=_account_count_pk(current.account_id)), actions=[_Counter.value.add(-1)])
        if current.portfolios:  # its memberships go with it
            from powerfactor.plants import portfolio_store  # imports this module

            portfolio_store.forget_plant(tx, current.owner, plant_id, frozenset(current.portfolios))
        _record(tx, by, current.owner, "plant.deleted", plant_id, _audited(current), None)

    _mutate_plant(plant_id, guard, write)


def recount_plants() -> int:
    """Set the deployment's plant count to the plants that exist (for data written before the
    count was kept, or straight into the table); run it while no plant is being created or deleted."""
    _bind()
    count = _PlantItem.by_plant_id.count(_PLANT_ENTITY)
    _Counter(pk=_COUNT_KEY, value=count).save()
    return count


def recount_account(account_id: str, dry_run: bool = False) -> int:
    """Set the account's plant count to its plants (those with its `account_id`), unless
    `dry_run`: then only count them. Run it while nobody creates or deletes the account's plants."""
    _bind()
    count = _PlantItem.by_account.count(account_id)
    if not dry_run:
        _Counter(pk=_account_count_pk(account_id), value=count).save()
    return count


def account_plant_count(account_id: str) -> int:
    """How many plants the account's count says it holds."""
    _bind()
    try:
        return int(_Counter.get(_account_count_pk(account_id), consistent_read=True).value or 0)
    except _Counter.DoesNotExist:
        return 0


# ---- the migration to accounts (manage/migrate.py) ----


def plants_without_account(page_size: int = 500) -> Iterator[int]:
    """Ids of the plants written before accounts existed (no `account_id`), read a page at a
    time from the index of every plant."""
    _bind()
    for item in _PlantItem.by_plant_id.query(
        _PLANT_ENTITY,
        filter_condition=_PlantItem.account_id.does_not_exist(),
        attributes_to_get=["plant_id"],
        page_size=page_size,
    ):
        yield int(item.plant_id)


def _first_held(attempt: Callable[[], None]) -> bool:
    """Run a transaction whose first item is a conditional write: whether its condition held
    (False: nothing written); any other failure is raised."""
    try:
        _with_transaction_retries(attempt)
    except TransactWriteError as error:
        if transactions.reasons(error, _TRANSACTION_ITEMS)[0] == "ConditionalCheckFailed":
            return False
        raise
    return True


def adopt_plant(plant_id: int, account_id: str) -> bool:
    """Give a plant written before accounts existed to `account_id` and count it there, in one
    transaction; False if it has an account already or is gone (nothing written). Its name claim
    stays as it is: `account_id` must be the default account, whose claims have today's keys."""
    if account_id != DEFAULT_ACCOUNT:
        raise ValueError("plants written before accounts are adopted by the default account only")
    _bind()

    def attempt() -> None:
        with TransactWrite(
            connection=internals.low_level_connection(_PlantItem), client_request_token=transactions.token()
        ) as tx:
            tx.update(
                _PlantItem(pk=_plant_pk(plant_id)),
                actions=[_PlantItem.account_id.set(account_id)],
                condition=_PlantItem.pk.exists() & _PlantItem.account_id.does_not_exist(),
            )
            tx.update(_Counter(pk=_account_count_pk(account_id)), actions=[_Counter.value.add(1)])

    return _first_held(attempt)


def plant_ids(page_size: int = 500) -> Iterator[int]:
    """Every plant id, in order, read a page at a time from the sparse index."""
    _bind()
    for item in _PlantItem.by_plant_id.query(
        _PLANT_ENTITY, attributes_to_get=["plant_id"], page_size=page_size
    ):
        yield int(item.plant_id)


def _conditional_update(plant_id: int, actions: list[Any], condition: Any) -> _PlantItem | None:
    """Update a plant if the condition holds; the updated item, or None if it did not hold."""
    item = _PlantItem(pk=_plant_pk(plant_id))
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return None
        raise
    return item


def _audited_update(
    plant_id: int,
    actions: list[Any],
    condition: Any,
    audited: tuple[Principal, str, str, dict[str, Any]] | None,
) -> bool:
    """Update a plant if the condition holds, with the audit entry of (caller, owner, action,
    details) in the same transaction; whether it held."""
    if audited is None:
        return _conditional_update(plant_id, actions, condition) is not None
    by, owner, action, details = audited

    def attempt() -> None:
        with TransactWrite(
            connection=internals.low_level_connection(_PlantItem), client_request_token=transactions.token()
        ) as tx:
            tx.update(_PlantItem(pk=_plant_pk(plant_id)), actions=actions, condition=condition)
            _record(tx, by, owner, action, plant_id, None, None, details)

    return _first_held(attempt)


def acquire_sync_lease(plant_id: int, owner: str, now: datetime, seconds: int) -> SyncState | None:
    """Take the plant's sync lease (one sync per plant at a time): its state, or None if another
    run holds the lease. PlantNotFound if the plant does not exist."""
    _bind()
    epoch = int(now.timestamp())
    item = _conditional_update(
        plant_id,
        [
            _PlantItem.lease_owner.set(owner),
            _PlantItem.lease_until.set(epoch + seconds),
            _PlantItem.last_attempt_at.set(now),
        ],
        _PlantItem.pk.exists()
        & (
            _PlantItem.lease_until.does_not_exist()
            | (_PlantItem.lease_until < epoch)
            | (_PlantItem.lease_owner == owner)
        ),
    )
    if item is None:
        _load(plant_id)  # PlantNotFound if it is gone; otherwise it is busy
        return None
    return item.sync_state()


def save_sync_state(plant_id: int, owner: str, state: SyncState) -> bool:
    """Record sync progress while holding the lease; False if the plant was deleted meanwhile."""
    _bind()
    actions = [
        _set_or_remove(_PlantItem.history_from, state.history_from and state.history_from.isoformat()),
        _set_or_remove(_PlantItem.synced_until, state.synced_until and state.synced_until.isoformat()),
        _set_or_remove(_PlantItem.missing_days, [d.isoformat() for d in state.missing_days] or None),
        _set_or_remove(_PlantItem.last_success_at, state.last_success_at),
        _set_or_remove(_PlantItem.last_error, state.last_error),
    ]
    return (
        _conditional_update(plant_id, actions, _PlantItem.pk.exists() & (_PlantItem.lease_owner == owner))
        is not None
    )


def release_sync_lease(plant_id: int, owner: str) -> None:
    _bind()
    _conditional_update(
        plant_id,
        [_PlantItem.lease_owner.remove(), _PlantItem.lease_until.remove()],
        _PlantItem.pk.exists() & (_PlantItem.lease_owner == owner),
    )


def _set_or_remove(attribute: Any, value: Any) -> Any:
    return attribute.remove() if value is None else attribute.set(value)


_RESYNC_FIELDS = (
    "resync_from", "resync_to", "resync_state", "resync_requested_at", "resync_error",
    "resync_remove_missing", "resync_dry_run", "resync_result", "resync_key_id", "resync_reason",
)  # fmt: skip
# Conditional writes of a re-sync request before giving up (StorageBusy, 503): each retry follows
# a pending re-sync that ended between the refused write and the read of the plant.
_RESYNC_ATTEMPTS = 5


def request_resync(
    plant_id: int,
    start: str,
    last: str,
    now: datetime,
    stale_before: datetime,
    *,
    remove_missing: bool = False,
    dry_run: bool = False,
    key_id: str | None = None,
    reason: str | None = None,
    by: Principal | None = None,
    owner: str | None = None,
) -> Resync | None:
    """Record a pending re-sync of [start, last] unless one is pending or running (and requested
    after `stale_before`): None if recorded, else the one there. PlantNotFound if no plant.
    Whether it was there is decided by the conditional write alone, retried when the re-read
    finds none (another writer cleared it in between): a request is recorded (202) or sees the
    re-sync that blocked it (409).

    With `by` (the caller) and `owner` (the plant's account), the request's audit entry is written
    in the same transaction as the request (None: no entry, for tests and operators' tools)."""
    _bind()
    details = {"from": start, "to": last, "remove_missing": remove_missing, "dry_run": dry_run,
               "reason": reason}  # fmt: skip
    for _ in range(_RESYNC_ATTEMPTS):
        recorded = _audited_update(
            plant_id,
            [
                _PlantItem.resync_from.set(start),
                _PlantItem.resync_to.set(last),
                _PlantItem.resync_state.set("pending"),
                _PlantItem.resync_requested_at.set(now),
                _PlantItem.resync_error.remove(),
                _PlantItem.resync_remove_missing.set(remove_missing),
                _PlantItem.resync_dry_run.set(dry_run),
                _PlantItem.resync_result.remove(),
                _set_or_remove(_PlantItem.resync_key_id, key_id),
                _set_or_remove(_PlantItem.resync_reason, reason),
            ],
            _PlantItem.pk.exists()
            & (_PlantItem.resync_from.does_not_exist() | (_PlantItem.resync_requested_at < stale_before)),
            None if by is None else (by, owner or by.account_id, "plant.resync_requested", details),
        )
        if recorded:
            return None
        existing = _load(plant_id).resync()  # PlantNotFound if it is gone
        if existing is not None and existing.requested_at >= stale_before:
            return existing
        # The pending re-sync ended (or went stale) between the write and the read: the write
        # may succeed now; another request may win it again, hence a bounded loop.
    raise StorageBusy(f"plant {plant_id}: re-sync requests kept racing")


def set_resync(
    plant_id: int, owner: str, state: str, error: str | None = None, result: ResyncResult | None = None
) -> bool:
    """Under the lease: mark the re-sync `running` or back to `pending` (with why, and its counts
    so far); False if the lease is not ours or the plant is gone."""
    _bind()
    actions = [_PlantItem.resync_state.set(state), _set_or_remove(_PlantItem.resync_error, error)]
    if result is not None:
        actions.append(_PlantItem.resync_result.set(result.model_dump_json(exclude_none=True)))
    return (
        _conditional_update(
            plant_id,
            actions,
            _PlantItem.pk.exists() & (_PlantItem.lease_owner == owner) & _PlantItem.resync_from.exists(),
        )
        is not None
    )


def clear_resync(plant_id: int, owner: str, result: ResyncResult | None = None) -> bool:
    """Under the lease: the re-sync is done (its result kept as the plant's `last_resync`);
    False if the lease is not ours."""
    _bind()
    actions = [getattr(_PlantItem, name).remove() for name in _RESYNC_FIELDS]
    if result is not None:
        actions.append(_PlantItem.last_resync.set(result.model_dump_json(exclude_none=True)))
    return (
        _conditional_update(
            plant_id,
            actions,
            _PlantItem.pk.exists() & (_PlantItem.lease_owner == owner),
        )
        is not None
    )
