"""The usage table: one counter item per key and UTC day (`key_id`, `day` = `YYYY-MM-DD`).

`count` adds one request to today's counter in one conditional UpdateItem (`ADD requests 1` if
the counter is below the quota), so concurrent requests of a key, in any number of Lambda
environments, never pass the quota between them and each gets its own exact count back. A
refused request is not counted. Items expire (TTL) two days after their day ends: today's
counter is all a request reads, and yesterday's is left for operators' questions.

Its pynamodb model is private; the functions take and return numbers.
"""

from __future__ import annotations

from datetime import date, datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.runtime.settings import ConfigurationError, Settings


class _UsageItem(Model):
    class Meta:
        table_name = "unbound"

    key_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)
    requests = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def _table(settings: Settings) -> str:
    if not settings.usage_table:
        raise ConfigurationError("environment variable USAGE_TABLE is required to count requests")
    return settings.usage_table


def _bind() -> None:
    bind((_UsageItem,), _table)


def count(key_id: str, day: date, quota: int, expires_at: datetime) -> int | None:
    """Count one request of the key on this day, if fewer than `quota` were counted: the day's
    count with it; None (and nothing counted) if the quota is spent."""
    _bind()
    item = _UsageItem(key_id=key_id, day=day.isoformat())
    try:
        item.update(
            actions=[_UsageItem.requests.add(1), _UsageItem.expires_at.set(expires_at)],
            condition=_UsageItem.requests.does_not_exist() | (_UsageItem.requests < quota),
        )
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return None
        raise
    return int(item.requests or 0)


def used(key_id: str, day: date) -> int:
    """Requests of the key counted on this day (a consistent read)."""
    _bind()
    try:
        return int(_UsageItem.get(key_id, day.isoformat(), consistent_read=True).requests or 0)
    except _UsageItem.DoesNotExist:
        return 0
