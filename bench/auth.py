"""7. Access control: what the authorizer adds to a request, beside what the API handlers cost.

API Gateway calls the authorizer once per key and AuthorizerCacheTtl (300 s by default); every
other request of that key is a cache hit inside API Gateway. So a request pays either a cache
hit or one authorizer invocation (a consistent GetItem and the policy), measured here in-process
against DynamoDB Local, as the handlers it sits in front of are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import Services, median_p95, ms, new_plant, row, table

RUNS = 300


def _samples(call: Callable[[], Any], runs: int = RUNS) -> list[float]:
    call()  # warm: connections open, code loaded
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def run(services: Services) -> None:
    from devstack.apigateway import build_event, match_route
    from devstack.authorizer import TokenAuthorizer, method_arn
    from devstack.lambdas import FakeContext, load_handler
    from devstack.template import load_template
    from powerfactor.access import keys as apikeys
    from powerfactor.plants import logic as plants
    from powerfactor.runtime.settings import reset_settings

    template = load_template()
    functions = template.functions()
    os.environ.update(services.child_env("PlantsApiFunction"))
    os.environ.update(services.child_env("AuthorizerFunction"))
    reset_settings()
    token, key = apikeys.create_key("bench", ["read"])
    plant = new_plant(plants, "bench auth plant")
    context = FakeContext("bench", 256, 10)

    authorizer = load_handler(functions["AuthorizerFunction"], template.layer_dirs())
    path = f"/api/solar-plant/plant/{plant.id}"
    arn = method_arn("Prod", "GET", path)
    token_event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}
    miss = _samples(lambda: authorizer(token_event, context))

    gateway = TokenAuthorizer(
        template.authorizer(template.parameter_defaults()), lambda _, e: authorizer(e, context)
    )
    headers = [("Authorization", f"Bearer {token}")]
    hit = _samples(lambda: gateway.authorize(headers, arn))

    handlers = {}
    for name, route_path in (("PlantsApiFunction", path), ("PlantsApiFunction", "/api/solar-plant?limit=50")):
        route, params, _ = match_route(template.api_routes(), "GET", route_path.split("?")[0])
        event = build_event(route, "GET", route_path, params, [], b"", "Prod", authorizer={
            "principalId": key.key_id, **apikeys.authorizer_context(key)})  # fmt: skip
        handler = load_handler(functions[name], template.layer_dirs())
        handlers[f"GET {route_path.split('?')[0].replace(str(plant.id), '{id}')}"] = _samples(
            lambda h=handler, e=event: h(e, FakeContext("bench", 256, 10))  # each call its own budget
        )

    table(
        f"Access control: what a request pays for its key, in-process against DynamoDB Local ({RUNS} runs)",
        "step", "median", "p95", "when",
    )  # fmt: skip
    m, p = median_p95(miss)
    row("authorizer invocation (cache miss)", ms(m), ms(p), "first request of a key, then once per TTL")
    hm, hp = median_p95(hit)
    row("cached policy (local gateway's cache)", ms(hm), ms(hp), "every other request of the key")
    for label, samples in handlers.items():
        sm, sp = median_p95(samples)
        row(f"for comparison: {label} handler", ms(sm), ms(sp), f"a miss adds {m / sm * 100:.0f} % of it")
