"""The caller of a request, resolved once: its account, its key, and what the key may reach.

API Gateway's authorizer (functions/authorizer) reads the key and puts what a request needs in
its context (`access.keys.authorizer_context`); each API function rebuilds a `Principal` from
that context (`from_context`) and passes it explicitly into every domain call that touches a
plant, its data, its alerts, its re-syncs or a list of them, so a call that forgets the caller
does not type-check. The domain asks the principal, never the key or the context:

- `reach(plant)`: how the caller reaches a plant, or None. A plant it cannot reach is answered
  exactly as a plant that does not exist (404 `plant_not_found`, never 403: plant ids are
  sequential and must not be probed), on every route.
- `scope_key`: what cursors are bound to (runtime/cursors.py): a cursor one key was given is
  refused for any other key.

Reach: a plant of the caller's own account, unless the key is restricted to some plants or
portfolios of it (a plant's portfolios are read with the plant: one added to a portfolio is reached
through it from the next request on); `grants` (plants or portfolios another account shares with this
one, read or read + write) reach plants of other accounts the same way. Writes need the `write`
scope and a plant the caller owns or holds a write grant on; deleting, and granting a plant on,
stay with its owner.

The context is also checked here, at every request, for the key's expiry: API Gateway caches the
authorizer's answer per key for AuthorizerCacheTtl seconds, and an expired key must be refused
from its expiry on, not up to a TTL later (a revoked key is refused once the cache forgets it, or
at once when the cache is flushed).

Plain Python, no pydantic: the authorizer imports this module too, and its cold start is its
imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from powerfactor.runtime.errors import InsufficientScope, InvalidApiKey
from powerfactor.runtime.settings import DEFAULT_TIER

# Today's data (written before accounts existed) belongs to this account; keys and plants without
# an account id are read as its own.
DEFAULT_ACCOUNT = "default"
ACCOUNT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")  # 1-40 characters, no `#`

# A key may be restricted to at most this many plants: the ids travel in the authorizer's context
# (API Gateway caches it with the policy) and become one DynamoDB filter (`IN`, 100 values at most).
MAX_RESTRICTED_PLANTS = 100
# ... and to at most this many portfolios of its account (their ids travel the same way).
MAX_RESTRICTED_PORTFOLIOS = 10


class Reach(Enum):
    """How a principal reaches a plant it can see."""

    OWN = "own"  # a plant of its account
    SHARED_READ = "shared_read"  # shared with its account, read only (grants)
    SHARED_WRITE = "shared_write"  # shared with its account, read and write (grants)


@dataclass(frozen=True, slots=True)
class Grant:
    """Plants or portfolios of another account (`owner`) that it shares with the principal's
    account: read, or read and write."""

    owner: str
    owner_name: str
    plants: frozenset[int] = frozenset()
    portfolios: frozenset[str] = frozenset()
    write: bool = False

    def covers(self, plant_id: int, portfolios: frozenset[str]) -> bool:
        return plant_id in self.plants or not self.portfolios.isdisjoint(portfolios)


@dataclass(frozen=True, slots=True)
class PlantRef:
    """What reach is judged on: the plant's owner, id and portfolios."""

    account_id: str
    plant_id: int
    portfolios: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: an account, through one of its keys, with the key's scopes and restriction.

    `plants` / `portfolios` None: the key reaches every plant of its account (and of its grants);
    a set: only those plants, and the plants of those portfolios.
    """

    account_id: str
    key_id: str
    key_name: str
    scopes: frozenset[str]
    expires_at: datetime | None = None
    plants: frozenset[int] | None = None
    portfolios: frozenset[str] | None = None
    grants: tuple[Grant, ...] = ()
    tier: str = DEFAULT_TIER  # the key's usage tier (access/usage.py)

    @property
    def restricted(self) -> bool:
        """Whether the key is restricted to some plants or portfolios."""
        return self.plants is not None or self.portfolios is not None

    @property
    def scope_key(self) -> str:
        """What a cursor is bound to: this key of this account."""
        return f"{self.account_id}/{self.key_id}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def require_scope(self, scope: str) -> None:
        """InsufficientScope (403) unless the key has this scope."""
        if scope not in self.scopes:
            raise InsufficientScope(scope)

    def _within_restriction(self, plant: PlantRef) -> bool:
        if not self.restricted:
            return True
        return (self.plants is not None and plant.plant_id in self.plants) or (
            self.portfolios is not None and not self.portfolios.isdisjoint(plant.portfolios)
        )

    def reach(self, plant: PlantRef) -> Reach | None:
        """How this principal reaches the plant; None: as if it did not exist."""
        if not self._within_restriction(plant):
            return None
        if plant.account_id == self.account_id:
            return Reach.OWN
        covering = [
            g
            for g in self.grants
            if g.owner == plant.account_id and g.covers(plant.plant_id, plant.portfolios)
        ]
        if not covering:
            return None
        return Reach.SHARED_WRITE if any(g.write for g in covering) else Reach.SHARED_READ

    def may_change(self, plant: PlantRef) -> bool:
        """Edit or re-sync the plant: the write scope, and the plant its own or shared for writing."""
        return "write" in self.scopes and self.reach(plant) in (Reach.OWN, Reach.SHARED_WRITE)

    def may_delete(self, plant: PlantRef) -> bool:
        """Delete the plant: the write scope, and the plant its own."""
        return "write" in self.scopes and self.reach(plant) is Reach.OWN


def operator(account_id: str) -> Principal:
    """What an operator with AWS credentials (`python -m manage`) acts as within an account: every
    scope, no restriction; its key id is none a key can have, so no key's cursor is its."""
    return Principal(account_id, "operator", "python -m manage", frozenset({"read", "write", "admin"}))


def _ids(text: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in text.split())
    except ValueError:
        raise InvalidApiKey("malformed plant restriction in the authorizer context") from None


def grants_context(grants: Iterable[Grant]) -> str:
    """The grants as the authorizer's context carries them (API Gateway takes only strings there):
    JSON, `[[owner, owner name, write, [plant ids], [portfolio ids]], ...]`."""
    return json.dumps(
        [[g.owner, g.owner_name, g.write, sorted(g.plants), sorted(g.portfolios)] for g in grants],
        separators=(",", ":"),
    )


def _grants(text: str) -> tuple[Grant, ...]:
    try:
        return tuple(
            Grant(
                str(owner), str(name), frozenset(int(p) for p in plants), frozenset(map(str, folios)), bool(w)
            )
            for owner, name, w, plants, folios in json.loads(text)
        )
    except (ValueError, TypeError):
        raise InvalidApiKey("malformed grants in the authorizer context") from None


def from_context(context: Mapping[str, Any], now: datetime | None = None) -> Principal:
    """The principal of a request the authorizer passed (its `requestContext.authorizer`).

    InvalidApiKey (401) without a key id (a route someone deployed without the authorizer), or
    once the key's `expires_at` has passed. A context without an account id comes from an answer
    the authorizer gave before accounts existed (cached for up to AuthorizerCacheTtl): its key is
    one of the default account's.
    """
    key_id = context.get("key_id")
    if not key_id:
        raise InvalidApiKey("no authorizer context")
    expires_text = context.get("expires_at")
    expires_at = datetime.fromisoformat(str(expires_text)) if expires_text else None
    if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
        raise InvalidApiKey(f"key {key_id} expired (the authorizer's cached answer outlived it)")
    plants = context.get("plants")
    portfolios = context.get("portfolios")
    grants = context.get("grants")
    return Principal(
        account_id=str(context.get("account_id") or DEFAULT_ACCOUNT),
        key_id=str(key_id),
        key_name=str(context.get("key_name") or ""),
        scopes=frozenset(str(context.get("scopes") or "").split()),
        expires_at=expires_at,
        plants=_ids(str(plants)) if plants is not None else None,
        portfolios=frozenset(str(portfolios).split()) if portfolios is not None else None,
        grants=_grants(str(grants)) if grants else (),
        tier=str(context.get("tier") or DEFAULT_TIER),
    )
