"""The alerts table. Its pynamodb models are private; the functions speak the domain (`Alert`).

Key: `plant_id` (N) + `sk` (S), one partition per plant, so a plant's alerts are one Query and
its deletion removes them by key (see template.yaml `AlertsTable`).
- `A#<opened_at>#<kind>`: one alert, from its opening to its resolution (`opened_at` is an ISO
  time with microseconds, so a plant's alerts sort by when they opened), with its plant's
  account (`account_id`). While it is open it carries `open_account` (the account) and
  `opened_key`, which put it in the sparse GSI `open_by_account`: the open alerts of one
  account's plants, oldest first, one partition per account, without a scan. Resolving removes
  both and sets `expires_at` (the table's TTL): a resolved alert is kept `RESOLVED_KEPT_DAYS`,
  then DynamoDB deletes it. Alerts opened before accounts existed carry `open = "open"` instead,
  which put them in the GSI `open_alerts` (every plant's in one partition): only the migration
  reads it, to give them their account (`python -m manage migrate`); nothing writes it any more,
  and a later deploy removes it (one index change per table and deploy).
- `S#runs`: the plant's run counter, `consecutive_failures` of its syncs and the last error.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from powerfactor.access.principal import DEFAULT_ACCOUNT
from powerfactor.alerts.schemas import Alert
from powerfactor.aws.outage import response_code
from powerfactor.aws.tables import bind
from powerfactor.runtime.settings import ConfigurationError, Settings

OPEN = "open"
RESOLVED_KEPT_DAYS = 90
_RUNS = "S#runs"


class _OpenAlerts(GlobalSecondaryIndex["_AlertItem"]):
    class Meta:
        index_name = "open_alerts"
        projection = AllProjection()

    open = UnicodeAttribute(hash_key=True)
    opened_key = UnicodeAttribute(range_key=True)


class _OpenByAccount(GlobalSecondaryIndex["_AlertItem"]):
    class Meta:
        index_name = "open_by_account"
        projection = AllProjection()

    open_account = UnicodeAttribute(hash_key=True)
    opened_key = UnicodeAttribute(range_key=True)


class _AlertItem(Model):
    class Meta:
        table_name = "unbound"

    plant_id = NumberAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    state = UnicodeAttribute()
    message = UnicodeAttribute()
    figures = UnicodeAttribute()  # JSON: the figures that triggered it, the latest while open
    opened_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    resolved_at = UTCDateTimeAttribute(null=True)
    account_id = UnicodeAttribute(null=True)  # absent: opened before accounts, the default account's
    open = UnicodeAttribute(null=True)  # before accounts: in `open_alerts` while open
    open_account = UnicodeAttribute(null=True)
    opened_key = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    open_alerts = _OpenAlerts()
    open_by_account = _OpenByAccount()

    def to_domain(self) -> Alert:
        return Alert(
            id=self.sk[2:],
            plant_id=int(self.plant_id),
            kind=self.kind,
            state=self.state,
            message=self.message,
            figures=json.loads(self.figures),
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            resolved_at=self.resolved_at,
        ).owned_by(self.account_id or DEFAULT_ACCOUNT)


class _RunsItem(Model):
    class Meta:
        table_name = "unbound"

    plant_id = NumberAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    consecutive_failures = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)


def _table(settings: Settings) -> str:
    if not settings.alerts_table:
        raise ConfigurationError("environment variable ALERTS_TABLE is required for alerts")
    return settings.alerts_table


def _bind() -> None:
    bind((_AlertItem, _RunsItem), _table)


def alert_sk(alert_id: str) -> str:
    return f"A#{alert_id}"


def new_alert_id(kind: str, opened_at: datetime) -> str:
    return f"{opened_at.isoformat(timespec='microseconds')}#{kind}"


def record_run(plant_id: int, failed: bool, error: str | None) -> int:
    """Count a finished run: a failure adds one to the plant's consecutive failures, a success
    sets them to 0. Returns the count after this run."""
    _bind()
    item = _RunsItem(plant_id=plant_id, sk=_RUNS)
    actions: list[Action]
    if failed:
        actions = [_RunsItem.consecutive_failures.add(1), _RunsItem.last_error.set(error or "unknown")]
    else:
        actions = [_RunsItem.consecutive_failures.set(0), _RunsItem.last_error.remove()]
    item.update(actions=actions)
    return int(item.consecutive_failures or 0)


def record_run_peek(plant_id: int) -> int:
    """The plant's consecutive failures, unchanged (a run that neither failed nor succeeded)."""
    _bind()
    try:
        return int(_RunsItem.get(plant_id, _RUNS, consistent_read=True).consecutive_failures or 0)
    except _RunsItem.DoesNotExist:
        return 0


def open_alerts(plant_id: int) -> list[Alert]:
    """The plant's open alerts (a consistent Query of its partition, open ones only)."""
    _bind()
    return [
        item.to_domain()
        for item in _AlertItem.query(
            plant_id,
            _AlertItem.sk.startswith("A#"),
            filter_condition=_AlertItem.state == OPEN,
            consistent_read=True,
        )
    ]


def insert_alert(alert: Alert) -> bool:
    """Store a newly opened alert; False if one with its id exists (nothing written)."""
    _bind()
    item = _AlertItem(
        plant_id=alert.plant_id,
        sk=alert_sk(alert.id),
        kind=alert.kind,
        state=OPEN,
        message=alert.message,
        figures=json.dumps(alert.figures),
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        account_id=alert.account_id,
        open_account=alert.account_id,
        opened_key=f"{alert.opened_at.isoformat(timespec='microseconds')}#{alert.plant_id}#{alert.kind}",
    )
    try:
        item.save(condition=_AlertItem.sk.does_not_exist())
    except PutError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def update_alert(alert: Alert) -> bool:
    """Record an open alert's latest figures; False if it is no longer open."""
    _bind()
    return _update(
        alert,
        [
            _AlertItem.figures.set(json.dumps(alert.figures)),
            _AlertItem.message.set(alert.message),
            _AlertItem.updated_at.set(alert.updated_at),
        ],
    )


def resolve_alert(alert: Alert) -> bool:
    """Mark an open alert resolved (kept `RESOLVED_KEPT_DAYS`); False if it was not open."""
    _bind()
    if alert.resolved_at is None:
        raise ValueError(f"alert {alert.id} has no resolved_at; set it before resolving")
    expires = int((alert.resolved_at + timedelta(days=RESOLVED_KEPT_DAYS)).timestamp())
    return _update(
        alert,
        [
            _AlertItem.state.set("resolved"),
            _AlertItem.figures.set(json.dumps(alert.figures)),
            _AlertItem.message.set(alert.message),
            _AlertItem.updated_at.set(alert.updated_at),
            _AlertItem.resolved_at.set(alert.resolved_at),
            _AlertItem.open.remove(),
            _AlertItem.open_account.remove(),
            _AlertItem.opened_key.remove(),
            _AlertItem.expires_at.set(expires),
        ],
    )


def _update(alert: Alert, actions: list) -> bool:
    item = _AlertItem(plant_id=alert.plant_id, sk=alert_sk(alert.id))
    try:
        item.update(actions=actions, condition=_AlertItem.state == OPEN)
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def list_plant_alerts(
    plant_id: int, limit: int, before: str | None, state: str | None
) -> tuple[list[Alert], bool]:
    """Up to `limit` of a plant's alerts, newest first, opened before the alert id `before`;
    and whether more follow."""
    _bind()
    condition = _AlertItem.sk.between("A#", alert_sk(before)) if before else _AlertItem.sk.startswith("A#")
    items = []
    for item in _AlertItem.query(
        plant_id,
        condition,
        filter_condition=(_AlertItem.state == state) if state else None,
        scan_index_forward=False,
    ):
        if before and item.sk == alert_sk(before):
            continue
        items.append(item)
        if len(items) > limit:
            break
    return [item.to_domain() for item in items[:limit]], len(items) > limit


def list_open(
    account_id: str, limit: int, after: str | None, only: frozenset[int] | None = None
) -> tuple[list[Alert], str | None]:
    """Up to `limit` open alerts of the account's plants (with `only`, of those plants alone),
    oldest first, after the index key `after`; and the index key to continue from (None on the
    last page)."""
    if only is not None:
        return _open_of_plants(account_id, only, limit, after)
    _bind()
    condition = _AlertItem.opened_key > after if after else None
    items = list(_AlertItem.open_by_account.query(account_id, condition, limit=limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return [item.to_domain() for item in items], (items[-1].opened_key if more and items else None)


def _open_of_plants(
    account_id: str, plants: frozenset[int], limit: int, after: str | None
) -> tuple[list[Alert], str | None]:
    """list_open for a key restricted to some plants (at most 100): each plant's partition, its
    open alerts (a plant has at most one per kind), the account's alone, in the index's order."""
    _bind()
    found = [
        item
        for plant_id in sorted(plants)
        for item in _AlertItem.query(
            plant_id, _AlertItem.sk.startswith("A#"), filter_condition=_AlertItem.state == OPEN
        )
        if item.open_account == account_id and (after is None or (item.opened_key or "") > after)
    ]
    found.sort(key=lambda item: item.opened_key or "")
    more = len(found) > limit
    found = found[:limit]
    return [item.to_domain() for item in found], (found[-1].opened_key if more and found else None)


def open_alerts_without_account() -> list[tuple[int, str]]:
    """(plant id, sort key) of the open alerts opened before accounts existed: the migration's
    read of the index of every plant's open alerts."""
    _bind()
    return [
        (int(item.plant_id), item.sk)
        for item in _AlertItem.open_alerts.query(
            OPEN, filter_condition=_AlertItem.open_account.does_not_exist()
        )
    ]


def adopt_alert(plant_id: int, sk: str, account_id: str) -> bool:
    """Give an open alert opened before accounts existed to its plant's account (listed in the
    account's open alerts from then on); False if it has one already or is no longer open."""
    _bind()
    item = _AlertItem(plant_id=plant_id, sk=sk)
    try:
        item.update(
            actions=[_AlertItem.account_id.set(account_id), _AlertItem.open_account.set(account_id)],
            condition=(_AlertItem.state == OPEN) & _AlertItem.open_account.does_not_exist(),
        )
    except UpdateError as error:
        if response_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_plant_alerts(plant_id: int) -> int:
    """Delete every item of a plant's partition (its alerts and run counter); how many."""
    _bind()
    keys = list(_AlertItem.query(plant_id, attributes_to_get=["plant_id", "sk"]))
    with _AlertItem.batch_write() as batch:
        for item in keys:
            batch.delete(item)
    return len(keys)
