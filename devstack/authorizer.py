"""API Gateway's side of a TOKEN Lambda authorizer, for the local stack: the identity check, the
call, the policy evaluation and the result cache, as template.yaml configures them.

As on AWS: a request without the identity header, or whose header does not match the
ValidationExpression, is refused (401) without calling the function; the function's answer is
cached per header value for ReauthorizeEvery seconds (errors are not cached) and that one policy
is then evaluated against every route the same key calls; "Unauthorized" from the function is a
401, a policy that does not allow the method ARN a 403, any other failure of the function a
configuration error.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.lambdas import InvocationError
from devstack.template import Authorizer

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "local"


def method_arn(stage: str, method: str, path: str) -> str:
    """The ARN of a request that API Gateway passes to an authorizer and evaluates policies on."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{stage}/{method}/{path.lstrip('/')}"


def _iam_match(value: str, pattern: str) -> bool:
    """IAM's wildcards: `*` any characters (`/` too), `?` one; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """IAM's evaluation of an authorizer policy for `execute-api:Invoke` on `arn`: allowed only if
    an Allow statement matches and no Deny does. `*` matches any characters (`/` too), `?` one.
    A statement with a Condition cannot be evaluated here, so it never allows and always denies."""
    allowed = False
    for statement in _as_list(policy.get("Statement") or []):
        actions = _as_list(statement.get("Action") or [])
        if not any(_iam_match("execute-api:Invoke", a) for a in actions):
            continue
        resources = _as_list(statement.get("Resource") or [])
        matches = any(_iam_match(arn, r) for r in resources)
        if statement.get("Effect") == "Deny" and (matches or statement.get("Condition")):
            return False
        if statement.get("Effect") == "Allow" and matches and not statement.get("Condition"):
            allowed = True
    return allowed


@dataclass
class Decision:
    """`outcome` is the gateway response type that ends the request, or None to go on."""

    outcome: str | None
    context: dict[str, Any] = field(default_factory=dict)
    usage_key: str | None = None  # the answer's usageIdentifierKey: the API key of the usage plans


class TokenAuthorizer:
    def __init__(
        self,
        config: Authorizer,
        invoke: Callable[[str, dict[str, Any]], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.invoke = invoke
        self.clock = clock
        self.calls = 0  # invocations of the function, for tests and benchmarks
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._validation = re.compile(config.validation) if config.validation else None

    def authorize(self, headers: list[tuple[str, str]], arn: str) -> Decision:
        wanted = self.config.header.lower()
        token = next((value for name, value in reversed(headers) if name.lower() == wanted), "")
        if not token or (self._validation and not self._validation.search(token)):
            return Decision("UNAUTHORIZED")
        result = self._cached(token)
        if result is None:
            try:
                result = self._call(token, arn)
            except InvocationError as error:
                if error.payload.get("errorMessage") == "Unauthorized":
                    return Decision("UNAUTHORIZED")
                return Decision("AUTHORIZER_CONFIGURATION_ERROR")
            if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
                return Decision("AUTHORIZER_FAILURE")
            if self.config.ttl > 0:
                with self._lock:
                    self._cache[token] = (self.clock() + self.config.ttl, result)
        if not policy_allows(result["policyDocument"], arn):
            return Decision("ACCESS_DENIED")
        context = {"principalId": result.get("principalId"), **(result.get("context") or {})}
        return Decision(None, context, result.get("usageIdentifierKey"))

    def flush(self) -> int:
        """Forget every cached answer (API Gateway's FlushStageAuthorizersCache); how many."""
        with self._lock:
            forgotten = len(self._cache)
            self._cache.clear()
        return forgotten

    def _cached(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._cache.get(token)
            if entry is None or entry[0] <= self.clock():
                self._cache.pop(token, None)
                return None
            return entry[1]

    def _call(self, token: str, arn: str) -> Any:
        self.calls += 1
        return self.invoke(
            self.config.function, {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}
        )
