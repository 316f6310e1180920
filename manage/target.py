"""Which deployment a command works on: the local stack, or a stack deployed with `sam deploy`.

The layer's storage code reads table names and the endpoint from the environment
(powerfactor/runtime/settings.py); `use_tables` sets them for the duration of a command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from powerfactor.runtime.settings import reset_settings

LOCAL_ENDPOINT = "http://127.0.0.1:8000"
# the stack's outputs that name its tables, and the environment variables the layer reads them from
_OUTPUTS = {
    "PlantsTableName": "PLANTS_TABLE",
    "DatapointsTableName": "DATAPOINTS_TABLE",
    "ApiKeysTableName": "API_KEYS_TABLE",
    "AccountsTableName": "ACCOUNTS_TABLE",
    "AlertsTableName": "ALERTS_TABLE",
    "UsageTableName": "USAGE_TABLE",
}
_LOCAL_TABLES = {
    "PLANTS_TABLE": "PlantsTable",
    "DATAPOINTS_TABLE": "DatapointsTable",
    "API_KEYS_TABLE": "ApiKeysTable",
    "ACCOUNTS_TABLE": "AccountsTable",
    "ALERTS_TABLE": "AlertsTable",
    "USAGE_TABLE": "UsageTable",
}
_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class TargetError(RuntimeError):
    """The deployment cannot be found or is not what this command expects."""


LOCAL_API = "http://127.0.0.1:3000"
_API_URL = re.compile(r"https://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([^/]+)/")


@dataclass(frozen=True)
class Target:
    description: str
    environment: dict[str, str]
    # where the API's authorizer cache is flushed: a deployed stack's (REST API id, stage), or the
    # local stack's API URL
    rest_api: tuple[str, str] | None = None
    local_api: str | None = None


def local(endpoint: str = LOCAL_ENDPOINT, api: str = LOCAL_API) -> Target:
    """The local stack's DynamoDB (`make dev`): tables named as in the template; its API at `api`."""
    return Target(
        f"local stack ({endpoint})",
        {
            **_LOCAL_TABLES,
            **_LOCAL_CREDENTIALS,
            "DYNAMODB_ENDPOINT": endpoint,
            "AWS_REGION": "us-east-1",
            "APIGATEWAY_ENDPOINT": api,  # no usage plans locally (powerfactor/aws/apigateway.py)
        },
        local_api=api,
    )


def deployed(stack: str, region: str | None = None) -> Target:
    """A deployed stack: its tables from its CloudFormation outputs, with your AWS credentials."""
    outputs, region_name = stack_outputs(stack, region, [*_OUTPUTS, "ApiUrl"])
    match = _API_URL.match(outputs["ApiUrl"])
    optional = {  # outputs of later versions: what `manage` writes with, where mail subscribes
        env: outputs[key]
        for key, env in (
            ("AuditRetentionDays", "AUDIT_RETENTION_DAYS"),
            ("AccountAlertTopicArn", "ACCOUNT_ALERT_TOPIC_ARN"),
        )
        if key in outputs
    }
    return Target(
        f"stack {stack} ({region_name})",
        {**{env: outputs[key] for key, env in _OUTPUTS.items()}, **optional, "AWS_REGION": region_name},
        rest_api=(match[1], match[2]) if match else None,
    )


def flush_authorizer_cache(target: Target) -> str:
    """Make the API ask the authorizer again for every key (after a revocation): API Gateway's
    FlushStageAuthorizersCache on a deployed stack's stage, the local gateway's cache locally.
    Says what it did; TargetError if it could not."""
    if target.rest_api is not None:
        import boto3  # only this path needs AWS

        api_id, stage = target.rest_api
        client = boto3.client("apigateway", region_name=target.environment.get("AWS_REGION"))
        try:
            client.flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
        except Exception as error:  # botocore's errors: no right to it, no such stage
            raise TargetError(f"cannot flush the authorizer cache of {api_id}/{stage}: {error}") from None
        return f"the authorizer cache of stage {stage} was flushed: the key is refused from now on"
    if target.local_api is not None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(target.local_api + "/__devstack/authorizer-cache", method="DELETE")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError):
            return f"no local API at {target.local_api} to flush (not running?): refused from its next start"
        return "the local API's authorizer cache was flushed: the key is refused from now on"
    raise TargetError("this target has no API whose authorizer cache could be flushed")


def api_url(stack: str, region: str | None = None) -> str:
    """A deployed stack's API URL (its `ApiUrl` output, ending in /api/solar-plant/)."""
    outputs, _ = stack_outputs(stack, region, ["ApiUrl"])
    return outputs["ApiUrl"]


def stack_outputs(stack: str, region: str | None, required: Iterable[str]) -> tuple[dict[str, str], str]:
    """A stack's CloudFormation outputs and its region; TargetError if any required one is missing."""
    import boto3  # only this path needs AWS

    session = boto3.session.Session(region_name=region)
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as error:  # botocore's errors: no credentials, no such stack, no network
        raise TargetError(f"cannot read stack {stack!r}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = sorted(set(required) - set(outputs))
    if missing:
        raise TargetError(f"stack {stack!r} has no outputs {', '.join(missing)}: deploy this version first")
    return outputs, session.region_name or ""


@contextmanager
def use_tables(target: Target) -> Iterator[None]:
    """Point the layer's storage code at the target's tables while the block runs."""
    names = [*target.environment, "DYNAMODB_ENDPOINT", "APIGATEWAY_ENDPOINT"]
    saved = {name: os.environ.get(name) for name in names}
    os.environ.pop("DYNAMODB_ENDPOINT", None)
    os.environ.pop("APIGATEWAY_ENDPOINT", None)
    os.environ.update(target.environment)
    reset_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()
