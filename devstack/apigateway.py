"""A local stand-in for API Gateway (REST API, Lambda proxy integration), driven by template.yaml.

It matches a request to the template's Api events as API Gateway does (a literal segment beats
`{param}`, which beats `{proxy+}`; a method defined on the resource beats ANY), builds the
`aws-proxy` event that API Gateway sends (compare `sam local generate-event apigateway aws-proxy`),
invokes the function and turns its result into the HTTP response. A trailing slash is ignored in
matching: the original clients call `/api/solar-plant/` and `/api/solar-plant/data/`. As on
AWS, an encoded slash (`%2F`) does not split segments, and the event's `path` stays
percent-encoded (a REST API's does; only its path parameters are decoded). A HEAD is sent to the
function as HEAD; its answer's body is dropped and its length kept in Content-Length.

Before the function, as on AWS: a body over 10 MB is refused (413), the stage's throttling
answers 429 (the `/*` `*` method settings give each method of each resource its own token bucket
of that rate and burst, as API Gateway does), and the default authorizer runs
(devstack/authorizer.py) with its result in `requestContext.authorizer`, on every route whose
event does not say `Auth: {Authorizer: NONE}`. Then, as the API's usage plans do
(`ApiKeySourceType: AUTHORIZER`), each key is throttled by its own token bucket, of its tier's
plan's rate and burst (template.yaml's UsagePlans), keyed by the authorizer's
`usageIdentifierKey`; the tier comes from the authorizer's context (on AWS the API key's plan
says it). Its 429 says where the key stands: `Retry-After` (seconds until a request passes
again), `RateLimit-Policy` and `RateLimit: "rate";r=0;t=<seconds>`
(draft-ietf-httpapi-ratelimit-headers-11; powerfactor/access/usage.py words the policies; the
daily quota is the functions' own, on AWS too). API Gateway's own
answers take the shape of the API's GatewayResponses. A function that fails or times out gets
API Gateway's plain 502, as on AWS (the functions' timeouts are below its 29 s).
"""

from __future__ import annotations

import base64
import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devstack.authorizer import TokenAuthorizer, method_arn
from devstack.lambdas import InvocationError, LambdaRuntime
from devstack.template import ApiRoute, GatewayResponse
from powerfactor.access.usage import policy
from powerfactor.runtime.settings import Tier

_LITERAL, _PARAM, _GREEDY = 3, 2, 1
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's limit for a REST API request

# API Gateway's own responses when the template does not reshape them: (status, message).
_DEFAULT_RESPONSES = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "THROTTLED": (429, "Too Many Requests"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None),
    "AUTHORIZER_FAILURE": (500, None),
}


class TokenBucket:
    """API Gateway's stage throttling: `rate` requests a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def wait(self) -> float:
        """Seconds until the bucket holds a whole token again (0: it does now)."""
        with self._lock:
            tokens = min(self.burst, self._tokens + (self.clock() - self._last) * self.rate)
            return max(0.0, (1 - tokens) / self.rate)


def _segments(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s] if path.strip("/") else []


def match_route(
    routes: list[ApiRoute], method: str, path: str
) -> tuple[ApiRoute | None, dict[str, str], str | None]:
    """The route for a request, its path parameters, and the resource path that matched.

    Returns (None, {}, resource) when a resource matched but has no such method, and
    (None, {}, None) when no resource matched.
    """
    request = [unquote(s) for s in _segments(path)]
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for resource in {r.path for r in routes}:
        params = _match(_segments(resource), request)
        if params is None:
            continue
        rank = tuple(_rank(s) for s in _segments(resource))
        if best is None or rank > best[0]:
            best = (rank, resource, params)
    if best is None:
        return None, {}, None
    _, resource, params = best
    on_resource = [r for r in routes if r.path == resource]
    for wanted in (method, "ANY"):
        for route in on_resource:
            if route.method == wanted:
                return route, params, resource
    return None, {}, resource


def _rank(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    if segment.startswith("{"):
        return _PARAM
    return _LITERAL


def _match(resource: list[str], request: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, segment in enumerate(resource):
        kind = _rank(segment)
        if kind == _GREEDY:
            if i >= len(request):
                return None
            params[segment[1:-2]] = "/".join(request[i:])
            return params
        if i >= len(request):
            return None
        if kind == _PARAM:
            params[segment[1:-1]] = request[i]
        elif segment != request[i]:
            return None
    return params if len(resource) == len(request) else None


def build_event(
    route: ApiRoute,
    method: str,
    raw_path: str,
    path_params: dict[str, str],
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str = "127.0.0.1",
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration event API Gateway (REST) sends for this request."""
    split = urlsplit(raw_path)
    path = split.path  # percent-encoded, as a REST API sends it (its path parameters decoded)
    query = parse_qsl(split.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for key, value in headers:
        multi_headers.setdefault(key, []).append(value)
    try:
        text, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    header_map = {k: v[-1] for k, v in multi_headers.items()}
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": header_map or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "domainName": "127.0.0.1",
            "identity": {
                "sourceIp": source_ip,
                "userAgent": header_map.get("User-Agent") or header_map.get("user-agent"),
            },
            **({"authorizer": authorizer} if authorizer is not None else {}),
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def _gateway_error(status: int, message: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()


def gateway_response(
    kind: str, responses: dict[str, GatewayResponse], request_id: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """API Gateway's own answer of this type, shaped by the template's gateway response if any."""
    status, message = _DEFAULT_RESPONSES[kind]
    shaped = responses.get(kind)
    if shaped is None:
        return _gateway_error(status, message)
    body = shaped.template
    for name, value in (
        ("$context.requestId", request_id or str(uuid.uuid4())),
        ("$context.error.responseType", kind),
        ("$context.error.messageString", json.dumps(message)),
        ("$context.error.message", message or ""),
    ):
        body = body.replace(name, value)
    headers = [("Content-Type", "application/json"), *shaped.headers.items()]
    return shaped.status, headers, body.encode()


def rate_headers(bucket: TokenBucket, tier: Tier) -> list[tuple[str, str]]:
    """A key's 429 for its rate: Retry-After, its tier's policies and its rate's state."""
    wait = max(1, math.ceil(bucket.wait()))
    return [
        ("Retry-After", str(wait)),
        ("RateLimit-Policy", policy(tier)),
        ("RateLimit", f'"rate";r=0;t={wait}'),
    ]


def to_http(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Turn a proxy integration result into (status, headers, body), or a 502 as API Gateway does."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return _gateway_error(502, "Internal server error")
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(key, str(v)) for v in values]
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return result["statusCode"], headers, data


class ApiGateway(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        host: str,
        port: int,
        routes: list[ApiRoute],
        runtime: LambdaRuntime,
        stage: str,
        control: Callable[[str, str], tuple[int, str, bytes] | None] | None = None,
        authorizer: TokenAuthorizer | None = None,
        throttle: tuple[float, int] | None = None,
        responses: dict[str, GatewayResponse] | None = None,
        tiers: dict[str, Tier] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.routes = routes
        self.runtime = runtime
        self.stage = stage
        self.control = control
        self.authorizer = authorizer
        self.throttle = throttle  # (rate, burst) of every method
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self.responses = responses or {}
        self.tiers = tiers or {}  # by name: each tier's usage plan (rate, burst) and daily quota
        self.clock = clock
        self._key_buckets: dict[str, TokenBucket] = {}  # by usageIdentifierKey
        self.refused: dict[str, int] = {}  # gateway response type -> count, for tests and benchmarks

    def _bucket(self, route: ApiRoute) -> TokenBucket:
        assert self.throttle is not None
        with self._buckets_lock:
            key = (route.path, route.method)
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(*self.throttle)
            return self._buckets[key]

    def _key_bucket(self, usage_key: str, tier: Tier) -> TokenBucket:
        """The key's bucket, of its tier's plan."""
        with self._buckets_lock:
            bucket = self._key_buckets.get(usage_key)
            if bucket is None or (bucket.rate, bucket.burst) != (tier.rate, tier.burst):
                bucket = self._key_buckets[usage_key] = TokenBucket(tier.rate, tier.burst, clock=self.clock)
            return bucket

    def refuse(self, kind: str) -> tuple[int, list[tuple[str, str]], bytes]:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return gateway_response(kind, self.responses)

    def _key_throttled(self, bucket: TokenBucket, tier: Tier) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = self.refuse("THROTTLED")
        extra = rate_headers(bucket, tier)
        names = {name.lower() for name, _ in extra}
        return status, [h for h in headers if h[0].lower() not in names] + extra, body

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.control is not None:
            answer = self.control(method, urlsplit(raw_path).path)
            if answer is not None:
                status, content_type, body = answer
                return status, [("Content-Type", content_type)], body
        path = urlsplit(raw_path).path
        route, params, _ = match_route(self.routes, method, path)
        if route is None:
            # API Gateway answers both cases with 403 "Missing Authentication Token".
            return self.refuse("MISSING_AUTHENTICATION_TOKEN")
        if self.throttle is not None and not self._bucket(route).take():
            return self.refuse("THROTTLED")
        context = None
        if self.authorizer is not None and route.authorized:
            started = time.monotonic()
            decision = self.authorizer.authorize(headers, method_arn(self.stage, method, unquote(path)))
            if decision.outcome is not None:
                return self.refuse(decision.outcome)
            context = {
                **decision.context,
                "integrationLatency": math.ceil((time.monotonic() - started) * 1000),
            }
            tier = self.tiers.get(str(decision.context.get("tier"))) or next(iter(self.tiers.values()), None)
            if decision.usage_key is not None and tier is not None:  # the smallest tier for an unknown one
                bucket = self._key_bucket(decision.usage_key, tier)
                if not bucket.take():
                    return self._key_throttled(bucket, tier)
        event = build_event(route, method, raw_path, params, headers, body, self.stage, authorizer=context)
        try:
            result = self.runtime.invoke(route.function, event)
        except InvocationError as error:
            print(f"{route.function} failed: {error}", file=sys.stderr)
            for line in error.payload.get("stackTrace", []):
                print(f"    {line}", file=sys.stderr)
            return _gateway_error(502, "Internal server error")
        return to_http(result)


class _Handler(BaseHTTPRequestHandler):
    server: ApiGateway
    protocol_version = "HTTP/1.1"
    # a request refused before its version is read is answered with a status line and headers
    # (http.server's default, HTTP/0.9, would send the body alone)
    default_request_version = "HTTP/1.0"

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals (414 for a request line over 64 KiB, 505 for an unknown HTTP
        version, 400 for a malformed request line) in API Gateway's plain shape, then close."""
        self.close_connection = True
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
        self.log_error("code %d, message %s", code, message or phrase)
        status, headers, data = _gateway_error(code, phrase)
        self.send_response(status)
        for key, value in [*headers, ("Connection", "close"), ("Content-Length", str(len(data)))]:
            self.send_header(key, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(data)

    def _serve(self) -> None:
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = None
        if length is None:
            self.close_connection = True
            status, headers, data = _gateway_error(400, "Bad Request")
        elif length > MAX_PAYLOAD:  # refused unread, as API Gateway does
            self.close_connection = True
            status, headers, data = self.server.refuse("REQUEST_TOO_LARGE")
        else:
            body = self.rfile.read(length) if length else b""
            status, headers, data = self.server.handle(
                self.command, self.path, list(self.headers.items()), body
            )
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def __getattr__(self, name: str) -> Any:
        """Every method (`do_GET`, `do_TRACE`, made-up ones) goes to the routes, as ANY would."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """One line per request; also for one refused before its request line was read (too
        long, an unknown HTTP version), which has no method or path yet."""
        command, path = getattr(self, "command", None) or "-", getattr(self, "path", None) or "-"
        sys.stderr.write(f"api  {command} {path[:200]} -> {args[1] if len(args) > 1 else ''}\n")
