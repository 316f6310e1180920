"""API keys: how a key looks, how it is made and checked, and what its scopes allow.

A key is `pfk_<id>_<secret>`. The `pfk_` prefix lets people and secret scanners spot one; the
id (12 characters of [0-9a-z], not secret) names the key's item in the keys table; the secret
(40 characters of [0-9A-Za-z] from `secrets`, about 238 bits) is shown once, when the key is
created, and stored only as its SHA-256. A secret of that entropy cannot be guessed from its
hash, so a slow password hash would only add latency to every uncached request.

Checking a key is one consistent read by id and a constant-time comparison of hashes
(`hmac.compare_digest`). Scopes: `read` opens GET and HEAD, `write` opens POST, PUT, PATCH and
DELETE. Managing keys needs AWS credentials for the keys table (`python -m manage keys`); no
HTTP route does it, so there is no `admin` scope to steal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from powerfactor.access import store as storage
from powerfactor.access.store import ApiKey
from powerfactor.runtime.errors import InvalidApiKey, PowerFactorError

__all__ = ["ApiKey"]

PREFIX = "pfk_"
SCOPES: dict[str, tuple[str, ...]] = {
    "read": ("GET", "HEAD"),
    "write": ("POST", "PUT", "PATCH", "DELETE"),
}
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


def authorizer_context(key: ApiKey) -> dict[str, str]:
    """What the authorizer hands to the API functions (their event's `requestContext.authorizer`).

    API Gateway takes only strings, numbers and booleans there (no null), so `expires_at` (ISO
    8601) is left out for a key that never expires.
    """
    context = {"key_id": key.key_id, "key_name": key.name, "scopes": " ".join(sorted(key.scopes))}
    if key.expires_at is not None:
        context["expires_at"] = key.expires_at.isoformat()
    return context


def caller_key(context: Mapping[str, Any]) -> dict[str, Any]:
    """The id, name, scopes and expiry (None: never) of the key a request came with, read back
    from the authorizer's context (authorizer_context). An API function calls it only after
    http.check_caller accepted the context."""
    expires = context.get("expires_at")
    return {
        "id": str(context["key_id"]),
        "name": str(context.get("key_name") or ""),
        "scopes": sorted(str(context.get("scopes") or "").split()),
        "expires_at": datetime.fromisoformat(str(expires)) if expires else None,
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
    if not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise PowerFactorError(f"a key's name is 1-{NAME_MAX} printable characters")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise PowerFactorError("expires_at must be a time-zone-aware time in the future")
    return wanted


def create_key(
    name: str, scopes: Iterable[str], expires_at: datetime | None = None, token: str | None = None
) -> tuple[str, ApiKey]:
    """Store a new key; returns (the key itself, to show once, and its record).

    `token` registers a given well-formed key instead of a fresh one (the local stack's
    development key); if a key with its id exists, that one is returned unchanged.
    """
    now = _now()
    wanted = _checked(name, scopes, expires_at, now)
    token = token or new_token()
    parsed = parse_token(token)
    if parsed is None:
        raise PowerFactorError("not a PowerFactor API key")
    key_id, secret = parsed
    key = ApiKey(key_id, name.strip(), wanted, secret_hash(secret), now, expires_at)
    if not storage.insert_key(key):
        existing = storage.get_key(key_id)
        if existing is None or existing.secret_hash != key.secret_hash:
            raise PowerFactorError(f"another key has the id {key_id}")
        return token, existing
    return token, key


def list_keys() -> list[ApiKey]:
    return storage.list_keys()


def revoke_key(key_id: str) -> ApiKey:
    """Revoke a key; it stops working when the API's authorizer cache forgets it (the TTL)."""
    return storage.revoke_key(key_id, _now())


def status(key: ApiKey, now: datetime | None = None) -> str:
    """`active`, `expired` or `revoked`."""
    now = now or _now()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"
