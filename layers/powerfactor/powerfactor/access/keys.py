"""API keys: how a key looks, how it is made and checked, and what its scopes allow.

A key is `pfk_<id>_<secret>`. The `pfk_` prefix lets people and secret scanners spot one; the
id (12 characters of [0-9a-z], not secret) names the key's item in the keys table; the secret
(40 characters of [0-9A-Za-z] from `secrets`, about 238 bits) is shown once, when the key is
created, and stored only as its SHA-256. A secret of that entropy cannot be guessed from its
hash, so a slow password hash would only add latency to every uncached request.

Checking a key is one consistent read by id and a constant-time comparison of hashes
(`hmac.compare_digest`). Scopes: `read` opens GET and HEAD, `write` opens POST, PUT, PATCH and
DELETE, on every route; `admin` adds the routes that manage the account's own keys (with `read`
to list them, `write` to create and revoke them), never another account's. A key belongs to one
account and may be restricted to some of its plants (principal.py says what it reaches then).
Operators manage every account's keys with AWS credentials (`python -m manage keys`).

A key created over the API is never wider than the key that creates it: its scopes are a subset
of the creator's, a restricted creator can only create keys restricted to its own plants, and its
usage tier (runtime/settings.py TIERS: its rate and daily quota) is no larger than the creator's.

On AWS each key has an API Gateway API key in its tier's usage plan (access/gateway.py), whose
value the authorizer returns as `usageIdentifierKey` (`usage_identifier`: derived from the REST
API's id and the key's id, so the authorizer needs no other lookup; it is not a secret, since the
gateway takes it only from the authorizer, never from a client's header).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from powerfactor.access import audit, grant_store
from powerfactor.access import store as storage
from powerfactor.access.principal import (
    DEFAULT_ACCOUNT,
    MAX_RESTRICTED_PLANTS,
    MAX_RESTRICTED_PORTFOLIOS,
    Grant,
    Principal,
    grants_context,
    operator,
)
from powerfactor.access.store import ApiKey
from powerfactor.aws import apigateway
from powerfactor.aws.apigateway import RestApi
from powerfactor.runtime import cursors
from powerfactor.runtime.errors import (
    ApiKeyNotFound,
    InvalidApiKey,
    InvalidCursor,
    NotPermitted,
    PowerFactorError,
)
from powerfactor.runtime.settings import DEFAULT_TIER, TIERS

__all__ = ["ApiKey"]

PREFIX = "pfk_"
# The methods each scope opens on every route; `admin` opens none by itself: it adds the key
# management routes to what `read` and `write` open.
SCOPES: dict[str, tuple[str, ...]] = {
    "read": ("GET", "HEAD"),
    "write": ("POST", "PUT", "PATCH", "DELETE"),
    "admin": (),
}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
NAME_MAX = 100
_ID_ALPHABET = string.digits + string.ascii_lowercase
_SECRET_ALPHABET = string.digits + string.ascii_letters
_ID_LENGTH, _SECRET_LENGTH = 12, 40
_KEY = re.compile(rf"{PREFIX}([0-9a-z]{{{_ID_LENGTH}}})_([0-9A-Za-z]{{{_SECRET_LENGTH}}})")
_BEARER = re.compile(r"bearer +(\S+)", re.IGNORECASE)  # as template.yaml's ValidationExpression


def _now() -> datetime:
    return datetime.now(UTC)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    """A fresh key, `pfk_<id>_<secret>`."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_LENGTH))
    return f"{PREFIX}{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    match = _KEY.fullmatch(token)
    return (match[1], match[2]) if match else None


def token_from_header(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; InvalidApiKey if there is none."""
    match = _BEARER.fullmatch(authorization or "")
    if not match:
        raise InvalidApiKey("missing" if not authorization else "not a Bearer credential")
    return match[1]


def authenticate(authorization: str | None, now: datetime | None = None) -> ApiKey:
    """The key an `Authorization` header carries, if it opens the API; InvalidApiKey otherwise."""
    parsed = parse_token(token_from_header(authorization))
    if parsed is None:
        raise InvalidApiKey("malformed")
    key_id, secret = parsed
    key = storage.get_key(key_id)
    # compare even when the id is unknown, so that timing does not tell ids apart
    stored = key.secret_hash if key else "0" * 64
    if not hmac.compare_digest(stored, secret_hash(secret)) or key is None:
        raise InvalidApiKey("unknown")
    now = now or _now()
    if key.revoked_at is not None:
        raise InvalidApiKey(f"key {key.key_id} revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise InvalidApiKey(f"key {key.key_id} expired")
    return key


def usage_identifier(api_id: str, key_id: str) -> str:
    """The value of the key's API Gateway API key on the REST API `api_id`: the authorizer's
    `usageIdentifierKey` (20 characters at least, as API Gateway requires)."""
    return f"pfu-{api_id}-{key_id}"


def enroll(key: ApiKey, api: RestApi) -> bool:
    """On AWS, the key's API key in its tier's usage plan of this stage (False: it failed, logged)."""
    if not apigateway.manages_plans():
        return True
    return apigateway.add_key(api, usage_identifier(api.api_id, key.key_id), key.tier)


def withdraw(key: ApiKey, api: RestApi, delete: bool = False) -> bool:
    """On AWS, the key's API key out of the stage's usage plans (and deleted, if `delete`), then
    the stage's authorizer cache flushed: a revoked key is refused from now on (False: a step
    failed, logged; the cache then forgets the key within AuthorizerCacheTtl)."""
    left = True
    if apigateway.manages_plans():
        left = apigateway.remove_key(api, usage_identifier(api.api_id, key.key_id), delete)
    return apigateway.flush_authorizer_cache(api) and left


def received_grants(account_id: str) -> tuple[Grant, ...]:
    """The grants the account holds, one `Grant` per owner and access (one Query of its partition)."""
    records, _ = grant_store.received(account_id)
    grouped: dict[tuple[str, bool], tuple[str, set[int], set[str]]] = {}
    for record in records:
        _, plants, portfolios = grouped.setdefault(
            (record.owner, record.access == "write"), (record.owner_name, set(), set())
        )
        if record.target == "plant":
            plants.add(int(record.target_id))
        else:
            portfolios.add(record.target_id)
    return tuple(
        Grant(owner, name, frozenset(plants), frozenset(portfolios), write)
        for (owner, write), (name, plants, portfolios) in sorted(grouped.items())
    )


def authorizer_context(key: ApiKey, grants: tuple[Grant, ...] | None = None) -> dict[str, str]:
    """What the authorizer hands to the API functions (their event's `requestContext.authorizer`),
    from which each rebuilds the request's principal (principal.from_context).

    API Gateway takes only strings, numbers and booleans there (no null), so `expires_at` (ISO
    8601) is left out for a key that never expires, `plants` (ids separated by spaces) and
    `portfolios` (the same) for a key not restricted to any, and `grants` (principal.grants_context)
    when its account holds none. `grants` None: read them (received_grants, one Query), so the
    grants of a request are those of the authorizer's answer: a grant revoked stops working when
    API Gateway's cache forgets that answer (AuthorizerCacheTtl) or is flushed.
    """
    context = {
        "key_id": key.key_id,
        "key_name": key.name,
        "scopes": " ".join(sorted(key.scopes)),
        "account_id": key.account_id,
        "tier": key.tier,
    }
    if key.expires_at is not None:
        context["expires_at"] = key.expires_at.isoformat()
    if key.plants is not None:
        context["plants"] = " ".join(str(p) for p in sorted(key.plants))
    if key.portfolios is not None:
        context["portfolios"] = " ".join(sorted(key.portfolios))
    grants = received_grants(key.account_id) if grants is None else grants
    if grants:
        context["grants"] = grants_context(grants)
    return context


def caller_key(principal: Principal) -> dict[str, Any]:
    """GET /key: the id, name, scopes, expiry (None: never), account and plant restriction (None:
    none) of the key a request came with, as the authorizer read it (no lookup)."""
    return {
        "id": principal.key_id,
        "name": principal.key_name,
        "scopes": sorted(principal.scopes),
        "expires_at": principal.expires_at,
        "account_id": principal.account_id,
        "plants": sorted(principal.plants) if principal.plants is not None else None,
        "portfolios": sorted(principal.portfolios) if principal.portfolios is not None else None,
        "tier": principal.tier,
    }


def allowed_methods(scopes: Iterable[str]) -> list[str]:
    """The HTTP methods a key with these scopes may call, on every route."""
    return [method for scope in sorted(set(scopes)) for method in SCOPES.get(scope, ())]


def denied_methods(scopes: Iterable[str]) -> list[str]:
    """The methods of the scopes a key lacks: refused to it (403) on every route."""
    wanted = set(scopes)
    return [method for scope, methods in sorted(SCOPES.items()) if scope not in wanted for method in methods]


def scope_for(method: str) -> str | None:
    """The scope a request with this method needs, compared as sent (methods are case-sensitive:
    `get` is not GET). None for a method no scope lists (OPTIONS, TRACE, PROPFIND, `get`): no
    route has one, so a valid key of any scope gets the API's 405 for it, not a 403."""
    return next((scope for scope, methods in SCOPES.items() if method in methods), None)


def _checked(name: str, scopes: Iterable[str], expires_at: datetime | None, now: datetime) -> frozenset[str]:
    wanted = frozenset(scopes)
    if not wanted or not wanted <= SCOPES.keys():
        raise PowerFactorError(f"scopes must be a non-empty subset of {sorted(SCOPES)}, got {sorted(wanted)}")
    if not wanted & {"read", "write"}:
        raise PowerFactorError("a key needs `read` or `write` (`admin` only adds the key management routes)")
    if not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise PowerFactorError(f"a key's name is 1-{NAME_MAX} printable characters")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise PowerFactorError("expires_at must be a time-zone-aware time in the future")
    return wanted


def _checked_tier(tier: str) -> str:
    if tier not in TIERS:
        raise PowerFactorError(f"a key's tier is one of {', '.join(TIERS)}, got {tier!r}")
    return tier


def _checked_plants(plants: Iterable[int] | None) -> frozenset[int] | None:
    if plants is None:
        return None
    wanted = frozenset(plants)
    if not 1 <= len(wanted) <= MAX_RESTRICTED_PLANTS or any(p < 1 for p in wanted):
        raise PowerFactorError(f"a key is restricted to 1-{MAX_RESTRICTED_PLANTS} plants (positive ids)")
    return wanted


def _checked_portfolios(portfolios: Iterable[str] | None) -> frozenset[str] | None:
    if portfolios is None:
        return None
    wanted = frozenset(portfolios)
    if not 1 <= len(wanted) <= MAX_RESTRICTED_PORTFOLIOS or not all(p.isalnum() for p in wanted):
        raise PowerFactorError(f"a key is restricted to 1-{MAX_RESTRICTED_PORTFOLIOS} portfolios (their ids)")
    return wanted


def create_key(
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    token: str | None = None,
    *,
    account_id: str = DEFAULT_ACCOUNT,
    plants: Iterable[int] | None = None,
    portfolios: Iterable[str] | None = None,
    by: Principal | None = None,
    tier: str = DEFAULT_TIER,
) -> tuple[str, ApiKey]:
    """Store a new key of `account_id` and usage `tier`, restricted to `plants` if given (None:
    all of the account's); returns (the key itself, to show once, and its record).

    `token` registers a given well-formed key instead of a fresh one (the local stack's
    development keys); if a key with its id exists, that one is returned unchanged.
    `by` is who creates it, for the audit log (None: an operator, `python -m manage`).
    """
    now = _now()
    wanted = _checked(name, scopes, expires_at, now)
    restriction = _checked_plants(plants)
    folios = _checked_portfolios(portfolios)
    _checked_tier(tier)
    token = token or new_token()
    parsed = parse_token(token)
    if parsed is None:
        raise PowerFactorError("not a PowerFactor API key")
    key_id, secret = parsed
    key = ApiKey(
        key_id,
        name.strip(),
        wanted,
        secret_hash(secret),
        now,
        expires_at,
        None,
        account_id,
        restriction,
        folios,
        tier,
    )
    entry = audit.entry(
        by or operator(account_id),
        "key.created",
        f"key/{key_id}",
        None,
        {
            "name": key.name,
            "scopes": key.scopes,
            "plants": key.plants,
            "portfolios": key.portfolios,
            "expires_at": expires_at,
        },
        account_id=account_id,
    )
    if not storage.insert_key(key, entry):
        existing = storage.get_key(key_id)
        if existing is None or existing.secret_hash != key.secret_hash:
            raise PowerFactorError(f"another key has the id {key_id}")
        return token, existing
    return token, key


def get_key(key_id: str) -> ApiKey | None:
    return storage.get_key(key_id)


def list_keys(account_id: str | None = None) -> list[ApiKey]:
    """Every key (operators), or one account's."""
    keys = storage.list_keys()
    return keys if account_id is None else [k for k in keys if k.account_id == account_id]


def revoke_key(key_id: str) -> ApiKey:
    """Revoke a key; it stops working when the API's authorizer cache forgets it (the TTL)."""
    return storage.revoke_key(key_id, _now())


# ---- the account's own keys, over the API (admin scope) ----


def _admin(principal: Principal) -> None:
    principal.require_scope("admin")


def account_keys(
    principal: Principal, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[ApiKey], str | None]:
    """A page of the caller's account's keys in id order, and the cursor of the next (None: last)."""
    _admin(principal)
    after = cursors.decode(cursor, "keys", "", principal.scope_key) if cursor else None
    if after is not None and not parse_token(f"{PREFIX}{after}_{'0' * _SECRET_LENGTH}"):
        raise InvalidCursor()
    keys, more = storage.account_keys(principal.account_id, limit, after)
    next_cursor = cursors.encode("keys", keys[-1].key_id, "", principal.scope_key) if more and keys else None
    return keys, next_cursor


def create_account_key(
    principal: Principal,
    name: str,
    scopes: Iterable[str],
    plants: Iterable[int] | None = None,
    expires_at: datetime | None = None,
    portfolios: Iterable[str] | None = None,
    tier: str | None = None,
) -> tuple[str, ApiKey]:
    """A new key of the caller's account, never wider than the caller's own key: its scopes a
    subset of the caller's, its tier (default: the caller's) no larger than the caller's, and, if
    the caller is restricted, restricted within the caller's plants and portfolios (NotPermitted
    otherwise). The caller checks beforehand that `plants` are plants it reaches and `portfolios`
    portfolios of its account (plants.logic, plants.portfolios), so that another account's id is
    refused as a missing one. InsufficientScope for a scope the caller lacks, NotPermitted for a
    wider restriction or a larger tier."""
    _admin(principal)
    wanted = frozenset(scopes)
    for scope in sorted(wanted - principal.scopes):
        principal.require_scope(scope)  # InsufficientScope: not wider than the creator
    restriction = frozenset(plants) if plants is not None else None
    folios = frozenset(portfolios) if portfolios is not None else None
    if principal.restricted and (
        (restriction is None and folios is None)  # wider than the creator, whatever it is restricted to
        or (
            restriction is not None
            and principal.portfolios is None
            and not restriction <= (principal.plants or frozenset())
        )
        or (folios is not None and not folios <= (principal.portfolios or frozenset()))
    ):
        raise NotPermitted(
            "a restricted key can only create keys restricted within its own plants and portfolios"
        )
    tier = _checked_tier(tier or principal.tier)
    if TIERS.index(tier) > TIERS.index(_checked_tier(principal.tier)):
        raise NotPermitted(f"a key of tier {principal.tier} cannot create a key of the larger tier {tier}")
    return create_key(
        name,
        wanted,
        expires_at,
        account_id=principal.account_id,
        plants=restriction,
        portfolios=folios,
        tier=tier,
        by=principal,
    )


def revoke_account_key(principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key of the caller's account (ApiKeyNotFound for another account's, as for none)."""
    _admin(principal)
    if not parse_token(f"{PREFIX}{key_id}_{'0' * _SECRET_LENGTH}"):
        raise ApiKeyNotFound(key_id)
    return storage.revoke_key(key_id, _now(), principal.account_id, by=principal)


def status(key: ApiKey, now: datetime | None = None) -> str:
    """`active`, `expired` or `revoked`."""
    now = now or _now()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def key_view(key: ApiKey, now: datetime | None = None) -> dict[str, Any]:
    """What is shown of a key (KeyInfo; `python -m manage keys list`): never its secret or hash."""
    return {
        "id": key.key_id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "plants": sorted(key.plants) if key.plants is not None else None,
        "portfolios": sorted(key.portfolios) if key.portfolios is not None else None,
        "tier": key.tier,
        "status": status(key, now),
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }
