"""Plants API handler: routes parse the request and call powerfactor.plants."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, BeforeValidator

from powerfactor.access import audit
from powerfactor.access import keys as apikeys
from powerfactor.access.schemas import (
    AuditEntryOut,
    AuditPage,
    CallerKey,
    KeyCreate,
    KeyInfo,
    KeyPage,
    NewKey,
)
from powerfactor.alerts import logic as alerts
from powerfactor.alerts.schemas import AlertPage
from powerfactor.api.resolver import create_resolver, documented
from powerfactor.api.routes import BASE, CURSOR_HELP, PLANT_ID_MAX, PLANT_ID_MIN, strict_int
from powerfactor.aws.apigateway import RestApi
from powerfactor.plants import logic as plants
from powerfactor.plants import portfolios, sharing
from powerfactor.plants.schemas import (
    METADATA_FIELDS,
    GrantIn,
    GrantOut,
    GrantPage,
    Plant,
    PlantCreate,
    PlantIn,
    PlantPage,
    PlantPatch,
    PortfolioIn,
    PortfolioOut,
    PortfolioPage,
    PortfolioPlants,
    Resync,
    ResyncIn,
    RevertIn,
    RevertResult,
    day_in_range,
    iso_day,
)
from powerfactor.runtime import gc_policy, tracing

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()
app = create_resolver(logger)

PlantId = Annotated[
    int,
    Path(ge=PLANT_ID_MIN, le=PLANT_ID_MAX, description="The plant's integer id."),
    BeforeValidator(strict_int),
]


def _searchable(text: str | None) -> str | None:
    if text is not None:
        plants.search_key(text)  # ValueError -> 422 validation_error at query.q
    return text


SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=plants.SEARCH_MAX_LENGTH,
        description=(
            "Only plants whose name contains this text, ignoring case, width and repeated spaces "
            "(as names are compared). A page may hold fewer than `limit` plants, even none, and "
            "still have a `next_cursor`: only a null one ends the search."
        ),
    ),
    AfterValidator(_searchable),
]


@app.post(
    BASE, summary="Create a plant", responses=documented(201, Plant, "The new plant", (400, 409, 413, 415))
)
def create_plant(body: PlantCreate) -> Response[Plant]:
    plant = plants.create_plant(app.principal, body.name, **body.model_dump(include=set(METADATA_FIELDS)))
    metrics.add_metric(name="PlantsCreated", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=plant,
        headers={"Location": f"{BASE}/plant/{plant.id}"},
    )


@app.get(
    BASE,
    summary="List plants, in id order, a page at a time; `q` searches their names; `portfolio` filters",
    responses=documented(200, PlantPage, "A page", (400, 404)),
)
def list_plants(
    limit: Annotated[
        int, Query(ge=1, le=plants.MAX_PAGE_SIZE, description="Page size."), BeforeValidator(strict_int)
    ] = plants.DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    q: SearchText = None,
    portfolio: Annotated[
        str | None,
        Query(pattern=r"^[0-9a-z]{12}$", description="Only the plants of this portfolio of the account."),
    ] = None,
) -> PlantPage:
    if q is not None:
        return plants.search_plants(app.principal, q, limit=limit, cursor=cursor, portfolio=portfolio)
    return plants.list_plants(app.principal, limit=limit, cursor=cursor, portfolio=portfolio)


@app.get(
    f"{BASE}/plant/<plant_id>", summary="Get a plant", responses=documented(200, Plant, "The plant", (404,))
)
def get_plant(plant_id: PlantId) -> Plant:
    return plants.get_plant(app.principal, plant_id)


@app.put(
    f"{BASE}/plant/<plant_id>",
    summary="Rename a plant",
    responses=documented(200, Plant, "The renamed plant", (400, 404, 409, 413, 415)),
)
def rename_plant(plant_id: PlantId, body: PlantIn) -> Plant:
    return plants.rename_plant(app.principal, plant_id, body.name)


@app.patch(
    f"{BASE}/plant/<plant_id>",
    summary="Change some of a plant's fields (JSON merge patch: null clears a field)",
    description=(
        "A JSON merge patch (RFC 7386), sent as `application/merge-patch+json` or "
        "`application/json`: only the fields sent change, `null` clears an optional field; "
        "`name` cannot be null."
    ),
    responses=documented(200, Plant, "The changed plant", (400, 404, 409, 413, 415)),
)
def patch_plant(plant_id: PlantId, body: PlantPatch) -> Plant:
    return plants.patch_plant(app.principal, plant_id, body.changes())


@app.delete(
    f"{BASE}/plant/<plant_id>",
    summary="Delete a plant and, asynchronously, all of its data",
    responses=documented(204, None, "Deleted", (404,)),
)
def delete_plant(plant_id: PlantId):  # noqa: ANN201 - no return type: a 204 has no body to document
    plants.delete_plant(app.principal, plant_id)
    return Response(status_code=204, body="")


@app.get(
    f"{BASE}/key",
    summary="The API key of this request: its id, name, scopes, expiry, tier and today's usage",
    description=(
        "What the authorizer read for the key this request was sent with, without another lookup: "
        "`scopes` tell a client whether the key may write; `usage` is today's count against the "
        "tier's daily quota, this request included."
    ),
    responses=documented(200, CallerKey, "The key (never its secret)"),
)
def get_caller_key() -> CallerKey:
    usage = app.usage.view() if app.usage is not None else None
    return CallerKey(**apikeys.caller_key(app.principal), usage=usage)


KeyId = Annotated[str, Path(min_length=1, max_length=40, description="The key's public id.")]


@app.get(
    f"{BASE}/keys",
    summary="The account's keys, in id order (admin scope)",
    responses=documented(200, KeyPage, "A page of keys (never their secrets)", (400,)),
)
def list_keys(
    limit: Annotated[
        int, Query(ge=1, le=apikeys.MAX_PAGE_SIZE, description="Page size."), BeforeValidator(strict_int)
    ] = apikeys.DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description=CURSOR_HELP)] = None,
) -> KeyPage:
    keys, next_cursor = apikeys.account_keys(app.principal, limit, cursor)
    return KeyPage(items=[KeyInfo(**apikeys.key_view(key)) for key in keys], next_cursor=next_cursor)


@app.post(
    f"{BASE}/keys",
    summary="Create a key of the account, no wider than this one (admin scope); shown once",
    responses=documented(
        201, NewKey, "The new key, with the key itself (shown this once)", (400, 404, 413, 415)
    ),
)
def create_key(body: KeyCreate) -> Response[NewKey]:
    app.principal.require_scope("admin")  # before any plant is looked at
    plant_ids = plants.reachable(app.principal, body.plants) if body.plants is not None else None
    folios = (
        portfolios.portfolios_exist(app.principal, body.portfolios) if body.portfolios is not None else None
    )
    token, key = apikeys.create_account_key(
        app.principal, body.name, body.scopes, plant_ids, body.expires_at, portfolios=folios, tier=body.tier
    )
    apikeys.enroll(key, _rest_api())  # on AWS: the key's API key in its tier's usage plan
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=NewKey(key=token, **apikeys.key_view(key)),
        headers={"Location": f"{BASE}/keys/{key.key_id}"},
    )


@app.delete(
    f"{BASE}/keys/<key_id>",
    summary="Revoke a key of the account (admin scope): refused from now on",
    description=(
        "The key is marked revoked, the stage's authorizer cache is flushed (so it is refused at "
        "once, not when the cache forgets it) and, on AWS, its API key leaves its usage plan."
    ),
    responses=documented(200, KeyInfo, "The revoked key", (404,)),
)
def revoke_key(key_id: KeyId) -> KeyInfo:
    key = apikeys.revoke_account_key(app.principal, key_id)
    apikeys.withdraw(key, _rest_api())  # out of its usage plan, and the authorizer cache flushed
    return KeyInfo(**apikeys.key_view(key))


def _rest_api() -> RestApi:
    """The REST API and stage this request came through (its event says)."""
    request = app.current_event.request_context
    return RestApi(request.api_id, request.stage)


PortfolioId = Annotated[str, Path(min_length=1, max_length=40, description="The portfolio's id.")]
PageLimit = Annotated[
    int, Query(ge=1, le=portfolios.MAX_PAGE_SIZE, description="Page size."), BeforeValidator(strict_int)
]
PageCursor = Annotated[str | None, Query(max_length=200, description=CURSOR_HELP)]


@app.get(
    f"{BASE}/portfolios",
    summary="The account's portfolios, in id order (read scope)",
    responses=documented(200, PortfolioPage, "A page of portfolios", (400,)),
)
def list_portfolios(
    limit: PageLimit = portfolios.DEFAULT_PAGE_SIZE, cursor: PageCursor = None
) -> PortfolioPage:
    items, next_cursor = portfolios.list_portfolios(app.principal, limit, cursor)
    return PortfolioPage(items=[portfolios.view(p) for p in items], next_cursor=next_cursor)


@app.post(
    f"{BASE}/portfolios",
    summary="Create a portfolio of the account, with some of its plants (admin scope)",
    responses=documented(201, PortfolioOut, "The new portfolio", (400, 404, 409, 413, 415)),
)
def create_portfolio(body: PortfolioIn) -> Response[PortfolioOut]:
    made = portfolios.create_portfolio(app.principal, body.name, body.plants)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=portfolios.view(made),
        headers={"Location": f"{BASE}/portfolios/{made.portfolio_id}"},
    )


@app.get(
    f"{BASE}/portfolios/<portfolio_id>",
    summary="A portfolio (its plants: GET /api/solar-plant/?portfolio=<id>)",
    responses=documented(200, PortfolioOut, "The portfolio", (404,)),
)
def get_portfolio(portfolio_id: PortfolioId) -> PortfolioOut:
    return portfolios.view(portfolios.get_portfolio(app.principal, portfolio_id))


@app.put(
    f"{BASE}/portfolios/<portfolio_id>",
    summary="Rename a portfolio (admin scope)",
    responses=documented(200, PortfolioOut, "The renamed portfolio", (400, 404, 413, 415)),
)
def rename_portfolio(portfolio_id: PortfolioId, body: PortfolioIn) -> PortfolioOut:
    return portfolios.view(portfolios.rename_portfolio(app.principal, portfolio_id, body.name))


@app.delete(
    f"{BASE}/portfolios/<portfolio_id>",
    summary="Delete a portfolio; its plants stay (admin scope)",
    responses=documented(204, None, "Deleted", (404,)),
)
def delete_portfolio(portfolio_id: PortfolioId):  # noqa: ANN201 - a 204 has no body to document
    portfolios.delete_portfolio(app.principal, portfolio_id)
    return Response(status_code=204, body="")


@app.post(
    f"{BASE}/portfolios/<portfolio_id>/plants",
    summary="Add plants of the account to a portfolio (admin scope; at most 40 at once)",
    responses=documented(200, PortfolioOut, "The portfolio", (400, 404, 409, 413, 415)),
)
def add_portfolio_plants(portfolio_id: PortfolioId, body: PortfolioPlants) -> PortfolioOut:
    return portfolios.view(portfolios.add_plants(app.principal, portfolio_id, body.plants))


@app.delete(
    f"{BASE}/portfolios/<portfolio_id>/plants/<plant_id>",
    summary="Take a plant out of a portfolio (admin scope)",
    responses=documented(204, None, "Removed (or it was not in it)", (404,)),
)
def remove_portfolio_plant(portfolio_id: PortfolioId, plant_id: PlantId):  # noqa: ANN201 - a 204
    portfolios.remove_plant(app.principal, portfolio_id, plant_id)
    return Response(status_code=204, body="")


GrantId = Annotated[str, Path(min_length=1, max_length=40, description="The grant's id.")]


@app.get(
    f"{BASE}/grants",
    summary="Grants the account gives (`given`, default) or holds (`received`), in id order (admin scope)",
    responses=documented(200, GrantPage, "A page of grants", (400,)),
)
def list_grants(
    direction: Annotated[
        Literal["given", "received"], Query(description="`given`: to other accounts; `received`: from them.")
    ] = "given",
    limit: PageLimit = sharing.DEFAULT_PAGE_SIZE,
    cursor: PageCursor = None,
) -> GrantPage:
    read = sharing.given if direction == "given" else sharing.received
    items, next_cursor = read(app.principal, limit, cursor)
    return GrantPage(items=[sharing.view(g) for g in items], next_cursor=next_cursor)


@app.post(
    f"{BASE}/grants",
    summary="Share a plant or a portfolio of the account with another account (admin scope)",
    responses=documented(201, GrantOut, "The grant", (400, 404, 409, 413, 415)),
)
def create_grant(body: GrantIn) -> Response[GrantOut]:
    made = sharing.grant(app.principal, body.account, body.access, body.plant, body.portfolio)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=sharing.view(made),
        headers={"Location": f"{BASE}/grants/{made.grant_id}"},
    )


@app.delete(
    f"{BASE}/grants/<grant_id>",
    summary="Revoke a grant the account gave (admin scope); the authorizer's cache may pass it a while",
    responses=documented(200, GrantOut, "The revoked grant", (404,)),
)
def revoke_grant(grant_id: GrantId) -> GrantOut:
    return sharing.view(sharing.revoke(app.principal, grant_id))


AuditDay = Annotated[
    date | None,
    Query(description="A whole UTC day, `YYYY-MM-DD`; `from` and `to` are both inclusive."),
    BeforeValidator(iso_day),
    AfterValidator(day_in_range),
]


@app.get(
    f"{BASE}/audit",
    summary="The account's audit log: every write to its plants and keys, newest first (admin scope)",
    description=(
        "Entries of the UTC days `from`..`to` (default: the retention period up to today). A key "
        "restricted to some plants cannot read it (403)."
    ),
    responses=documented(200, AuditPage, "A page of entries", (400, 403)),
)
def list_audit(
    start: Annotated[
        date | None,
        Query(alias="from", description="A whole UTC day, `YYYY-MM-DD`: the first day (inclusive)."),
        BeforeValidator(iso_day),
        AfterValidator(day_in_range),
    ] = None,
    to: AuditDay = None,
    limit: Annotated[
        int, Query(ge=1, le=audit.MAX_PAGE_SIZE, description="Page size."), BeforeValidator(strict_int)
    ] = audit.DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=300, description=CURSOR_HELP)] = None,
) -> AuditPage:
    entries, next_cursor = audit.page(app.principal, start, to, limit, cursor)
    return AuditPage(items=[AuditEntryOut(**audit.view(e)) for e in entries], next_cursor=next_cursor)


AlertLimit = Annotated[
    int, Query(ge=1, le=alerts.MAX_PAGE_SIZE, description="Page size."), BeforeValidator(strict_int)
]
Cursor = Annotated[str | None, Query(max_length=300, description=CURSOR_HELP)]


@app.get(
    f"{BASE}/plant/<plant_id>/alerts",
    summary="A plant's alerts, newest first (resolved ones are kept 90 days)",
    responses=documented(200, AlertPage, "A page of alerts", (400, 404)),
)
def list_plant_alerts(
    plant_id: PlantId,
    state: Annotated[
        Literal["open", "resolved"] | None, Query(description="Only alerts in this state.")
    ] = None,
    limit: AlertLimit = alerts.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> AlertPage:
    return alerts.plant_alerts(app.principal, plant_id, limit, cursor, state)


@app.get(
    f"{BASE}/alerts",
    summary="Open alerts of every plant, oldest first",
    responses=documented(200, AlertPage, "A page of open alerts", (400,)),
)
def list_open_alerts(
    state: Annotated[
        Literal["open"], Query(description="`open`: the only state listed across plants.")
    ] = "open",
    limit: AlertLimit = alerts.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> AlertPage:
    return alerts.open_alerts(app.principal, limit, cursor)


@app.post(
    f"{BASE}/plant/<plant_id>/sync",
    summary="Re-sync a range: fetch it again; stored hours it omits are kept unless remove_missing",
    responses=documented(
        202,
        Resync,
        "Queued; follow it in the plant's `sync.resync`, then `sync.last_resync`",
        (400, 404, 409, 413, 415),
    ),
)
def resync_plant(plant_id: PlantId, body: ResyncIn) -> Response[Resync]:
    from powerfactor.sync import resync  # the monitoring client's imports only where a re-sync is asked for

    queued = resync.request(
        app.principal,
        plant_id,
        body.from_,
        body.to,
        remove_missing=body.remove_missing,
        dry_run=body.dry_run,
        key_id=app.principal.key_id,
        reason=body.reason,
    )
    metrics.add_metric(name="ResyncsQueued", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=queued,
        headers={"Location": queued.progress or f"{BASE}/plant/{plant_id}"},
    )


ResyncId = Annotated[
    str,
    Path(
        pattern=r"^\d{8}-\d{8}-\d{8}T\d{12}Z$",
        description="The re-sync's `id` (the plant's `sync.resync` or `sync.last_resync`).",
    ),
]


@app.post(
    f"{BASE}/plant/<plant_id>/resyncs/<resync_id>/revert",
    summary="Revert a re-sync: every hour it changed, removed or restored gets its value from before",
    description=(
        "Refused (409) if an hour it changed has changed again since (`revision_conflict`, the hours "
        "in `details`; nothing is written), if it was reverted already (`already_reverted`), is still "
        "queued or running (`resync_pending`), or the plant is syncing (`plant_busy`, retry after "
        "`Retry-After`). Each hour put back is a revision (cause `revert`)."
    ),
    responses=documented(200, RevertResult, "Reverted", (400, 404, 409, 413, 415)),
)
def revert_resync(plant_id: PlantId, resync_id: ResyncId, body: RevertIn | None = None) -> RevertResult:
    from powerfactor.sync import revert  # the sync's imports only where a revert is asked for

    return revert.revert(app.principal, plant_id, resync_id, body.reason if body else None)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc_policy.imports_done()
