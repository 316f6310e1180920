"""The API keys table: one item per key (`key_id`), the secret kept only as its hash.

Its pynamodb model is private; the functions take and return `ApiKey` records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.runtime.errors import ApiKeyNotFound
from powerfactor.runtime.settings import ConfigurationError, Settings


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key but its secret: `secret_hash` is the SHA-256 of the secret, hex."""

    key_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class _KeyItem(Model):
    class Meta:
        table_name = "unbound"

    key_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    secret_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)

    def to_domain(self) -> ApiKey:
        fields = {name: getattr(self, name) for name in _FIELDS}
        return ApiKey(**{**fields, "scopes": frozenset(self.scopes)})


_FIELDS = tuple(field.name for field in dataclasses.fields(ApiKey))  # the item's attributes too


def _table(settings: Settings) -> str:
    if not settings.api_keys_table:
        raise ConfigurationError("environment variable API_KEYS_TABLE is required to use API keys")
    return settings.api_keys_table


def _bind() -> None:
    bind((_KeyItem,), _table)


def get_key(key_id: str) -> ApiKey | None:
    """The key with this id (a strongly consistent read: a revocation is seen at once), or None."""
    _bind()
    try:
        return _KeyItem.get(key_id, consistent_read=True).to_domain()
    except _KeyItem.DoesNotExist:
        return None


def insert_key(key: ApiKey) -> bool:
    """Store a new key; False if a key with its id exists already (left as it is)."""
    _bind()
    item = _KeyItem(**{**{name: getattr(key, name) for name in _FIELDS}, "scopes": set(key.scopes)})
    try:
        item.save(condition=_KeyItem.key_id.does_not_exist())
    except PutError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def list_keys() -> list[ApiKey]:
    """Every key, oldest first (a scan: a deployment has a handful of keys, not thousands)."""
    _bind()
    return sorted((item.to_domain() for item in _KeyItem.scan()), key=lambda k: (k.created_at, k.key_id))


def revoke_key(key_id: str, now: datetime) -> ApiKey:
    """Mark a key revoked (kept, for the record); revoking twice keeps the first time."""
    _bind()
    item = _KeyItem(key_id=key_id)
    try:
        item.update(
            actions=[_KeyItem.revoked_at.set(_KeyItem.revoked_at | now)],
            condition=_KeyItem.key_id.exists(),
        )
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            raise ApiKeyNotFound(key_id) from None
        raise
    return item.to_domain()
