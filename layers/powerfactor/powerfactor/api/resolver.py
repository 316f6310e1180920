"""HTTP edge shared by the API functions: the resolver, and the one place errors become responses.

Every error, on every route, has the body `{"error": {"status", "code", "message", "details"}}`.

Before a request is routed, the resolver refuses a body over MAX_BODY_BYTES (413), a body that
is not UTF-8 or declared in another charset (400, 415), and checks the caller again: API
Gateway's authorizer (functions/authorizer) has already refused bad keys, and its context names
the key, its account, scopes and restriction. From it the resolver builds the request's
`Principal` (access/principal.py), which the routes pass into every domain call (`app.principal`).
A request without that context (a route someone deployed without the authorizer) gets 401, as
does a key whose expiry has passed while the authorizer's answer is still cached; a key without
the method's scope 403, so a mistake in the template cannot open the API. The key's id, name and
account are added to every log line.

Every request of a valid key is counted against its tier's daily quota before it is routed
(access/usage.py, one conditional write): a key whose quota is spent gets 429 `quota_exceeded`
with `Retry-After` (seconds to the next UTC midnight), and every answer to a valid key carries
its `RateLimit-Policy` and `RateLimit` headers (`app.usage`: this request's count, for GET /key).

Methods: HEAD is answered as GET (the same status and headers; API Gateway sends no body for a
HEAD, and its Content-Length is the GET's). A method no route has (OPTIONS, TRACE, PROPFIND,
`get`: methods are case-sensitive) gets 405 with `Allow` once the key is known to be valid; the
authorizer lets such methods through for any valid key so that they reach this answer (functions/
authorizer). Content negotiation (`negotiate`) reads `Accept` as RFC 9110 says: media ranges with
quality values, case-insensitive, `q=0` meaning "not this"; JSON when nothing offered is acceptable.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Mapping
from http import HTTPStatus
from types import UnionType
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel
from pynamodb.exceptions import PynamoDBException

from powerfactor.access import usage as usage_counter
from powerfactor.access.keys import scope_for
from powerfactor.access.principal import Principal, from_context
from powerfactor.access.usage import Usage
from powerfactor.api.schemas import ErrorBody, ErrorDetail, ErrorResponse
from powerfactor.aws.outage import is_outage
from powerfactor.aws.tables import deadline as storage_deadline
from powerfactor.runtime.errors import (
    AccountNotFound,
    AlreadyReverted,
    ApiKeyNotFound,
    GrantNotFound,
    InsufficientScope,
    InvalidApiKey,
    InvalidCursor,
    InvalidName,
    InvalidRange,
    LimitReached,
    NameTaken,
    NoTimeZone,
    NotPermitted,
    PayloadTooLarge,
    PlantBusy,
    PlantLimitReached,
    PlantNotFound,
    PortfolioNotFound,
    PowerFactorError,
    ResyncNotFound,
    ResyncPending,
    RevisionConflict,
    StorageBusy,
    StorageDeadline,
)
from powerfactor.runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import (
        OpenAPIResponse,
        OpenAPIResponseContentModel,
        OpenAPIResponseContentSchema,
    )

# Most API requests add no metric (reads); Powertools would warn about that on every one of them.
# This is the filter its documentation gives for it.
warnings.filterwarnings("ignore", "No application metrics to publish*")

# Request bodies are small JSON objects; anything bigger is refused before it is parsed.
MAX_BODY_BYTES = 16 * 1024
# Seconds kept, of the Lambda's remaining time, to answer after the last DynamoDB call.
_RESPONSE_MARGIN = 0.8

_DOMAIN_STATUS: dict[type[PowerFactorError], tuple[HTTPStatus, str]] = {
    PlantNotFound: (HTTPStatus.NOT_FOUND, "plant_not_found"),
    NameTaken: (HTTPStatus.CONFLICT, "name_taken"),
    PlantLimitReached: (HTTPStatus.CONFLICT, "plant_limit_reached"),
    InvalidName: (HTTPStatus.UNPROCESSABLE_ENTITY, "name_too_long"),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large"),
    InvalidApiKey: (HTTPStatus.UNAUTHORIZED, "unauthorized"),
    InsufficientScope: (HTTPStatus.FORBIDDEN, "insufficient_scope"),
    NotPermitted: (HTTPStatus.FORBIDDEN, "insufficient_scope"),
    ApiKeyNotFound: (HTTPStatus.NOT_FOUND, "key_not_found"),
    InvalidCursor: (HTTPStatus.BAD_REQUEST, "invalid_cursor"),
    InvalidRange: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_range"),
    NoTimeZone: (HTTPStatus.UNPROCESSABLE_ENTITY, "no_time_zone"),
    ResyncPending: (HTTPStatus.CONFLICT, "resync_pending"),
    ResyncNotFound: (HTTPStatus.NOT_FOUND, "resync_not_found"),
    AlreadyReverted: (HTTPStatus.CONFLICT, "already_reverted"),
    PlantBusy: (HTTPStatus.CONFLICT, "plant_busy"),
    RevisionConflict: (HTTPStatus.CONFLICT, "revision_conflict"),
    PortfolioNotFound: (HTTPStatus.NOT_FOUND, "portfolio_not_found"),
    AccountNotFound: (HTTPStatus.NOT_FOUND, "account_not_found"),
    GrantNotFound: (HTTPStatus.NOT_FOUND, "grant_not_found"),
    LimitReached: (HTTPStatus.CONFLICT, "limit_reached"),
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed request: the body is not JSON, or a cursor this API did not return",
    401: "No valid API key: missing, malformed, unknown, expired or revoked",
    403: "The API key lacks the scope this method needs (read: GET, HEAD; write: POST, PUT, PATCH, DELETE; "
    "admin: the account's keys, portfolios and grants), or may not change that plant",
    404: (
        "No such plant (or none this key may see: the same answer), portfolio, grant or account to share "
        "with; for a revert, no revision of that re-sync"
    ),
    409: (
        "Another plant of the account has this name, the account or the deployment holds its maximum of "
        "plants, a re-sync is pending, or a revert is refused: reverted already, hours changed again "
        "since, the plant syncing; a plant in 20 portfolios already, an account holding 50 grants"
    ),
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is declared as something other than JSON",
    422: "A parameter or the body is invalid",
    429: "Too many requests (the key's rate), or its daily quota spent; retry after `Retry-After` seconds",
    503: "Storage is unavailable; retry after `Retry-After` seconds",
}


def documented(
    status: int,
    model: type[BaseModel] | UnionType | None,
    description: str,
    errors: tuple[int, ...] = (),
    csv: bool = False,
) -> dict[int, OpenAPIResponse]:
    """The OpenAPI `responses` of a route: its success (JSON, one model or a union of them, and CSV
    if it offers it) and errors.

    Every route can answer 401, 403, 422, 429 and 503; errors are all ErrorResponse.
    """
    content: dict[str, OpenAPIResponseContentModel | OpenAPIResponseContentSchema] = (
        {"application/json": {"model": model}} if model else {}
    )
    if csv:
        content["text/csv"] = {"schema": {"type": "string", "description": "The same rows as CSV."}}
    success: OpenAPIResponse = {"description": description}
    if content:
        success["content"] = content
    error_content: dict[str, OpenAPIResponseContentModel | OpenAPIResponseContentSchema] = {
        "application/json": {"model": ErrorResponse}
    }
    return {
        status: success,
        **{
            code: {"description": _ERROR_DESCRIPTIONS[code], "content": error_content}
            for code in sorted({*errors, 401, 403, 422, 429, 503})
        },
    }


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorResponse(
        error=ErrorBody(status=status.value, code=code, message=message, details=details or [])
    )
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
        headers=headers,
    )


def _location(loc: Any) -> str:
    parts = [str(p) for p in (loc or ())]
    # pydantic reports the body of a model argument as ("body", <field>...); keep it readable.
    return ".".join(parts) if parts else "request"


def _validation_details(error: RequestValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(
            location=_location(item.get("loc")),
            message=str(item.get("msg") or item.get("type")),
            type=str(item.get("type")),
        )
        for item in error.errors()
    ]


def _allowed_methods(app: APIGatewayRestResolver, path: str) -> list[str]:
    """Methods of the routes whose path matches (HEAD wherever GET is), for telling 405 from 404."""
    routes = app._static_routes + app._dynamic_routes
    methods = {route.method for route in routes if route.rule.match(path)}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MERGE_PATCH = "application/merge-patch+json"  # RFC 7386, read as JSON


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """A media type (`type/subtype`, lower case) and its parameters (names lower case, values
    unquoted), as RFC 9110 section 8.3.1 writes them."""
    kind, *params = value.split(";")
    parameters: dict[str, str] = {}
    for param in params:
        name, _, param_value = param.partition("=")
        parameters[name.strip().lower()] = param_value.strip().strip('"')
    return kind.strip().lower(), parameters


def _body_kind(content_type: str) -> str:
    """The content type validation should read a body as: JSON, or unsupported (415). A body
    declared in a charset other than UTF-8 is unsupported too: JSON is UTF-8 (RFC 8259)."""
    kind, parameters = _media_type(content_type)
    charset = parameters.get("charset", "utf-8").lower()
    if kind in ("", _FORM, _JSON, _MERGE_PATCH) and charset in ("utf-8", "utf8"):
        return _JSON
    return "application/octet-stream"  # Powertools answers RequestUnsupportedContentType -> 415


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The media type of `offered` (its first is the default) the `Accept` header prefers.

    Each media range (`text/csv`, `text/*`, `*/*`, case-insensitive) has a quality `q` (default 1;
    0: not acceptable); an offered type takes the quality of the most specific range that matches
    it, and the highest quality wins, ties going to the earlier offer. When nothing offered is
    acceptable (or the header is absent or unreadable) the answer is the default: a JSON error
    or page is more useful than a 406.
    """
    if not accept:
        return offered[0]
    ranges: list[tuple[str, str, float]] = []
    for item in accept.split(","):
        kind, parameters = _media_type(item)
        main, _, sub = kind.partition("/")
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        if main and sub and 0 <= quality <= 1:
            ranges.append((main, sub, quality))
    best, best_quality = offered[0], 0.0
    for media in offered:
        main, _, sub = media.partition("/")
        matches = [
            (2 if (m, s) == (main, sub) else 1 if (m == main and s == "*") else 0, q)
            for m, s, q in ranges
            if (m, s) in ((main, sub), (main, "*"), ("*", "*"))
        ]
        quality = max(matches)[1] if matches else 0.0
        if quality > best_quality:
            best, best_quality = media, quality
    return best


def _proxy_result(error: PowerFactorError) -> dict[str, Any]:
    """A refusal as the proxy integration result, for errors found before routing."""
    status, code = _DOMAIN_STATUS[type(error)]
    body = ErrorResponse(error=ErrorBody(status=status.value, code=code, message=error.message, details=[]))
    headers = {"Content-Type": [content_types.APPLICATION_JSON]}
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = ["Bearer"]
    return {
        "statusCode": status.value,
        "multiValueHeaders": headers,
        "body": body.model_dump_json(),
        "isBase64Encoded": False,
    }


# Methods the routes can have; a request's method is compared as sent (methods are case-sensitive).
_ROUTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


class _NotUtf8(Exception):
    """A body whose bytes are not UTF-8."""


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    return len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())


def check_caller(event: Mapping[str, Any], logger: Logger) -> Principal:
    """The principal of a request API Gateway's authorizer passed with the scope its method
    needs; InvalidApiKey or InsufficientScope for any other.

    Adds the key's id, name and account to the log lines of this request.
    """
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    if context.get("key_id"):
        logger.append_keys(
            key_id=context.get("key_id"),
            key_name=context.get("key_name"),
            account_id=context.get("account_id"),
        )
    principal = from_context(context)
    needed = scope_for(str(event.get("httpMethod") or ""))
    if needed is not None and not principal.has_scope(needed):
        logger.warning("API key lacks a scope", extra={"needed": needed})
        raise InsufficientScope(needed)
    return principal


def _json_body(text: str) -> Any:
    """json.loads, with every way a body can fail to be read as JSON reported as a decode error
    (Powertools turns it into our 400): nesting too deep for the parser, an integer of more
    digits than Python converts (4,300), as well as malformed text.

    A top-level array comes back as a tuple: Powertools reads a list given for a single model as
    its first element, and every body here is one object, so an array must fail validation (422
    `model_type`), not be taken for the object it holds.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as error:
        raise json.JSONDecodeError(f"unreadable JSON: {error}", text[:100], 0) from None
    return tuple(value) if isinstance(value, list) else value


def _utf8_body(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with its body as text. API Gateway base64-encodes a body that is not valid
    text; if its bytes are not UTF-8 either, _NotUtf8 (no replacement characters: they would be
    stored in place of what was sent)."""
    if not (event.get("isBase64Encoded") and event.get("body")):
        return event
    try:
        raw = base64.b64decode(event["body"], validate=True)
    except binascii.Error:
        raw = str(event["body"]).encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotUtf8() from None
    return {**event, "body": text, "isBase64Encoded": False}


def _method_not_routed(app: APIGatewayRestResolver, method: str, path: str) -> Response:
    """405 with `Allow` for a method no route has on a path that has routes, else 404."""
    allowed = _allowed_methods(app, path)
    if allowed:
        return error_response(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "method_not_allowed",
            f"{method} is not allowed on {path}; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    return error_response(HTTPStatus.NOT_FOUND, "not_found", f"no route for {path}")


class JsonApiResolver(APIGatewayRestResolver):
    """A REST resolver whose bodies are always JSON.

    `curl -d` labels its body as a form; PowerFactor reads every body as JSON, so a form label is
    rewritten to application/json before validation, and any other non-JSON type (multipart,
    text, a charset other than UTF-8, ...) to one Powertools refuses, which becomes a 415. A body
    that is not UTF-8 cannot be JSON: it is refused as malformed (400) before validation.
    HEAD is routed as GET; a method no route has gets 405 (see the module docstring).
    """

    logger: Logger  # the handler's, set by create_resolver
    _principal: Principal | None = None
    usage: Usage | None = None  # the request's count against its key's daily quota (None: not counted)

    @property
    def principal(self) -> Principal:
        """The caller of the request being resolved (check_caller built it before routing)."""
        if self._principal is None:
            raise InvalidApiKey("no principal: the request was not checked")
        return self._principal

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self._principal = self.usage = None
        try:
            self._principal = check_caller(event, self.logger)
        except (InvalidApiKey, InsufficientScope) as error:
            return _proxy_result(error)
        seconds_left = context.get_remaining_time_in_millis() / 1000 if context is not None else 30.0
        with storage_deadline(seconds_left - _RESPONSE_MARGIN):
            self.usage = self._count(self._principal)
        if self.usage is not None and self.usage.refused:
            usage = self.usage
            refused = error_response(
                HTTPStatus.TOO_MANY_REQUESTS,
                "quota_exceeded",
                f"this key's daily quota ({usage.limit} requests, tier {usage.tier.name}) is spent; "
                f"it resets at {usage.resets_at.isoformat().replace('+00:00', 'Z')}",
            )
            return self._with_usage(self._answer(refused))
        return self._with_usage(self._routed(event, context))

    def _count(self, principal: Principal) -> Usage | None:
        """This request counted against the key's daily quota; None if storage failed (logged:
        the request is answered uncounted)."""
        try:
            return usage_counter.count(principal.key_id, get_settings().tier(principal.tier))
        except (PynamoDBException, StorageDeadline) as error:
            if isinstance(error, PynamoDBException) and not is_outage(error):  # refused: our mistake
                self.logger.exception("request not counted: the usage table refused the count")
            else:
                self.logger.warning("usage table unavailable: not counted", extra={"error": repr(error)})
            return None

    def _with_usage(self, result: dict[str, Any]) -> dict[str, Any]:
        """The proxy result with the key's RateLimit headers (and Retry-After on a refusal)."""
        if self.usage is None:
            return result
        headers = self.usage.headers()
        if "multiValueHeaders" in result or "headers" not in result:
            multi = result.setdefault("multiValueHeaders", {}) or {}
            multi.update({name: [value] for name, value in headers.items()})
            result["multiValueHeaders"] = multi
        else:
            result["headers"] = {**(result.get("headers") or {}), **headers}
        return result

    def _routed(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            size = _body_size(event)
            if size > MAX_BODY_BYTES:
                raise PayloadTooLarge(size, MAX_BODY_BYTES)
        except PayloadTooLarge as error:
            return _proxy_result(error)
        method = str(event.get("httpMethod") or "")
        if method not in _ROUTED_METHODS:
            return self._answer(_method_not_routed(self, method, str(event.get("path") or "")))
        try:
            event = _utf8_body(event)
        except _NotUtf8:
            return self._answer(
                error_response(HTTPStatus.BAD_REQUEST, "malformed_json", "the request body is not UTF-8")
            )
        if method == "HEAD":  # as GET; the gateway drops the body and keeps its length
            event = {**event, "httpMethod": "GET"}
        for key in ("headers", "multiValueHeaders"):
            headers = event.get(key) or {}
            for name, value in headers.items():
                if name.lower() == "content-type":
                    values = value if isinstance(value, list) else [value]
                    kind = _body_kind(str(values[-1]))
                    headers[name] = [kind] if isinstance(value, list) else kind
        seconds_left = context.get_remaining_time_in_millis() / 1000 if context is not None else 30.0
        with storage_deadline(seconds_left - _RESPONSE_MARGIN):
            return super().resolve(event, context)

    def _answer(self, response: Response) -> dict[str, Any]:
        """A response built before routing, as the proxy integration result."""
        headers: dict[str, list[str]] = {"Content-Type": [str(response.content_type)]}
        headers.update({name: [str(value)] for name, value in (response.headers or {}).items()})
        return {
            "statusCode": response.status_code,
            "multiValueHeaders": headers,
            "body": response.body,
            "isBase64Encoded": False,
        }


def create_resolver(logger: Logger) -> JsonApiResolver:
    """A resolver with request validation and PowerFactor's error mapping, logging to the
    handler's logger (the key of each request is appended to it)."""
    app = JsonApiResolver(enable_validation=True, json_body_deserializer=_json_body)
    app.logger = logger

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(error: RequestUnsupportedContentType) -> Response:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as JSON"
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        details = _validation_details(error)
        if any(d.type == "json_invalid" for d in details):
            return error_response(
                HTTPStatus.BAD_REQUEST, "malformed_json", "the request body is not valid JSON", details
            )
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "the request is invalid", details
        )

    @app.exception_handler(ResyncPending)
    def _resync_pending(error: ResyncPending) -> Response:
        """409 with the pending re-sync, one detail per field (location `sync.resync.<field>`)."""
        details = [
            ErrorDetail(location=f"sync.resync.{name}", message=value, type="resync_pending")
            for name, value in error.pending.items()
        ]
        return error_response(HTTPStatus.CONFLICT, "resync_pending", error.message, details)

    @app.exception_handler(RevisionConflict)
    def _revision_conflict(error: RevisionConflict) -> Response:
        """409 with the hours changed again since the re-sync, one detail each (`revisions.<hour>`)."""
        details = [
            ErrorDetail(location=f"revisions.{hour}", message=since, type="revision_conflict")
            for hour, since in error.conflicts
        ]
        return error_response(HTTPStatus.CONFLICT, "revision_conflict", error.message, details)

    @app.exception_handler(PlantBusy)
    def _plant_busy(error: PlantBusy) -> Response:
        return error_response(HTTPStatus.CONFLICT, "plant_busy", error.message, headers={"Retry-After": "60"})

    @app.exception_handler(PowerFactorError)
    def _domain_error(error: PowerFactorError) -> Response:
        status, code = _DOMAIN_STATUS.get(type(error), (HTTPStatus.BAD_REQUEST, "bad_request"))
        return error_response(status, code, error.message)

    @app.not_found
    def _no_route(_: NotFoundError) -> Response:
        event = app.current_event
        return _method_not_routed(app, event.http_method, event.path)

    def _retry_later(
        code: str = "storage_unavailable", message: str = "storage is unavailable right now"
    ) -> Response:
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE, code, f"{message}; retry shortly", headers={"Retry-After": "1"}
        )

    @app.exception_handler(StorageBusy)
    def _busy(error: StorageBusy) -> Response:
        logger.warning("storage busy", extra={"error": str(error)})
        return _retry_later("storage_busy", "too many concurrent changes")

    @app.exception_handler(StorageDeadline)
    def _out_of_time(error: StorageDeadline) -> Response:
        logger.warning("DynamoDB too slow for this request", extra={"error": str(error)})
        return _retry_later()

    @app.exception_handler(PynamoDBException)
    def _storage_error(error: PynamoDBException) -> Response:
        if is_outage(error):
            logger.warning("DynamoDB unavailable", extra={"error": str(error), "cause": repr(error.cause)})
            return _retry_later()
        return _bug(error)  # DynamoDB refused what we sent: our mistake, not an outage

    @app.exception_handler(Exception)
    def _bug(error: Exception) -> Response:
        request_id = (app.current_event.get("requestContext") or {}).get("requestId", "unknown")
        logger.exception("unhandled error", extra={"request_id": request_id})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            f"internal error (request {request_id}); it has been logged",
        )

    return app
