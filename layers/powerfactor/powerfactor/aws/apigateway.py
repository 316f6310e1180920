"""API Gateway's management API, for what keys need of it: flushing a stage's authorizer cache,
and each key's API key in its tier's usage plan.

**Usage plans.** The template has one usage plan per tier (`<stack>-<tier>`) on the API's stage,
with the tier's rate and burst; the API takes each request's API key from the authorizer
(`ApiKeySourceType: AUTHORIZER`, `usageIdentifierKey`), and every method requires one, so a key's
requests are throttled by its tier's plan. Each PowerFactor key therefore has an API key whose
value is `access.keys.usage_identifier` (named the same) in its tier's plan: `add_key` creates it
when the key is created (over the API, or `python -m manage keys create` on a deployed stack);
`remove_key` takes it out of the plan when the key is revoked (a key in no plan is refused by
the gateway), and deletes it when the caller may (operators; the API function may not: it only
has rights on its own plans' keys, template.yaml `PlantsApiGatewayPolicy`).

The function finds the plans by listing them (GET /usageplans; a plan id cannot be passed in
its environment: the plan depends on the stage, which depends on the function) and keeps them
for the life of its environment.

**Locally** (`APIGATEWAY_ENDPOINT` set: the local stack's gateway) there are no usage plans: the
local gateway keys its per-key buckets by the authorizer's answer and takes the tier from its
context; only the cache flush is sent there.

Calls wait at most 1 s to connect and 3 s for an answer, twice. Failures are logged and
reported (False), never raised: the key's change is stored already, and what did not reach the
gateway is bounded (a cache forgets within AuthorizerCacheTtl; `manage keys sync-gateway` puts
plans right).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from powerfactor.runtime.settings import Settings, get_settings

logger = logging.getLogger(__name__)

_clients: dict[Settings, Any] = {}
_plans: dict[tuple[str, str], dict[str, str]] = {}  # (api, stage) -> tier -> plan id


@dataclass(frozen=True)
class RestApi:
    """A REST API's id and one of its stages."""

    api_id: str
    stage: str


def _client() -> Any:
    settings = get_settings()
    if settings not in _clients:
        import boto3  # here: only key changes call API Gateway
        from botocore.config import Config

        config = Config(
            connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}
        )
        _clients[settings] = boto3.client(
            "apigateway",
            endpoint_url=settings.apigateway_endpoint,
            region_name=settings.region,
            config=config,
        )
    return _clients[settings]


def manages_plans() -> bool:
    """Whether keys have API keys in usage plans: on AWS, not with the local stack's gateway."""
    return get_settings().apigateway_endpoint is None


def flush_authorizer_cache(api: RestApi) -> bool:
    """Make the stage ask the authorizer again for every key (FlushStageAuthorizersCache)."""
    try:
        _client().flush_stage_authorizers_cache(restApiId=api.api_id, stageName=api.stage)
    except Exception as error:  # botocore's errors: no right to it, throttled, no answer
        logger.warning("authorizer cache not flushed", extra={"api": api.api_id, "error": str(error)})
        return False
    return True


def plans(api: RestApi, refresh: bool = False) -> dict[str, str]:
    """The usage plans on this stage, by tier (a plan named `<anything>-<tier>`)."""
    if refresh or (api.api_id, api.stage) not in _plans:
        found: dict[str, str] = {}
        for page in _client().get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                stages = {(s.get("apiId"), s.get("stage")) for s in plan.get("apiStages", [])}
                if (api.api_id, api.stage) in stages:
                    found[str(plan["name"]).rsplit("-", 1)[-1]] = plan["id"]
        _plans[(api.api_id, api.stage)] = found
    return _plans[(api.api_id, api.stage)]


def _plan(api: RestApi, tier: str) -> str:
    plan = plans(api).get(tier) or plans(api, refresh=True).get(tier)
    if plan is None:
        raise LookupError(f"no usage plan of tier {tier} on {api.api_id}/{api.stage}")
    return plan


def _named(client: Any, value: str) -> list[str]:
    """The ids of the API keys named `value` (one, or none)."""
    return [
        str(item["id"])
        for page in client.get_paginator("get_api_keys").paginate(nameQuery=value)
        for item in page.get("items", [])
        if item.get("name") == value
    ]


def add_key(api: RestApi, value: str, tier: str) -> bool:
    """Create the API key `value` (named so) and put it in the tier's usage plan; safe to repeat."""
    try:
        client = _client()
        plan = _plan(api, tier)
        try:
            key_id = client.create_api_key(name=value, value=value, enabled=True)["id"]
        except client.exceptions.ConflictException:  # created before, by an interrupted call
            key_id = _named(client, value)[0]
        with contextlib.suppress(client.exceptions.ConflictException):  # in the plan already
            client.create_usage_plan_key(usagePlanId=plan, keyId=key_id, keyType="API_KEY")
    except Exception as error:
        logger.warning("API key not added to its usage plan", extra={"key": value, "error": str(error)})
        return False
    return True


def remove_key(api: RestApi, value: str, delete: bool = False) -> bool:
    """Take the API key `value` out of every usage plan of the stage (and delete it, if `delete`)."""
    try:
        client = _client()
        key_ids = set()
        for plan in plans(api, refresh=True).values():
            for item in client.get_usage_plan_keys(usagePlanId=plan, nameQuery=value).get("items", []):
                if item.get("name") == value:
                    client.delete_usage_plan_key(usagePlanId=plan, keyId=item["id"])
                    key_ids.add(item["id"])
        if delete:
            for key_id in key_ids or set(_named(client, value)):
                client.delete_api_key(apiKey=key_id)
    except Exception as error:
        logger.warning("API key not removed from its usage plan", extra={"key": value, "error": str(error)})
        return False
    return True
