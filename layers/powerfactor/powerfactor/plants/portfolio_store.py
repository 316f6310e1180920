"""Portfolios' storage: items in the accounts table's partition of their account, and each member
plant's `portfolios` set on its own item (plants/store.py), kept in step in one transaction.

Accounts table (key `pk` + `sk`), partition `ACCOUNT#<account id>`:
- `PORTFOLIO#<portfolio id>`  the portfolio: its name, created and updated times.
- `MEMBER#<portfolio id>#<plant id, 16 digits>`  a plant in it. A Query of the sort keys that begin
  with `MEMBER#<portfolio id>#` lists its plants in id order, a page at a time, and reads nothing
  but that portfolio's members (no filter, no other account).
Plants table: the plant's `portfolios` (a string set of portfolio ids) says which portfolios it is
in, so a key restricted to portfolios, or a grant of a portfolio, is judged on the plant item the
request reads anyway: a plant added to a portfolio is reached through it from the next request on.

Each change is one function and one TransactWrite (pynamodb sends its condition checks first,
then its deletes, puts and updates, whatever order they were added in: cancellation reasons are
read in that order) (`create`, `rename`, `change_members`, `remove`),
so that an audit entry can be written in the same transaction: a member's item and its plant's set
never disagree. A plant's deletion removes its member items in the plant's own transaction
(`forget_plant`). Portfolio ids are random and never reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from powerfactor.access import audit_store
from powerfactor.access.audit_store import AuditEntry
from powerfactor.access.principal import DEFAULT_ACCOUNT
from powerfactor.aws import transactions
from powerfactor.aws.tables import bind
from powerfactor.plants import store as plant_store
from powerfactor.runtime.errors import LimitReached, PlantNotFound, PortfolioNotFound
from powerfactor.runtime.settings import ConfigurationError, Settings

# A plant is in at most this many portfolios: its deletion removes its member items in its own
# transaction (100 items at most), and its set travels with every read of it.
MAX_PORTFOLIOS_PER_PLANT = 20
# Plants added or removed by one change: two items each, one transaction (and room for an audit entry).
MAX_CHANGED_PLANTS = 40
_PORTFOLIO = "PORTFOLIO#"
_MEMBER = "MEMBER#"


@dataclass(frozen=True)
class Portfolio:
    portfolio_id: str
    account_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class _PortfolioItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    portfolio_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    def to_domain(self, account_id: str) -> Portfolio:
        return Portfolio(self.portfolio_id, account_id, self.name, self.created_at, self.updated_at)


class _MemberItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    plant_id = NumberAttribute()


def _table(settings: Settings) -> str:
    if not settings.accounts_table:
        raise ConfigurationError("environment variable ACCOUNTS_TABLE is required to use portfolios")
    return settings.accounts_table


def _bind() -> None:
    bind((_PortfolioItem, _MemberItem), _table)
    plant_store._bind()


def _pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _member_prefix(portfolio_id: str) -> str:
    return f"{_MEMBER}{portfolio_id}#"


def _member_sk(portfolio_id: str, plant_id: int) -> str:
    return f"{_member_prefix(portfolio_id)}{plant_id:016d}"


def _member(account_id: str, portfolio_id: str, plant_id: int) -> _MemberItem:
    return _MemberItem(pk=_pk(account_id), sk=_member_sk(portfolio_id, plant_id), plant_id=plant_id)


def _owned_by(account_id: str) -> Condition:
    """The plant item's condition: there, and the account's (or, not yet migrated, the default's)."""
    item = plant_store._PlantItem
    owner = item.account_id == account_id
    if account_id == DEFAULT_ACCOUNT:
        owner = owner | item.account_id.does_not_exist()
    return item.pk.exists() & owner


def _transact(write: Callable[[TransactWrite], None], items: int) -> list[str | None]:
    return transactions.transact(_PortfolioItem, write, items, "the portfolio")


def get_portfolio(account_id: str, portfolio_id: str) -> Portfolio | None:
    _bind()
    try:
        return _PortfolioItem.get(_pk(account_id), _PORTFOLIO + portfolio_id, consistent_read=True).to_domain(
            account_id
        )
    except _PortfolioItem.DoesNotExist:
        return None


def list_portfolios(account_id: str, limit: int, after: str | None) -> tuple[list[Portfolio], bool]:
    """Up to `limit` of the account's portfolios in id order after the id `after`, and whether
    more follow: the sort keys of its partition that begin with `PORTFOLIO#`."""
    _bind()
    condition = (
        _PortfolioItem.sk.between(_PORTFOLIO + after + "!", _PORTFOLIO + "~")  # ids: [0-9a-z]
        if after is not None
        else _PortfolioItem.sk.startswith(_PORTFOLIO)
    )
    found = list(_PortfolioItem.query(_pk(account_id), condition, limit=limit + 1, consistent_read=True))
    return [item.to_domain(account_id) for item in found[:limit]], len(found) > limit


def members(account_id: str, portfolio_id: str, limit: int, after_id: int | None) -> tuple[list[int], bool]:
    """Up to `limit` ids of the portfolio's plants above `after_id`, in id order, and whether
    more follow: one Query of its member items."""
    _bind()
    prefix = _member_prefix(portfolio_id)
    start = _member_sk(portfolio_id, after_id) if after_id is not None else None
    condition = (
        _MemberItem.sk.between(start + "~", prefix + "~")  # after `start`, within the prefix
        if start is not None
        else _MemberItem.sk.startswith(prefix)
    )
    found = list(_MemberItem.query(_pk(account_id), condition, limit=limit + 1))
    return [int(item.plant_id) for item in found[:limit]], len(found) > limit


def _audited(
    write: Callable[[TransactWrite], None], entry: AuditEntry | None
) -> Callable[[TransactWrite], None]:
    """The write, and its audit entry added last (access/audit_store.record keeps the reasons'
    indexes of the items before it)."""

    def with_entry(tx: TransactWrite) -> None:
        write(tx)
        if entry is not None:
            audit_store.record(tx, entry)

    return with_entry


def create(portfolio: Portfolio, entry: AuditEntry | None = None) -> None:
    """Store a new portfolio (its id is fresh: a clash is a bug, raised), with its audit entry."""
    _bind()
    item = _PortfolioItem(
        pk=_pk(portfolio.account_id),
        sk=_PORTFOLIO + portfolio.portfolio_id,
        portfolio_id=portfolio.portfolio_id,
        name=portfolio.name,
        created_at=portfolio.created_at,
        updated_at=portfolio.updated_at,
    )
    save = _audited(lambda tx: tx.save(item, condition=_PortfolioItem.pk.does_not_exist()), entry)
    if _transact(save, 2):
        raise RuntimeError(f"portfolio id {portfolio.portfolio_id} taken")


def rename(
    account_id: str, portfolio_id: str, name: str, now: datetime, entry: AuditEntry | None = None
) -> Portfolio:
    """Rename a portfolio, with its audit entry; PortfolioNotFound if the account has none of
    this id."""
    _bind()
    item = _PortfolioItem(pk=_pk(account_id), sk=_PORTFOLIO + portfolio_id)
    actions: list[Action] = [_PortfolioItem.name.set(name), _PortfolioItem.updated_at.set(now)]
    update = _audited(
        lambda tx: tx.update(item, actions=actions, condition=_PortfolioItem.pk.exists()), entry
    )
    if _transact(update, 2):
        raise PortfolioNotFound(portfolio_id)
    found = get_portfolio(account_id, portfolio_id)
    if found is None:  # pragma: no cover - removed between the two calls
        raise PortfolioNotFound(portfolio_id)
    return found


def change_members(
    account_id: str,
    portfolio_id: str,
    add: list[int],
    remove: list[int],
    now: datetime,
    entry: AuditEntry | None = None,
) -> None:
    """Add plants of the account to a portfolio and remove others, in one transaction with the
    portfolio's check and each plant's set: PortfolioNotFound if the account has no such
    portfolio, PlantNotFound for a plant that is not the account's (or is gone), LimitReached
    for a plant in MAX_PORTFOLIOS_PER_PLANT portfolios already. Adding a member twice, or
    removing a plant that is not one, changes nothing."""
    if len(add) + len(remove) > MAX_CHANGED_PLANTS:
        raise LimitReached(f"at most {MAX_CHANGED_PLANTS} plants are added or removed at once")
    if set(add) & set(remove):
        raise ValueError("a plant is added or removed, not both")
    _bind()
    plant = plant_store._PlantItem
    portfolio = _PortfolioItem(pk=_pk(account_id), sk=_PORTFOLIO + portfolio_id)
    order = [*add, *remove]

    def write(tx: TransactWrite) -> None:
        tx.condition_check(_PortfolioItem, portfolio.pk, portfolio.sk, condition=_PortfolioItem.pk.exists())
        for plant_id in add:
            room = plant.portfolios.does_not_exist() | (size(plant.portfolios) < MAX_PORTFOLIOS_PER_PLANT)
            room = room | plant.portfolios.contains(portfolio_id)
            tx.update(
                plant(pk=plant_store._plant_pk(plant_id)),
                actions=[plant.portfolios.add({portfolio_id}), plant.updated_at.set(now)],
                condition=_owned_by(account_id) & room,
            )
        for plant_id in remove:
            tx.update(
                plant(pk=plant_store._plant_pk(plant_id)),
                actions=[plant.portfolios.delete({portfolio_id}), plant.updated_at.set(now)],
                condition=_owned_by(account_id),
            )
        for plant_id in add:
            tx.save(_member(account_id, portfolio_id, plant_id))
        for plant_id in remove:
            tx.delete(_member(account_id, portfolio_id, plant_id))

    if not order:
        if get_portfolio(account_id, portfolio_id) is None:
            raise PortfolioNotFound(portfolio_id)
        return
    reasons = _transact(_audited(write, entry), 2 + 2 * len(order))
    if not reasons:
        return
    if reasons[0] == "ConditionalCheckFailed":
        raise PortfolioNotFound(portfolio_id)
    # pynamodb sends condition checks, then deletes, puts and updates: the plants' updates last
    for plant_id, reason in zip(order, reasons[1 + len(order) :], strict=False):
        if reason == "ConditionalCheckFailed":
            current = _plant_or_none(plant_id)
            if current is not None and current.owner == account_id and plant_id in add:
                raise LimitReached(f"plant {plant_id} is in {MAX_PORTFOLIOS_PER_PLANT} portfolios already")
            raise PlantNotFound(plant_id)
    raise RuntimeError(f"unexplained cancellation: {reasons}")  # pragma: no cover


def _plant_or_none(plant_id: int) -> plant_store._PlantItem | None:
    try:
        return plant_store._load(plant_id)
    except PlantNotFound:
        return None


def remove(account_id: str, portfolio_id: str, now: datetime, entry: AuditEntry | None = None) -> None:
    """Delete a portfolio: its members are removed a transaction at a time (change_members), then
    the portfolio in one of its own; PortfolioNotFound if there is none. Stopped half way, the
    portfolio is still there with fewer plants, every member item and plant set in step: deleting
    it again goes on."""
    _bind()
    while True:
        ids, _ = members(account_id, portfolio_id, MAX_CHANGED_PLANTS, None)
        if not ids:
            break
        try:
            change_members(account_id, portfolio_id, [], ids, now)
        except PlantNotFound as error:  # a member item without its plant (written by hand): dropped
            _member(account_id, portfolio_id, error.plant_id).delete()
    item = _PortfolioItem(pk=_pk(account_id), sk=_PORTFOLIO + portfolio_id)
    if _transact(_audited(lambda tx: tx.delete(item, condition=_PortfolioItem.pk.exists()), entry), 2):
        raise PortfolioNotFound(portfolio_id)


def forget_plant(tx: TransactWrite, account_id: str, plant_id: int, portfolios: frozenset[str]) -> None:
    """Add the removal of a plant's member items to the transaction that deletes the plant."""
    _bind()
    for portfolio_id in sorted(portfolios):
        tx.delete(_member(account_id, portfolio_id, plant_id))
