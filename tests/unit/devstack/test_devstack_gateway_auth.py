"""The local stack's API Gateway: its authorizer cache, policy evaluation, throttling and its own
responses, as template.yaml configures them."""

import json
import re

import pytest

from devstack.apigateway import ApiGateway, TokenBucket, gateway_response
from devstack.authorizer import TokenAuthorizer, method_arn, policy_allows
from devstack.lambdas import InvocationError
from devstack.template import Authorizer
from powerfactor.access import keys as apikeys
from powerfactor.api.schemas import ErrorResponse
from powerfactor.runtime.errors import InvalidApiKey

KEY = "pfk_abcdefghijkl_" + "A" * 40
READ_ONLY = {
    "principalId": "abcdefghijkl",
    "context": {"key_id": "abcdefghijkl", "key_name": "ro", "scopes": "read"},
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": [
                    "arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/*",
                    "arn:aws:execute-api:us-east-1:123456789012:local/Prod/HEAD/*",
                ],
            }
        ],
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeAuthorizerFunction:
    def __init__(self, answer=READ_ONLY) -> None:
        self.answer = answer
        self.events = []

    def __call__(self, name: str, event: dict):
        self.events.append((name, event))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _authorizer(ttl: int = 300, answer=READ_ONLY):
    function, clock = FakeAuthorizerFunction(answer), Clock()
    config = Authorizer(
        "AuthorizerFunction", "Authorization", r"^[Bb]earer pfk_[0-9a-z]{12}_[0-9A-Za-z]{40}$", ttl
    )
    return TokenAuthorizer(config, function, clock), function, clock


def _arn(method: str, path: str = "/api/solar-plant") -> str:
    return method_arn("Prod", method, path)


def test_a_cached_read_policy_never_lets_a_write_through() -> None:
    authorizer, function, _ = _authorizer()
    headers = [("authorization", f"Bearer {KEY}")]
    first = authorizer.authorize(headers, _arn("GET"))
    assert first.outcome is None and first.context["key_id"] == "abcdefghijkl"
    assert function.events == [
        (
            "AuthorizerFunction",
            {"type": "TOKEN", "authorizationToken": f"Bearer {KEY}", "methodArn": _arn("GET")},
        )
    ]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (
            authorizer.authorize(headers, _arn(method, "/api/solar-plant/plant/1")).outcome == "ACCESS_DENIED"
        )
    assert authorizer.authorize(headers, _arn("GET", "/api/solar-plant/report")).outcome is None
    assert len(function.events) == 1  # one call; the cached policy answered every other route


def test_the_cache_lasts_the_ttl_and_zero_turns_it_off() -> None:
    authorizer, function, clock = _authorizer(ttl=300)
    headers = [("Authorization", f"Bearer {KEY}")]
    authorizer.authorize(headers, _arn("GET"))
    clock.now += 299
    authorizer.authorize(headers, _arn("GET"))
    assert len(function.events) == 1
    clock.now += 1
    authorizer.authorize(headers, _arn("GET"))
    assert len(function.events) == 2
    uncached, function, _ = _authorizer(ttl=0)
    for _ in range(3):
        uncached.authorize(headers, _arn("GET"))
    assert len(function.events) == 3


@pytest.mark.parametrize(
    "headers",
    [[], [("Authorization", "")], [("Authorization", KEY)], [("Authorization", "Basic abc")],
     [("Authorization", f"Bearer {KEY}x")], [("X-Api-Key", f"Bearer {KEY}")]],
)  # fmt: skip
def test_a_missing_or_malformed_header_is_refused_without_a_call(headers) -> None:
    authorizer, function, _ = _authorizer()
    assert authorizer.authorize(headers, _arn("GET")).outcome == "UNAUTHORIZED"
    assert function.events == []


def test_unauthorized_is_a_401_and_is_not_cached() -> None:
    error = InvocationError({"errorType": "Exception", "errorMessage": "Unauthorized"})
    authorizer, function, _ = _authorizer(answer=error)
    headers = [("Authorization", f"Bearer {KEY}")]
    assert authorizer.authorize(headers, _arn("GET")).outcome == "UNAUTHORIZED"
    assert authorizer.authorize(headers, _arn("GET")).outcome == "UNAUTHORIZED"
    assert len(function.events) == 2


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (
            InvocationError({"errorType": "PutError", "errorMessage": "DynamoDB down"}),
            "AUTHORIZER_CONFIGURATION_ERROR",
        ),
        ({"principalId": "x"}, "AUTHORIZER_FAILURE"),
        (None, "AUTHORIZER_FAILURE"),
    ],
)
def test_a_failing_authorizer_is_not_a_pass(answer, outcome) -> None:
    authorizer, _, _ = _authorizer(answer=answer)
    assert authorizer.authorize([("Authorization", f"Bearer {KEY}")], _arn("GET")).outcome == outcome


def test_policy_evaluation_as_iam_does_it() -> None:
    arn = _arn("GET", "/api/solar-plant/plant/1")
    allow = {
        "Effect": "Allow",
        "Action": "execute-api:Invoke",
        "Resource": "arn:aws:execute-api:*:*:local/Prod/*/*",
    }
    deny = {**allow, "Effect": "Deny", "Resource": [arn]}
    assert policy_allows({"Statement": [allow]}, arn)
    assert not policy_allows({"Statement": [allow, deny]}, arn)  # an explicit Deny wins
    assert not policy_allows({"Statement": []}, arn)  # nothing allowed: denied
    assert not policy_allows({"Statement": [{**allow, "Action": "s3:GetObject"}]}, arn)
    assert not policy_allows({"Statement": [{**allow, "Condition": {"IpAddress": {}}}]}, arn)
    assert policy_allows(
        {"Statement": [{**allow, "Resource": _arn("GET", "/")[:-1] + "*"}]}, _arn("GET", "/")
    )


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back at 2/s
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 100  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("UNAUTHORIZED", 401, "unauthorized"), ("ACCESS_DENIED", 403, "insufficient_scope"),
     ("THROTTLED", 429, "throttled"), ("REQUEST_TOO_LARGE", 413, "payload_too_large"),
     ("AUTHORIZER_CONFIGURATION_ERROR", 503, "auth_unavailable"),
     ("AUTHORIZER_FAILURE", 500, "internal_error")],
)  # fmt: skip
def test_gateway_responses_have_the_projects_error_shape(template, kind, status, code) -> None:
    got_status, headers, body = gateway_response(kind, template.gateway_responses(), "req-1")
    assert got_status == status
    error = ErrorResponse.model_validate_json(body).error
    assert (error.status, error.code, error.details) == (status, code, [])
    assert "$context" not in error.message
    headers = dict(headers)
    assert headers["Content-Type"] == "application/json"
    if status == 401:
        assert headers["WWW-Authenticate"] == "Bearer"
    if status in (429, 503):
        assert headers["Retry-After"] == "1"


def test_a_response_type_the_template_does_not_shape_is_api_gateways_own() -> None:
    status, _, body = gateway_response("MISSING_AUTHENTICATION_TOKEN", {})
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})


class _Runtime:
    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, name: str, event: dict) -> dict:
        self.calls += 1
        return {"statusCode": 200, "body": "{}"}


@pytest.mark.loopback
def test_each_method_of_each_resource_has_its_own_bucket(template) -> None:
    """API Gateway applies the stage's `/*` `*` limits to every method separately."""
    runtime = _Runtime()
    gateway = ApiGateway("127.0.0.1", 0, template.api_routes(), runtime, "Prod", throttle=(0.001, 1),
                         responses=template.gateway_responses())  # fmt: skip
    try:
        call = lambda method, path: gateway.handle(method, path, [], b"")[0]  # noqa: E731
        assert call("GET", "/api/solar-plant") == 200
        assert call("GET", "/api/solar-plant/") == 429  # the same resource and method
        assert call("POST", "/api/solar-plant") == 200  # another method
        assert call("GET", "/api/solar-plant/report") == 200  # another resource
        assert call("GET", "/api/solar-plant/plant/1") == 200
        assert call("GET", "/api/solar-plant/plant/2") == 429  # one resource, whatever the id
        assert runtime.calls == 4 and gateway.refused == {"THROTTLED": 2}
    finally:
        gateway.server_close()


def test_the_templates_validation_expression_and_the_authorizer_agree(template) -> None:
    """What API Gateway lets through to the authorizer is exactly what the authorizer can parse."""
    validation = re.compile(template.authorizer(template.parameter_defaults()).validation)
    headers = [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER {KEY}", f"BeArEr  {KEY}", f"Bearer {KEY} ",
               f"Token {KEY}", KEY, f"Bearer {KEY[:-1]}", f"Bearer {KEY}x", f"Bearer\t{KEY}", ""]  # fmt: skip
    for header in headers:
        try:
            parsed = apikeys.parse_token(apikeys.token_from_header(header)) is not None
        except InvalidApiKey:
            parsed = False
        assert bool(validation.search(header)) == parsed, header


@pytest.mark.loopback
def test_each_key_has_its_tiers_bucket_and_its_429_says_when_to_come_back(template) -> None:
    """As the usage plans do: a bucket per usageIdentifierKey, of its tier's rate and burst."""
    from devstack.stack import tiers

    clock = Clock()
    runtime = _Runtime()
    answers = {
        token: {**READ_ONLY, "usageIdentifierKey": f"pfu-local-{token[4:16]}", "context": {"tier": tier}}
        for token, tier in ((KEY, "standard"), ("pfk_otherkey0000_" + "B" * 40, "large"))
    }
    authorizer = TokenAuthorizer(
        Authorizer("AuthorizerFunction", "Authorization", None, 300),
        lambda _, event: answers[event["authorizationToken"]],
    )
    parameters = {
        **template.parameter_defaults(),
        "StandardTierRateLimit": "0.5",
        "StandardTierBurstLimit": "2",
    }
    gateway = ApiGateway(
        "127.0.0.1", 0, template.api_routes(), runtime, "Prod", authorizer=authorizer,
        responses=template.gateway_responses(), tiers=tiers(template, parameters), clock=clock,
    )  # fmt: skip
    try:
        call = lambda token: gateway.handle("GET", "/api/solar-plant", [("Authorization", token)], b"")  # noqa: E731
        assert [call(KEY)[0] for _ in range(2)] == [200, 200]  # its burst
        status, headers, body = call(KEY)
        assert status == 429 and json.loads(body)["error"]["code"] == "throttled"
        headers = dict(headers)
        assert headers["Retry-After"] == "2"  # a token every 2 s at 0.5/s
        assert headers["RateLimit"] == '"rate";r=0;t=2'
        assert headers["RateLimit-Policy"] == '"daily";q=10000;w=86400, "rate";q=2;w=4'
        other = "pfk_otherkey0000_" + "B" * 40
        assert [call(other)[0] for _ in range(50)] == [200] * 50  # another key, of tier large: its own
        clock.now += 2
        assert call(KEY)[0] == 200 and call(KEY)[0] == 429  # one token back after Retry-After
        assert gateway.refused == {"THROTTLED": 2} and runtime.calls == 53
    finally:
        gateway.server_close()


def test_the_local_tiers_are_the_templates_usage_plans(template) -> None:
    from devstack.stack import tiers

    found = tiers(template, {**template.parameter_defaults(), "LargeTierDailyQuota": "7"})
    assert [(t.name, t.rate, t.burst, t.quota) for t in found.values()] == [
        ("standard", 10.0, 20, 10_000), ("large", 50.0, 100, 7),
    ]  # fmt: skip
