"""The principal (powerfactor.access.principal): rebuilt from the authorizer's context, and what it
reaches. Pure: no storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from powerfactor.access import keys as apikeys
from powerfactor.access.principal import (
    DEFAULT_ACCOUNT,
    Grant,
    PlantRef,
    Principal,
    Reach,
    from_context,
)
from powerfactor.runtime.errors import InsufficientScope, InvalidApiKey

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _key(**fields) -> apikeys.ApiKey:
    values = {"account_id": "acme", "plants": None, "expires_at": None, **fields}
    return apikeys.ApiKey(
        "k1k1k1k1k1k1", "ops", frozenset({"read", "write"}), "0" * 64, NOW - timedelta(days=1), **values
    )


def test_the_context_the_authorizer_gives_rebuilds_the_key_as_a_principal() -> None:
    key = _key(plants=frozenset({3, 11, 7}), expires_at=NOW + timedelta(hours=1))
    context = apikeys.authorizer_context(key, ())
    assert context == {
        "key_id": "k1k1k1k1k1k1", "key_name": "ops", "scopes": "read write", "account_id": "acme",
        "expires_at": "2026-03-01T13:00:00+00:00", "plants": "3 7 11", "tier": "standard",
    }  # fmt: skip
    assert all(isinstance(v, str) for v in context.values())  # API Gateway takes no null, no list
    assert from_context(context, NOW) == Principal(
        "acme", "k1k1k1k1k1k1", "ops", frozenset({"read", "write"}), NOW + timedelta(hours=1),
        plants=frozenset({3, 7, 11}),
    )  # fmt: skip


def test_a_context_from_before_accounts_is_the_default_accounts_unrestricted_key() -> None:
    """The authorizer's cache may hold an answer the previous code gave, for up to its TTL."""
    principal = from_context(
        {"principalId": "old", "key_id": "oldkey000000", "key_name": "x", "scopes": "read"}
    )
    assert principal.account_id == DEFAULT_ACCOUNT and principal.plants is None and not principal.restricted
    assert principal.scope_key == "default/oldkey000000"


def test_an_expired_key_is_refused_from_its_expiry_on_though_the_answer_is_cached() -> None:
    context = apikeys.authorizer_context(_key(expires_at=NOW), ())
    assert from_context(context, NOW - timedelta(microseconds=1)).key_id == "k1k1k1k1k1k1"
    for moment in (NOW, NOW + timedelta(seconds=1)):
        with pytest.raises(InvalidApiKey) as refused:
            from_context(context, moment)
        assert "expired" in refused.value.reason


@pytest.mark.parametrize("context", [{}, {"key_id": ""}, {"scopes": "read write"}])
def test_no_key_in_the_context_is_refused(context) -> None:
    with pytest.raises(InvalidApiKey):
        from_context(context)


def test_a_malformed_restriction_is_refused_not_widened() -> None:
    with pytest.raises(InvalidApiKey):
        from_context({"key_id": "k", "scopes": "read", "plants": "1 two"})
    nothing = from_context({"key_id": "k", "scopes": "read", "plants": ""})
    assert nothing.restricted and nothing.reach(PlantRef(DEFAULT_ACCOUNT, 1)) is None


ACME = Principal("acme", "k1", "ops", frozenset({"read", "write"}))
READER = Principal("acme", "k2", "dash", frozenset({"read"}))
PINNED = Principal("acme", "k3", "site", frozenset({"read", "write"}), plants=frozenset({5}))
IN_PORTFOLIO = Principal("acme", "k4", "north", frozenset({"read"}), portfolios=frozenset({"north"}))


@pytest.mark.parametrize(
    ("principal", "plant", "reach"),
    [
        (ACME, PlantRef("acme", 5), Reach.OWN),
        (ACME, PlantRef("globex", 5), None),  # another account's: as if it did not exist
        (READER, PlantRef("acme", 9), Reach.OWN),
        (PINNED, PlantRef("acme", 5), Reach.OWN),
        (PINNED, PlantRef("acme", 6), None),  # outside its restriction
        (PINNED, PlantRef("globex", 5), None),  # the same id in another account is still not its
        (IN_PORTFOLIO, PlantRef("acme", 8, frozenset({"north", "x"})), Reach.OWN),
        (IN_PORTFOLIO, PlantRef("acme", 8, frozenset({"south"})), None),
    ],
)
def test_a_principal_reaches_its_accounts_plants_within_its_restriction(principal, plant, reach) -> None:
    assert principal.reach(plant) is reach


def test_grants_reach_other_accounts_plants_read_or_write_and_never_delete() -> None:
    shared = Principal(
        "acme", "k1", "ops", frozenset({"read", "write"}),
        grants=(
            Grant("globex", "Globex", plants=frozenset({40})),
            Grant("initech", "Initech", portfolios=frozenset({"west"}), write=True),
        ),
    )  # fmt: skip
    read_only, writable = PlantRef("globex", 40), PlantRef("initech", 41, frozenset({"west"}))
    assert shared.reach(read_only) is Reach.SHARED_READ
    assert shared.reach(writable) is Reach.SHARED_WRITE
    assert shared.reach(PlantRef("globex", 41)) is None  # not granted
    assert shared.reach(PlantRef("initech", 40, frozenset({"east"}))) is None
    assert not shared.may_change(read_only) and shared.may_change(writable)
    assert not shared.may_delete(writable) and shared.may_delete(PlantRef("acme", 1))
    assert not READER.may_change(PlantRef("acme", 1))  # no write scope


def test_scopes_are_required_by_name_and_cursors_bound_to_the_key() -> None:
    READER.require_scope("read")
    with pytest.raises(InsufficientScope):
        READER.require_scope("write")
    assert ACME.scope_key != READER.scope_key != Principal("globex", "k2", "", frozenset()).scope_key


def test_grants_travel_in_the_context_and_come_back_as_they_were() -> None:
    grants = (
        Grant("globex", "Globex Energy", frozenset({3, 4}), frozenset(), write=False),
        Grant("globex", "Globex Energy", frozenset(), frozenset({"abcdefabcdef"}), write=True),
    )
    context = apikeys.authorizer_context(_key(portfolios=frozenset({"p1p1p1p1p1p1"})), grants)
    assert context["portfolios"] == "p1p1p1p1p1p1" and isinstance(context["grants"], str)
    principal = from_context(context, NOW)
    assert principal.grants == grants and principal.portfolios == {"p1p1p1p1p1p1"}
    assert principal.reach(PlantRef("globex", 3)) is None  # outside the key's portfolio
    unrestricted = from_context(apikeys.authorizer_context(_key(), grants), NOW)
    assert unrestricted.reach(PlantRef("globex", 3)) is Reach.SHARED_READ
    assert unrestricted.reach(PlantRef("globex", 9, frozenset({"abcdefabcdef"}))) is Reach.SHARED_WRITE
    assert unrestricted.reach(PlantRef("initech", 3)) is None
    with pytest.raises(InvalidApiKey):
        from_context({**context, "grants": "[[1]]"}, NOW)
