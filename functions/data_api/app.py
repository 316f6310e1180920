"""Data and reports API handler: routes parse the request and call powerfactor.datapoints.reports
(and .history: a plant's revisions, and /data with `fields=provenance`)."""

from __future__ import annotations

import gc

gc.disable()  # no collections while the imports below run (powerfactor/runtime/gc_policy.py)

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, BeforeValidator

from powerfactor.api.resolver import create_resolver, documented, negotiate
from powerfactor.api.routes import BASE, CURSOR_HELP, PLANT_ID_MAX, PLANT_ID_MIN, strict_int
from powerfactor.datapoints import history, reports
from powerfactor.datapoints.render import DataRows, ReportRows
from powerfactor.datapoints.schemas import DataPage, Granularity, ProvenanceDataPage, ReportPage, RevisionPage
from powerfactor.plants.schemas import DAY_MAX, DAY_MIN, day_in_range, iso_day
from powerfactor.runtime import gc_policy, tracing

logger = Logger()
tracer = tracing.tracer()  # the X-Ray SDK only with EnableXRaySdk (powerfactor/runtime/tracing.py)
metrics = Metrics()
app = create_resolver(logger)

DAY_HELP = (
    f"A whole day of `tz`, `YYYY-MM-DD`, from {DAY_MIN} to {DAY_MAX}; `from` and `to` are both inclusive."
)
TZ_HELP = (
    "Time zone of the days, buckets and timestamps: `UTC`, `local` (the plant's) or an IANA name "
    "(`Europe/Berlin`). Default: the plant's time zone if it has one, else UTC."
)

PlantId = Annotated[
    int,
    Query(alias="plant-id", ge=PLANT_ID_MIN, le=PLANT_ID_MAX, description="The plant's id."),
    BeforeValidator(strict_int),
]
Day = Annotated[date, Query(description=DAY_HELP), BeforeValidator(iso_day), AfterValidator(day_in_range)]
From = Annotated[
    date, Query(alias="from", description=DAY_HELP), BeforeValidator(iso_day), AfterValidator(day_in_range)
]
Limit = Annotated[
    int, Query(ge=1, le=reports.MAX_LIMIT, description="Items per page."), BeforeValidator(strict_int)
]
Cursor = Annotated[str | None, Query(max_length=200, description=CURSOR_HELP)]
Tz = Annotated[str | None, Query(max_length=64, description=TZ_HELP), AfterValidator(reports.check_tz)]
Format = Annotated[
    Literal["json", "csv"] | None, Query(description="`csv` for spreadsheets (or send `Accept: text/csv`).")
]


Fields = Annotated[
    Literal["provenance"] | None,
    Query(
        description=(
            "`provenance`: each hour also gets `provenance`, when it was first stored, last changed "
            "and how many revisions it has (CSV: three columns more)."
        )
    ),
]


_MEDIA = (content_types.APPLICATION_JSON, "text/csv")  # JSON unless `Accept` prefers CSV


def _reply(page: DataRows | ReportRows | history.ProvenanceRows, fmt: str | None) -> Response:
    """The page as CSV or JSON, written from its rows (powerfactor/datapoints/render.py: the text of its
    documented model, without building a model per row)."""
    accept = app.current_event.headers.get("accept")
    if fmt == "csv" or (fmt is None and negotiate(accept, _MEDIA) == "text/csv"):
        headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
        return Response(200, "text/csv; charset=utf-8", page.csv(), headers)
    return Response(200, content_types.APPLICATION_JSON, page.json())


@app.get(
    f"{BASE}/data",
    summary="Stored hourly datapoints of a plant",
    responses=documented(
        200,
        DataPage | ProvenanceDataPage,
        "One page of hours (`fields=provenance`: each with its provenance)",
        (400, 404),
        csv=True,
    ),
)
def get_data(  # noqa: ANN201 - a return type would make Powertools validate CSV bodies as JSON
    plant_id: PlantId,
    start: From,
    to: Day,
    limit: Limit = reports.DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: Format = None,
    tz: Tz = None,
    fields: Fields = None,
):
    if fields == "provenance":
        return _reply(history.read_data(app.principal, plant_id, start, to, limit, cursor, tz), format)
    return _reply(reports.read_data(app.principal, plant_id, start, to, limit, cursor, tz), format)


@app.get(
    f"{BASE}/report",
    summary="Energy and irradiation, expected and observed, and yield KPIs by hour, day or month",
    responses=documented(
        200, ReportPage, "One page of buckets; totals of the whole range", (400, 404), csv=True
    ),
)
def get_report(  # noqa: ANN201 - a return type would make Powertools validate CSV bodies as JSON
    plant_id: PlantId,
    start: From,
    to: Day,
    granularity: Annotated[Granularity, Query(description="Bucket size.")] = "day",
    limit: Limit = reports.DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: Format = None,
    tz: Tz = None,
):
    page = reports.read_report(app.principal, plant_id, start, to, granularity, limit, cursor, tz)
    return _reply(page, format)


UTC_DAY_HELP = "A whole UTC day, `YYYY-MM-DD`, of the hours changed; `from` and `to` are both inclusive."
UtcFrom = Annotated[
    date,
    Query(alias="from", description=UTC_DAY_HELP),
    BeforeValidator(iso_day),
    AfterValidator(day_in_range),
]
UtcTo = Annotated[
    date, Query(description=UTC_DAY_HELP), BeforeValidator(iso_day), AfterValidator(day_in_range)
]
PathPlantId = Annotated[
    int,
    Path(ge=PLANT_ID_MIN, le=PLANT_ID_MAX, description="The plant's integer id."),
    BeforeValidator(strict_int),
]


@app.get(
    f"{BASE}/plant/<plant_id>/revisions",
    summary="Revisions of a plant's stored hours: each change, removal or restoration, old and new values",
    responses=documented(200, RevisionPage, "One page of revisions", (400, 404)),
)
def list_revisions(
    plant_id: PathPlantId,
    start: UtcFrom,
    to: UtcTo,
    limit: Limit = history.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> RevisionPage:
    return history.revision_page(app.principal, plant_id, start, to, limit, cursor)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc_policy.imports_done()
