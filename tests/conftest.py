"""Fixtures shared by every level: the template, API Gateway events, handlers, a Lambda context.

`make test` runs the suite in parallel (pytest-xdist, `--dist loadfile`): each module keeps to one
worker, so an e2e module's local stack starts once, and a worker's integration modules share the
DynamoDB Local it starts. (`loadgroup` would put all integration tests on one worker, but
pytest-xdist 3.8 cannot rename pytest 9's node ids, which it needs for that.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.apigateway import build_event, match_route
from devstack.lambdas import FakeContext, load_handler
from devstack.stack import function_environment
from devstack.template import Template, load_template
from powerfactor.runtime.settings import reset_settings
from tests.support import caller


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext(function_name="test", memory_limit_in_mb=256, timeout_s=10)


@pytest.fixture
def use_function_env(template: Template, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Give this process a function's environment, as the template defines it."""

    def apply(
        function: str = "PlantsApiFunction", queue_urls: dict[str, str] | None = None, **parameters: str
    ) -> None:
        for key, value in function_environment(template, parameters, queue_urls)[function].items():
            monkeypatch.setenv(key, value)
        reset_settings()

    yield apply
    reset_settings()


ApiCall = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def api(template: Template) -> ApiCall:
    """Call the API in-process: route as API Gateway does, invoke the handler, decode the reply."""
    routes = template.api_routes()
    functions = template.functions()

    def call(
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        scopes: tuple[str, ...] | None = ("read", "write"),
        context: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """`scopes` of the caller's key as the authorizer passed it; None: no authorizer ran.
        `context`: the authorizer's whole context instead (tests.support.caller makes one)."""
        route, params, _ = match_route(routes, method, urlsplit(path).path)
        assert route is not None, f"API Gateway would not route {method} {path} to a function"
        if body is None or isinstance(body, bytes):
            data = body or b""
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if context is None and scopes is not None:
            context = caller(scopes)
        event = build_event(
            route, method, path, params, list(all_headers.items()), data, "Prod", authorizer=context
        )
        function = functions[route.function]
        handler = load_handler(function, template.layer_dirs())
        # a fresh context per call, as Lambda gives each invocation its own time budget
        result = handler(event, FakeContext(function.logical_id, function.memory, function.timeout))
        text = result.get("body") or ""
        try:
            payload = json.loads(text) if text else None
        except json.JSONDecodeError:
            payload = text
        reply_headers = dict(result.get("headers") or {})
        reply_headers.update({k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
        return result["statusCode"], reply_headers, payload

    return call
