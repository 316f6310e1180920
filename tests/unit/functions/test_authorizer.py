"""The authorizer function in-process against moto: the policy it returns for every route, and
what it logs. The policy is evaluated as API Gateway evaluates a cached one: for every route and
method of the template, with the same key."""

import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.authorizer import method_arn, policy_allows
from devstack.lambdas import load_handler
from powerfactor.access import keys as apikeys
from powerfactor.access.principal import from_context

ROOT = Path(__file__).resolve().parents[3]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@pytest.fixture
def authorize(aws, use_function_env, template, lambda_context):
    use_function_env("AuthorizerFunction", queue_urls=aws)
    handler = load_handler(template.functions()["AuthorizerFunction"], template.layer_dirs())

    def call(token: str, method: str = "GET", path: str = "/api/solar-plant") -> dict:
        event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn("Prod", method, path)}
        return handler(event, lambda_context)

    return call


def _concrete(path: str) -> str:
    return path.replace("{plant_id}", "7").replace("{proxy+}", "any/thing")


@pytest.mark.parametrize("scopes", [("read",), ("write",), ("read", "write")])
def test_the_policy_opens_the_scopes_methods_and_those_no_scope_has_on_every_route(
    authorize, template, scopes
) -> None:
    """Methods of a scope the key lacks are refused (403); methods no scope lists (no route has
    them) pass, so that the API answers them with its 405 and `Allow`."""
    token, key = apikeys.create_key("k", scopes)
    answer = authorize(f"Bearer {token}")  # the first request; API Gateway caches this answer
    assert answer["principalId"] == key.key_id
    assert answer["context"] == apikeys.authorizer_context(key)
    allowed = set(apikeys.allowed_methods(scopes))
    scoped = {method for methods in apikeys.SCOPES.values() for method in methods}
    paths = {_concrete(route.path) for route in template.api_routes()}
    for path, method in itertools.product(paths, [*METHODS, "PROPFIND", "TRACE", "get"]):
        arn = method_arn("Prod", method, path)
        expected = method in allowed or method not in scoped
        assert policy_allows(answer["policyDocument"], arn) == expected, (scopes, method, path)
    # nor another stage or API
    assert not policy_allows(answer["policyDocument"], method_arn("Other", "GET", "/api/solar-plant"))


@pytest.mark.parametrize("state", ["unknown", "revoked", "expired", "malformed", "not bearer"])
def test_a_bad_key_is_unauthorized(authorize, state, monkeypatch) -> None:
    token, key = apikeys.create_key("k", ["read"])
    if state == "unknown":
        token = f"pfk_{'q' * 12}_{'r' * 40}"
    elif state == "revoked":
        apikeys.revoke_key(key.key_id)
    elif state == "expired":
        monkeypatch.setattr(
            apikeys.storage,
            "get_key",
            lambda _: key.__class__(**{**key.__dict__, "expires_at": key.created_at}),
        )
    elif state == "malformed":
        token = token[:-1]
    header = token if state == "not bearer" else f"Bearer {token}"
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # API Gateway's 401
        authorize(header)


def logged(caplog) -> list[dict]:
    """The log lines as Powertools writes them (JSON, with the keys appended)."""
    formatter = logging.getLogger("powerfactor").handlers[0].formatter
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_logs_name_the_key_never_its_secret_or_hash(authorize, caplog) -> None:
    token, key = apikeys.create_key("ops laptop", ["read"])
    authorize(f"Bearer {token}")
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(f"Bearer {token[:-3]}xyz")
    lines = logged(caplog)
    accepted = next(line for line in lines if line["message"] == "API key accepted")
    assert accepted["key_id"] == key.key_id and accepted["key_name"] == "ops laptop"
    refused = next(line for line in lines if line["message"] == "API key refused")
    assert refused["reason"] == "unknown"
    text = "\n".join(json.dumps(line) for line in lines)
    _, secret = apikeys.parse_token(token)
    assert secret not in text and secret[:-3] not in text
    assert key.secret_hash not in text and key.secret_hash[:16] not in text


def test_the_context_carries_the_expiry_of_a_key_that_has_one(authorize) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    token, key = apikeys.create_key("dashboard", ["read"], expires_at=expires)
    context = authorize(f"Bearer {token}")["context"]
    assert context == {**apikeys.authorizer_context(key), "expires_at": expires.isoformat()}
    assert all(isinstance(value, str) for value in context.values())  # API Gateway takes no null
    assert apikeys.caller_key(from_context(context)) == {
        "id": key.key_id, "name": "dashboard", "scopes": ["read"], "expires_at": expires,
        "account_id": "default", "plants": None, "portfolios": None, "tier": "standard",
    }  # fmt: skip
    plain_token, _ = apikeys.create_key("no expiry", ["read"])
    assert "expires_at" not in authorize(f"Bearer {plain_token}")["context"]


def test_the_policy_keeps_the_partition_region_account_api_and_stage_of_the_method_arn() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("authorizer_app", ROOT / "functions/authorizer/app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    arn = "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/Beta/POST/api/solar-plant/plant/7"
    answer = app.policy("k", arn, ["GET", "HEAD"], {"key_id": "k"})
    assert answer["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": ["arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/Beta/*/*"],
        },
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": [
                "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/Beta/GET/*",
                "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/Beta/HEAD/*",
            ],
        },
    ]
    assert answer["principalId"] == "k" and answer["context"] == {"key_id": "k"}


def test_the_authorizer_loads_neither_pydantic_nor_powertools_data_classes() -> None:
    """Its cold start is mostly imports (bench/cold.py): these two cost it ~25 % and it needs neither."""
    import subprocess
    import sys

    probe = (
        "import sys, app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core') "
        "or m.startswith('aws_lambda_powertools.utilities.data_classes')))"
    )
    path = f"{ROOT / 'functions/authorizer'}:{ROOT / 'layers/powerfactor'}"
    done = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": path, "PATH": "/usr/bin"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_the_answer_names_the_keys_api_key_of_its_usage_plan_and_its_tier(authorize) -> None:
    token, key = apikeys.create_key("big", ["read"], tier="large")
    answer = authorize(f"Bearer {token}")
    assert answer["usageIdentifierKey"] == f"pfu-local-{key.key_id}"  # the API's id in the method ARN
    assert answer["context"]["tier"] == "large"
    assert len(answer["usageIdentifierKey"]) >= 20  # API Gateway's least for an API key's value
