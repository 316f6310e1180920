"""template.yaml as CloudFormation, translated offline by aws-sam-translator (in the SAM CLI's
venv), checked where a deploy would otherwise be the first to find out: each function's rights
(function x resource x action, the whole table written once here), the event source mappings, the
schedule, the authorizer on every route and API Gateway's own responses."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from typing import Any

from devstack.template import ROOT, TEMPLATE

_TRANSLATE = """
import json, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class ManagedPolicies:  # what `sam deploy` would look up in IAM; the ones SAM's templates use
    ARNS = {name: f"arn:aws:iam::aws:policy/{path}{name}" for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"), ("", "AWSXrayWriteOnlyAccess"),
        ("service-role/", "AWSLambdaDynamoDBExecutionRole"),
        ("service-role/", "AWSLambdaSQSQueueExecutionRole")]}
    def load(self):
        return self.ARNS

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # `sam package` puts S3 URIs in their place
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    if resource["Type"] == "AWS::Serverless::LayerVersion":
        resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
print(json.dumps(transform(template, json.loads(sys.argv[2]), ManagedPolicies())))
"""

# Every right each function has, as (action, resource): what its code does and nothing more.
INDEX = "PlantsTable/index/by_plant_id"
RIGHTS: dict[str, set[tuple[str, str]]] = {
    "AuthorizerFunction": {("dynamodb:GetItem", "ApiKeysTable")},
    "PlantsApiFunction": {
        ("dynamodb:GetItem", "PlantsTable"), ("dynamodb:PutItem", "PlantsTable"),
        ("dynamodb:UpdateItem", "PlantsTable"), ("dynamodb:DeleteItem", "PlantsTable"),
        ("dynamodb:Query", INDEX),
    },
    "DataApiFunction": {("dynamodb:GetItem", "PlantsTable"), ("dynamodb:Query", "DatapointsTable")},
    "PlantStreamFunction": {
        ("dynamodb:Query", "DatapointsTable"), ("dynamodb:BatchWriteItem", "DatapointsTable"),
        ("sqs:SendMessage*", "SyncQueue"), ("sqs:SendMessage", "StreamFailureQueue"),
    },
    "SyncWorkerFunction": {
        ("dynamodb:GetItem", "PlantsTable"), ("dynamodb:UpdateItem", "PlantsTable"),
        ("dynamodb:Query", "DatapointsTable"), ("dynamodb:BatchGetItem", "DatapointsTable"),
        ("dynamodb:BatchWriteItem", "DatapointsTable"), ("sqs:SendMessage*", "SyncQueue"),
    },
    "DailySyncFunction": {("dynamodb:Query", INDEX), ("sqs:SendMessage*", "SyncQueue")},
}  # fmt: skip
MANAGED = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
MANAGED_BY_SOURCE = {  # what SAM adds for a function's event source
    "PlantStreamFunction": {"AWSLambdaDynamoDBExecutionRole"},
    "SyncWorkerFunction": {"AWSLambdaSQSQueueExecutionRole"},
}


@cache
def cloudformation(parameters: str = "{}") -> dict[str, Any]:
    """The translated template's resources, with these parameter values (JSON)."""
    python = ROOT / ".venv-tools" / "bin" / "python"
    assert python.exists(), "the SAM CLI's venv is missing: run `make setup`"
    done = subprocess.run(
        [str(python), "-c", _TRANSLATE, str(TEMPLATE), parameters],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout)["Resources"]


def _resource_name(resource: Any) -> str:
    """`{"Fn::GetAtt": ["T", "Arn"]}` -> T; `${T.Arn}/index/i` -> T/index/i; an SQS ARN -> the queue."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return resource["Fn::GetAtt"][0]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        if isinstance(sub, list):  # SAM's SQS policy template: the queue name as a variable
            return sub[1]["queueName"]["Fn::GetAtt"][0]
        return sub.replace("${", "").replace(".Arn}", "")
    return json.dumps(resource)


def _rights(role: dict[str, Any]) -> set[tuple[str, str]]:
    rights = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            rights |= {(a, _resource_name(r)) for a in actions for r in resources}
    return rights


def test_each_function_has_exactly_the_rights_its_code_uses() -> None:
    resources = cloudformation()
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions == set(RIGHTS)
    for function, expected in RIGHTS.items():
        role = resources[f"{function}Role"]
        assert _rights(role) == expected, function
        managed = {arn.rsplit("/", 1)[1] for arn in role["Properties"]["ManagedPolicyArns"]}
        assert managed == MANAGED | MANAGED_BY_SOURCE.get(function, set()), function


def test_event_source_mappings_and_the_schedule() -> None:
    resources = cloudformation()
    stream = resources["PlantStreamFunctionPlantChanges"]["Properties"]
    assert stream["EventSourceArn"] == {"Fn::GetAtt": ["PlantsTable", "StreamArn"]}
    assert (stream["BatchSize"], stream["MaximumRetryAttempts"], stream["BisectBatchOnFunctionError"]) == (
        10,
        5,
        True,
    )
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["StreamFailureQueue", "Arn"]
    }
    (pattern,) = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    assert pattern == {
        "eventName": ["INSERT", "REMOVE"],
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "PLANT#"}]}}},
    }
    queue = resources["SyncWorkerFunctionSyncJobs"]["Properties"]
    assert queue["EventSourceArn"] == {"Fn::GetAtt": ["SyncQueue", "Arn"]}
    assert queue["BatchSize"] == 1 and queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "SyncConcurrency"}}
    rule = resources["DailySyncFunctionDaily"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "DailySyncSchedule"}
    (target,) = rule["Targets"]
    assert (
        target["Arn"] == {"Fn::GetAtt": ["DailySyncFunction", "Arn"]}
        and target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    )


def test_every_route_is_behind_the_authorizer_and_gateway_errors_are_shaped() -> None:
    (api,) = [r for r in cloudformation().values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    body = api["Properties"]["Body"]
    operations = [(path, method, op) for path, ops in body["paths"].items() for method, op in ops.items()]
    assert len(operations) == 13
    for path, method, operation in operations:
        assert operation["security"] == [{"ApiKeyAuthorizer": []}], (path, method)
    scheme = body["components"]["securitySchemes"]["ApiKeyAuthorizer"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token" and scheme["name"] == "Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == 300  # SAM resolves the parameter when it translates
    (retranslated,) = [
        r
        for r in cloudformation('{"AuthorizerCacheTtl": 60}').values()
        if r["Type"] == "AWS::ApiGateway::RestApi"
    ]
    schemes = retranslated["Properties"]["Body"]["components"]["securitySchemes"]
    assert schemes["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 60
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "REQUEST_TOO_LARGE"} <= set(responses)
    for response in responses.values():
        assert json.loads(
            response["responseTemplates"]["application/json"].replace("$context.requestId", "r")
        )["error"]
    stages = [r for r in cloudformation().values() if r["Type"] == "AWS::ApiGateway::Stage"]
    (settings,) = stages[0]["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
