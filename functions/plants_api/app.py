"""Plants API handler: routes parse the request and call powerfactor.plants."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from powerfactor import plants
from powerfactor.http import ERROR_RESPONSES, create_resolver
from powerfactor.models import ErrorResponse, Plant, PlantIn, PlantPage

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = create_resolver()

BASE = "/api/solar-plant"
PlantId = Annotated[int, Path(ge=1, le=2**53, description="The plant's integer id.")]
NOT_FOUND = {404: {"description": "No such plant", "content": {"application/json": {"model": ErrorResponse}}}}
CONFLICT = {409: {"description": "Name taken", "content": {"application/json": {"model": ErrorResponse}}}}


@app.post(BASE, summary="Create a plant", responses={**ERROR_RESPONSES, **CONFLICT})
def create_plant(body: PlantIn) -> Response[Plant]:
    plant = plants.create_plant(body.name)
    metrics.add_metric(name="PlantsCreated", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=plant,
        headers={"Location": f"{BASE}/plant/{plant.id}"},
    )


@app.get(BASE, summary="List plants, in id order, a page at a time", responses=ERROR_RESPONSES)
def list_plants(
    limit: Annotated[
        int, Query(ge=1, le=plants.MAX_PAGE_SIZE, description="Page size.")
    ] = plants.DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
) -> PlantPage:
    return plants.list_plants(limit=limit, cursor=cursor)


@app.get(f"{BASE}/plant/<plant_id>", summary="Get a plant", responses={**ERROR_RESPONSES, **NOT_FOUND})
def get_plant(plant_id: PlantId) -> Plant:
    return plants.get_plant(plant_id)


@app.put(
    f"{BASE}/plant/<plant_id>",
    summary="Rename a plant",
    responses={**ERROR_RESPONSES, **NOT_FOUND, **CONFLICT},
)
def rename_plant(plant_id: PlantId, body: PlantIn) -> Plant:
    return plants.rename_plant(plant_id, body.name)


@app.delete(
    f"{BASE}/plant/<plant_id>",
    summary="Delete a plant and, asynchronously, all of its data",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def delete_plant(plant_id: PlantId) -> Response[None]:
    plants.delete_plant(plant_id)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
