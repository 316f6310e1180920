"""API keys (powerfactor.access.keys) against moto: format, storage, and every way a key is refused."""

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from powerfactor.access import keys as apikeys
from powerfactor.access import store as storage
from powerfactor.runtime.errors import ApiKeyNotFound, InvalidApiKey, PowerFactorError


@pytest.fixture
def keys_env(aws, use_function_env) -> None:
    use_function_env("AuthorizerFunction", queue_urls=aws)


def test_a_key_is_prefixed_random_and_matches_the_gateway_check(template) -> None:
    tokens = {apikeys.new_token() for _ in range(200)}
    assert len(tokens) == 200
    validation = template.authorizer(template.parameter_defaults()).validation
    for token in tokens:
        assert token.startswith("pfk_") and len(token) == 57
        assert re.search(validation, f"Bearer {token}")
        key_id, secret = apikeys.parse_token(token)
        assert token == f"pfk_{key_id}_{secret}"
    # 40 characters of 62 symbols, drawn by `secrets`: well above 128 bits
    assert 40 * math.log2(62) > 230


@pytest.mark.usefixtures("keys_env")
def test_only_the_hash_of_the_secret_is_stored() -> None:
    token, key = apikeys.create_key("ci", ["read"])
    _, secret = apikeys.parse_token(token)
    (item,) = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="ApiKeysTable")["Items"]
    assert secret not in str(item)
    assert item["secret_hash"]["S"] == hashlib.sha256(secret.encode()).hexdigest() == key.secret_hash
    assert set(item) == {"key_id", "name", "scopes", "secret_hash", "created_at", "account_id", "tier"}


@pytest.mark.usefixtures("keys_env")
def test_a_created_key_authenticates_with_its_scopes() -> None:
    token, key = apikeys.create_key("  ops  ", ["read", "write"])
    found = apikeys.authenticate(f"Bearer {token}")
    assert found == key and found.name == "ops" and found.scopes == {"read", "write"}
    assert apikeys.authenticate(f"bearer {token}") == key  # the scheme is case-insensitive
    assert apikeys.authorizer_context(key, ()) == {
        "key_id": key.key_id,
        "key_name": "ops",
        "scopes": "read write",
        "account_id": "default",
        "tier": "standard",
    }


@pytest.mark.usefixtures("keys_env")
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic dXNlcjpwdw==", "not a Bearer credential"),
        ("Bearer", "not a Bearer credential"),
        ("Bearer pfk_short_secret", "malformed"),
        ("Bearer " + "pfk_" + "a" * 12 + "_" + "b" * 40, "unknown"),
    ],
)
def test_missing_malformed_and_unknown_keys_are_refused(header, reason) -> None:
    with pytest.raises(InvalidApiKey) as refused:
        apikeys.authenticate(header)
    assert refused.value.reason == reason


@pytest.mark.usefixtures("keys_env")
def test_a_wrong_secret_for_a_known_id_is_refused_in_constant_time(monkeypatch) -> None:
    _, key = apikeys.create_key("ci", ["read"])
    compared = []
    real = apikeys.hmac.compare_digest
    monkeypatch.setattr(apikeys.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    forged = f"pfk_{key.key_id}_{'x' * 40}"
    with pytest.raises(InvalidApiKey, match="API key"):
        apikeys.authenticate(f"Bearer {forged}")
    unknown = f"pfk_{'z' * 12}_{'x' * 40}"
    with pytest.raises(InvalidApiKey):
        apikeys.authenticate(f"Bearer {unknown}")
    assert len(compared) == 2  # an unknown id is compared too, against a dummy hash


@pytest.mark.usefixtures("keys_env")
def test_expired_and_revoked_keys_are_refused() -> None:
    token, key = apikeys.create_key("soon", ["read"], expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert apikeys.authenticate(f"Bearer {token}") == key
    with pytest.raises(InvalidApiKey) as refused:
        apikeys.authenticate(f"Bearer {token}", now=key.expires_at)
    assert refused.value.reason == f"key {key.key_id} expired"
    revoked = apikeys.revoke_key(key.key_id)
    with pytest.raises(InvalidApiKey) as refused:
        apikeys.authenticate(f"Bearer {token}")
    assert refused.value.reason == f"key {key.key_id} revoked"
    assert apikeys.revoke_key(key.key_id).revoked_at == revoked.revoked_at  # the first revocation stays
    assert apikeys.status(revoked) == "revoked"
    assert apikeys.status(key, now=key.expires_at) == "expired"


@pytest.mark.usefixtures("keys_env")
def test_list_and_revoke() -> None:
    _, first = apikeys.create_key("first", ["read"])
    _, second = apikeys.create_key("second", ["write"])
    assert [k.key_id for k in apikeys.list_keys()] == [first.key_id, second.key_id]
    with pytest.raises(ApiKeyNotFound):
        apikeys.revoke_key("nosuchkey000")
    assert storage.get_key("nosuchkey000") is None


@pytest.mark.usefixtures("keys_env")
@pytest.mark.parametrize(
    ("name", "scopes", "expires"),
    [
        ("ci", [], None),
        ("ci", ["admin"], None),
        ("", ["read"], None),
        ("x" * 101, ["read"], None),
        ("tab\there", ["read"], None),
        ("ci", ["read"], datetime.now(UTC) - timedelta(seconds=1)),
        ("ci", ["read"], datetime(2099, 1, 1)),  # no time zone
    ],
)
def test_bad_key_requests_are_refused(name, scopes, expires) -> None:
    with pytest.raises(PowerFactorError):
        apikeys.create_key(name, scopes, expires)
    assert apikeys.list_keys() == []


@pytest.mark.usefixtures("keys_env")
def test_registering_a_given_key_is_idempotent() -> None:
    token = apikeys.new_token()
    _, first = apikeys.create_key("dev", ["read", "write"], token=token)
    assert apikeys.create_key("dev", ["read", "write"], token=token) == (token, first)
    key_id, _ = apikeys.parse_token(token)
    with pytest.raises(PowerFactorError, match="another key"):
        apikeys.create_key("dev", ["read"], token=f"pfk_{key_id}_{'y' * 40}")


@pytest.mark.parametrize(
    ("method", "scope"),
    [("GET", "read"), ("HEAD", "read"), ("POST", "write"), ("PUT", "write"), ("PATCH", "write"),
     ("DELETE", "write"), ("OPTIONS", None), ("BREW", None), ("TRACE", None), ("head", None),
     ("get", None), ("Post", None)],
)  # fmt: skip
def test_the_scope_each_method_needs(method, scope) -> None:
    """Methods are case-sensitive; one no scope lists needs none (no route has it: 405)."""
    assert apikeys.scope_for(method) == scope


def test_methods_each_set_of_scopes_lacks() -> None:
    assert apikeys.denied_methods({"read"}) == ["POST", "PUT", "PATCH", "DELETE"]
    assert apikeys.denied_methods({"write"}) == ["GET", "HEAD"]
    assert apikeys.denied_methods({"read", "write"}) == []


def test_methods_each_set_of_scopes_opens() -> None:
    assert apikeys.allowed_methods({"read"}) == ["GET", "HEAD"]
    assert apikeys.allowed_methods({"write"}) == ["POST", "PUT", "PATCH", "DELETE"]
    assert apikeys.allowed_methods({"read", "write", "bogus"}) == [
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    ]
