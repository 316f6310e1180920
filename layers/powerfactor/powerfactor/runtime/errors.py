"""Domain errors, raised where they are discovered. `powerfactor.api.resolver` maps them to HTTP."""

from __future__ import annotations


class StorageBusy(Exception):
    """Concurrent writes kept conflicting on the same items: nobody's fault, retry shortly."""


class StorageDeadline(Exception):
    """A DynamoDB call was not sent: it could not have finished before the invocation's deadline."""


class PowerFactorError(Exception):
    """Base of the errors a caller can cause and correct."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlantNotFound(PowerFactorError):
    def __init__(self, plant_id: int) -> None:
        super().__init__(f"plant {plant_id} does not exist")
        self.plant_id = plant_id


class NameTaken(PowerFactorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a plant named {name!r} already exists (names are case-insensitive)")
        self.name = name


class InvalidCursor(PowerFactorError):
    def __init__(self) -> None:
        super().__init__("the cursor is not one this API returned; start again without it")


class InvalidRange(PowerFactorError):
    """A date range that cannot be answered (e.g. `from` after `to`)."""


class NoTimeZone(PowerFactorError):
    """`tz=local` for a plant that has no time zone."""


class InvalidName(PowerFactorError):
    """A name that passes the field's rules but cannot be stored (see plants.NAME_KEY_MAX_BYTES)."""


class PlantLimitReached(PowerFactorError):
    """The account holds as many plants as its limit allows (`account`), or the deployment as
    many as its MaxPlants parameter allows."""

    def __init__(self, limit: int, account: bool = False) -> None:
        if account:
            message = f"this account holds at most {limit} plants; delete one or ask the operator for more"
        else:
            message = (
                f"this deployment holds at most {limit} plants (its MaxPlants parameter); "
                "delete one or raise the limit"
            )
        super().__init__(message)
        self.limit = limit
        self.account = account


class PayloadTooLarge(PowerFactorError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the request body has {size} bytes; at most {limit} are accepted")


class InvalidApiKey(PowerFactorError):
    """A credential that does not open the API: missing, malformed, unknown, expired or revoked.

    `reason` is for the logs; callers get one message for all of them.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("a valid API key is required: send Authorization: Bearer <key>")
        self.reason = reason


class InsufficientScope(PowerFactorError):
    def __init__(self, needed: str) -> None:
        super().__init__(f"this API key lacks the {needed!r} scope this request needs")
        self.needed = needed


class NotPermitted(PowerFactorError):
    """What the key's scope does not let it do, beyond a missing scope: a restricted key creating
    a plant, a key creating a key wider than itself, a shared plant's deletion."""


class ApiKeyNotFound(PowerFactorError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id!r}")
        self.key_id = key_id


class AccountNotFound(PowerFactorError):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"no account with id {account_id!r}")
        self.account_id = account_id


class ResyncPending(PowerFactorError):
    """A re-sync of this plant is queued or running already: one at a time per plant."""

    def __init__(self, plant_id: int, start: object, last: object, state: str, requested_at: object) -> None:
        super().__init__(
            f"plant {plant_id} has a re-sync of {start}..{last} {state}; wait for it to end "
            "(the plant's sync.resync shows it)"
        )
        self.plant_id = plant_id
        self.pending = {
            "from": str(start),
            "to": str(last),
            "state": state,
            "requested_at": str(requested_at),
        }


class ResyncNotFound(PowerFactorError):
    """No revision of this re-sync is kept for the plant (powerfactor.sync.revert)."""

    def __init__(self, plant_id: int, resync_id: str) -> None:
        super().__init__(
            f"plant {plant_id} has no revision made by re-sync {resync_id}: it changed no stored hour, "
            "is not one of this plant's, or its revisions expired (RevisionRetentionDays)"
        )


class AlreadyReverted(PowerFactorError):
    def __init__(self, resync_id: str, reverted_at: object) -> None:
        super().__init__(f"re-sync {resync_id} was reverted already, at {reverted_at}: nothing to do")


class PlantBusy(PowerFactorError):
    """The plant's sync lease is held: a sync or re-sync of it is running."""

    def __init__(self, plant_id: int) -> None:
        super().__init__(f"plant {plant_id} is being synced right now; retry in a minute")


class RevisionConflict(PowerFactorError):
    """An hour a re-sync changed has changed again since: its revert would undo that too."""

    def __init__(self, resync_id: str, conflicts: list[tuple[str, str]]) -> None:
        super().__init__(
            f"{len(conflicts)} hours re-sync {resync_id} changed have changed again since; nothing was "
            "reverted (see the plant's revisions; a re-sync of the range fetches the service's values again)"
        )
        self.conflicts = conflicts  # (hour, what changed it since), at most MAX_SHOWN

    MAX_SHOWN = 100


class PortfolioNotFound(PowerFactorError):
    """No portfolio of this id in the caller's account (another account's is answered the same)."""

    def __init__(self, portfolio_id: str) -> None:
        super().__init__(f"portfolio {portfolio_id!r} does not exist")
        self.portfolio_id = portfolio_id


class GrantNotFound(PowerFactorError):
    """No grant of this id given or received by the caller's account (another's: the same)."""

    def __init__(self, grant_id: str) -> None:
        super().__init__(f"grant {grant_id!r} does not exist")
        self.grant_id = grant_id


class LimitReached(PowerFactorError):
    """A bound on portfolios or grants (per account, per plant, per request) is reached."""
