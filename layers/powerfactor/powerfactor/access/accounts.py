"""Accounts: who owns plants and keys. Operators create and change them with AWS credentials
(`python -m manage accounts`); no HTTP route does.

An account's id is 1-40 characters of [a-z0-9] and inner hyphens (given, or 12 random ones); its
name is for people. `max_plants` is the account's own plant limit; the deployment's MaxPlants
is a ceiling above every account's (the effective limit is the lower of the two). The data written
before accounts existed belongs to the `default` account (`python -m manage migrate` creates it).
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from powerfactor.access import account_store as storage
from powerfactor.access.account_store import Account
from powerfactor.access.principal import ACCOUNT_ID, DEFAULT_ACCOUNT
from powerfactor.runtime.errors import AccountNotFound, PowerFactorError

__all__ = ["DEFAULT_ACCOUNT", "Account"]

NAME_MAX = 100
DEFAULT_NAME = "Default account"
_ID_ALPHABET = string.digits + string.ascii_lowercase


def new_account_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise PowerFactorError(f"an account's name is 1-{NAME_MAX} printable characters")
    return name


def _checked_limit(max_plants: int | None) -> int | None:
    if max_plants is not None and max_plants < 0:
        raise PowerFactorError("an account's plant limit is 0 or more")
    return max_plants


def create_account(name: str, account_id: str | None = None, max_plants: int | None = None) -> Account:
    """A new account (PowerFactorError if the id is malformed or taken)."""
    account_id = account_id or new_account_id()
    if not ACCOUNT_ID.fullmatch(account_id):
        raise PowerFactorError("an account id is 1-40 characters of a-z, 0-9 and inner hyphens")
    account = Account(account_id, _checked_name(name), datetime.now(UTC), _checked_limit(max_plants))
    if not storage.insert_account(account):
        raise PowerFactorError(f"an account with id {account_id!r} exists already")
    return account


def ensure_default_account() -> Account:
    """The default account, created if it is not there yet (the migration, `make dev`)."""
    storage.insert_account(Account(DEFAULT_ACCOUNT, DEFAULT_NAME, datetime.now(UTC)))
    found = storage.get_account(DEFAULT_ACCOUNT)
    if found is None:  # pragma: no cover - written just above
        raise AccountNotFound(DEFAULT_ACCOUNT)
    return found


def get_account(account_id: str) -> Account:
    found = storage.get_account(account_id)
    if found is None:
        raise AccountNotFound(account_id)
    return found


def list_accounts() -> list[Account]:
    return storage.list_accounts()


def rename_account(account_id: str, name: str) -> Account:
    return storage.update_account(account_id, _checked_name(name), None, keep_limit=True)


def set_plant_limit(account_id: str, max_plants: int | None) -> Account:
    """The account's own plant limit (None: only the deployment's MaxPlants)."""
    return storage.update_account(account_id, None, _checked_limit(max_plants), keep_limit=False)


def plant_limit(account_id: str, ceiling: int) -> int:
    """How many plants the account may hold: its own limit, at most the deployment's `ceiling`
    (an account without an item, the default one before the migration, has the ceiling)."""
    found = storage.get_account(account_id)
    own = found.max_plants if found is not None else None
    return ceiling if own is None else min(own, ceiling)


def adopt_legacy_keys(dry_run: bool = False) -> tuple[int, int]:
    """Give the keys written before accounts existed to the default account: (found, adopted).
    Safe to repeat and to stop at any point (each key is one conditional write)."""
    from powerfactor.access import store as keys_storage

    found = keys_storage.keys_without_account()
    if dry_run:
        return len(found), 0
    return len(found), sum(keys_storage.adopt_key(key_id, DEFAULT_ACCOUNT) for key_id in found)
