"""Schemathesis, stateful: chains of create -> get -> rename -> delete against the local stack.

The stack runs in this process on free ports (as in test_throttling.py), with the stage limits
raised so no 429 cuts a chain short, and each scenario starts from an empty plants table. The
committed openapi.json is loaded as it is; the OpenAPI links that chain the plant operations
(each passes the created plant's `id` as `plant_id`) are added to the loaded schema here, in
memory. No response may be a 5xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from devstack.stack import Stack, dynamodb_client
from devstack.tables import empty_table
from devstack.template import ROOT
from tests.support import in_process_stack

pytestmark = pytest.mark.e2e

SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.json")
DEV_KEY = "Bearer <the stack's development key>"  # cases are generated before the key is known

COLLECTION, PLANT = "/api/solar-plant", "/api/solar-plant/plant/{plant_id}"
PATHS = SCHEMA.raw_schema["paths"]
OPERATION_IDS = {
    "create": PATHS[COLLECTION]["post"]["operationId"],
    "get": PATHS[PLANT]["get"]["operationId"],
    "rename": PATHS[PLANT]["put"]["operationId"],
    "delete": PATHS[PLANT]["delete"]["operationId"],
}
FROM_BODY = {"plant_id": "$response.body#/id"}  # the plant the previous step created or returned
FROM_PATH = {"plant_id": "$request.path.plant_id"}  # the plant the previous step deleted


def _link(target: str, parameters: dict[str, str]) -> dict:
    return {"operationId": OPERATION_IDS[target], "parameters": parameters}


def _add_links(source: tuple[str, str], status: str, links: dict[str, dict]) -> None:
    path, method = source
    PATHS[path][method]["responses"][status].setdefault("links", {}).update(links)


# create -> get, rename, delete; get -> rename, delete; rename -> get, delete; delete -> get (a 404)
_add_links((COLLECTION, "post"), "201", {
    "GetCreatedPlant": _link("get", FROM_BODY),
    "RenameCreatedPlant": _link("rename", FROM_BODY),
    "DeleteCreatedPlant": _link("delete", FROM_BODY),
})  # fmt: skip
_add_links((PLANT, "get"), "200", {
    "RenameFetchedPlant": _link("rename", FROM_BODY),
    "DeleteFetchedPlant": _link("delete", FROM_BODY),
})  # fmt: skip
_add_links((PLANT, "put"), "200", {
    "GetRenamedPlant": _link("get", FROM_BODY),
    "DeleteRenamedPlant": _link("delete", FROM_BODY),
})  # fmt: skip
_add_links((PLANT, "delete"), "204", {"GetDeletedPlant": _link("get", FROM_PATH)})


@SCHEMA.auth()
class DevKeyAuth:
    """A key on every case, but those where schemathesis leaves it out on purpose (and expects a
    401); `before_call` puts the running stack's key in its place."""

    def get(self, case, ctx) -> str:
        return DEV_KEY

    def set(self, case, data: str, ctx) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with in_process_stack(
        tmp_path_factory.mktemp("stateful"), ThrottlingRateLimit="10000", ThrottlingBurstLimit="5000"
    ) as running:
        yield running


def test_no_chain_of_plant_operations_gets_a_5xx(stack) -> None:
    """12 scenarios of up to 8 steps: schemathesis starts from an operation such as the create and
    follows the links (get, rename, delete, get after delete) or calls any other operation, with
    valid and invalid data. Every response passes `not_a_server_error` and the stateful checks
    (a deleted plant is gone, a created one is there)."""
    added = sum(
        len(r.get("links", {}))
        for ops in PATHS.values()
        for op in ops.values()
        for r in op["responses"].values()
    )
    assert added == 8 and SCHEMA.statistic.transitions.total >= added  # the links above are the schema's
    statuses: Counter[tuple[str, int]] = Counter()
    key = f"Bearer {stack.dev_key[0]}"

    database = dynamodb_client(stack.dynamodb.endpoint)

    class PlantStateMachine(SCHEMA.as_state_machine()):
        def setup(self) -> None:
            # Every scenario starts from no plants and the id counter at zero: a response's status
            # then depends only on the steps hypothesis drew, never on what earlier scenarios left
            # (a GET of id 3 that found a plant once and 404 another time makes hypothesis draw
            # from a bundle that is empty on replay: FlakyStrategyDefinition).
            empty_table(database, "PlantsTable")

        def before_call(self, case) -> None:
            if (case.headers or {}).get("Authorization") == DEV_KEY:
                case.headers["Authorization"] = key

        def get_call_kwargs(self, case) -> dict:
            return {"base_url": stack.api_url, "timeout": 30}

        def after_call(self, response, case) -> None:
            super().after_call(response, case)
            statuses[(f"{case.method} {case.path}", response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(
                response,
                checks=[
                    checks.not_a_server_error,
                    checks.use_after_free,
                    checks.ensure_resource_availability,
                ],
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    PlantStateMachine.run(
        settings=settings(
            max_examples=20,
            derandomize=True,  # the same scenarios every run: their coverage is checked below
            stateful_step_count=8,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    assert not [step for step in statuses if step[1] >= 500], statuses
    # the chains ran: plants were created, then found, renamed or deleted through the links (each of
    # the three came 3 to 21 times in trial runs; only their sum is required, leaving chance no room)
    assert statuses[(f"POST {COLLECTION}", 201)] >= 1, statuses
    assert sum(statuses[(f"{m} {PLANT}", s)] for m, s in (("GET", 200), ("PUT", 200), ("DELETE", 204))), (
        statuses
    )
