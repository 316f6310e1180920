"""The accounts table. Its pynamodb model is private; the functions take and return `Account`s.

Key `pk` + `sk` (template.yaml `AccountsTable`): one partition per account, so everything the
principal of a request needs of its account is one Query of it.
- `ACCOUNT#<id>` / `ACCOUNT`: the account: name, its own plant limit (`max_plants`; absent: the
  deployment's MaxPlants), when it was created.
Portfolios and grants will be items of the same partition (`PORTFOLIO#<id>`, `GRANT#...`).
No stream: nothing reacts to an account's changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.runtime.errors import AccountNotFound
from powerfactor.runtime.settings import ConfigurationError, Settings

_ACCOUNT_SK = "ACCOUNT"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    created_at: datetime
    max_plants: int | None = None  # None: only the deployment's MaxPlants


class _AccountItem(Model):
    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    max_plants = NumberAttribute(null=True)

    def to_domain(self) -> Account:
        limit = int(self.max_plants) if self.max_plants is not None else None
        return Account(self.account_id, self.name, self.created_at, limit)


def _pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _table(settings: Settings) -> str:
    if not settings.accounts_table:
        raise ConfigurationError("environment variable ACCOUNTS_TABLE is required to use accounts")
    return settings.accounts_table


def _bind() -> None:
    bind((_AccountItem,), _table)


def insert_account(account: Account) -> bool:
    """Store a new account; False if one with its id exists (left as it is)."""
    _bind()
    item = _AccountItem(
        pk=_pk(account.account_id),
        sk=_ACCOUNT_SK,
        account_id=account.account_id,
        name=account.name,
        created_at=account.created_at,
        max_plants=account.max_plants,
    )
    try:
        item.save(condition=_AccountItem.pk.does_not_exist())
    except PutError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def get_account(account_id: str) -> Account | None:
    _bind()
    try:
        return _AccountItem.get(_pk(account_id), _ACCOUNT_SK).to_domain()
    except _AccountItem.DoesNotExist:
        return None


def list_accounts() -> list[Account]:
    """Every account, by id (a scan, for operators: a deployment has few accounts)."""
    _bind()
    items = _AccountItem.scan(filter_condition=_AccountItem.sk == _ACCOUNT_SK)
    return sorted((item.to_domain() for item in items), key=lambda a: a.account_id)


def update_account(account_id: str, name: str | None, max_plants: int | None, keep_limit: bool) -> Account:
    """Change an account: its name unless None; its plant limit to `max_plants` (None: remove the
    account's own limit) unless `keep_limit`. AccountNotFound if there is none."""
    _bind()
    item = _AccountItem(pk=_pk(account_id), sk=_ACCOUNT_SK)
    actions: list[Action] = [] if name is None else [_AccountItem.name.set(name)]
    if not keep_limit:
        limit = _AccountItem.max_plants
        actions.append(limit.remove() if max_plants is None else limit.set(max_plants))
    if not actions:
        found = get_account(account_id)
        if found is None:
            raise AccountNotFound(account_id)
        return found
    try:
        item.update(actions=actions, condition=_AccountItem.pk.exists())
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            raise AccountNotFound(account_id) from None
        raise
    return item.to_domain()
