"""A key's API key in its tier's usage plan (powerfactor/aws/apigateway.py), against moto's API
Gateway: found by the plans on the stage, safe to repeat, taken out (and deleted) on revocation."""

from __future__ import annotations

import boto3
import pytest

from powerfactor.aws import apigateway
from powerfactor.aws.apigateway import RestApi

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def stage() -> tuple[RestApi, dict[str, str]]:
    client = boto3.client("apigateway", region_name="us-east-1")
    api_id = client.create_rest_api(name="powerfactor")["id"]
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    client.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=api_id, stageName="Prod")
    plans = {
        tier: client.create_usage_plan(name=f"stack-{tier}", apiStages=[{"apiId": api_id, "stage": "Prod"}])[
            "id"
        ]
        for tier in ("standard", "large")
    }
    client.create_usage_plan(name="another-standard", apiStages=[])  # another stage's: not ours
    apigateway._plans.clear()
    return RestApi(api_id, "Prod"), plans


def _members(plan: str) -> list[str]:
    client = boto3.client("apigateway", region_name="us-east-1")
    return [item["name"] for item in client.get_usage_plan_keys(usagePlanId=plan)["items"]]


def test_a_key_goes_into_its_tiers_plan_once_and_out_again(stage) -> None:
    api, plans = stage
    assert apigateway.plans(api) == plans
    value = "pfu-api-abcdefghijkl"
    assert apigateway.add_key(api, value, "large")
    assert apigateway.add_key(api, value, "large")  # again: the same key, still once in the plan
    assert _members(plans["large"]) == [value] and _members(plans["standard"]) == []
    assert apigateway.remove_key(api, value, delete=True)
    assert _members(plans["large"]) == []
    assert boto3.client("apigateway", region_name="us-east-1").get_api_keys()["items"] == []


def test_a_tier_without_a_plan_is_reported_not_raised(stage) -> None:
    api, _ = stage
    assert not apigateway.add_key(api, "pfu-api-abcdefghijkl", "platinum")
