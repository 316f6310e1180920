"""template.yaml as CloudFormation, translated offline by aws-sam-translator (sam_translate.py, in
the SAM CLI's venv), checked where a deploy would otherwise be the first to find out: each
function's rights (function x resource x action, the whole table written once here), the event
source mappings, the schedule, the authorizer on every route, API Gateway's own responses, and
what operators rely on: log groups, alarms (the whole table written once here), the access log,
the daily sync's failure queue, the datapoints' TTL and the dashboard."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from devstack.template import ROOT, TEMPLATE
from tests.support import caller

# Every right each function has, as (action, resource): what its code does and nothing more.
INDEX = "PlantsTable/index/by_plant_id"  # every plant: the system's own jobs
ACCOUNT_PLANTS = "PlantsTable/index/by_account"  # one account's plants: the API's lists
STREAM = "PlantsTable/stream"
BUS = ("events:PutEvents", "AlertBus")  # alert events (powerfactor/alerts/logic.py)
USAGE = ("dynamodb:UpdateItem", "UsageTable")  # each API request counted (powerfactor/access/usage.py)
RIGHTS: dict[str, set[tuple[str, str]]] = {
    "AuthorizerFunction": {
        ("dynamodb:GetItem", "ApiKeysTable"),
        ("dynamodb:Query", "AccountsTable"),  # the grants the key's account holds
    },
    "PlantsApiFunction": {
        ("dynamodb:GetItem", "PlantsTable"), ("dynamodb:PutItem", "PlantsTable"),
        ("dynamodb:UpdateItem", "PlantsTable"), ("dynamodb:DeleteItem", "PlantsTable"),
        ("dynamodb:Query", ACCOUNT_PLANTS), ("dynamodb:BatchGetItem", "PlantsTable"),  # a restricted key's
        # the alert lists: a plant's partition, the account's open alerts
        ("dynamodb:Query", "AlertsTable"), ("dynamodb:Query", "AlertsTable/index/open_by_account"),
        ("sqs:SendMessage*", "SyncQueue"),  # a re-sync's job
        # a revert: revisions and days read, each month's changes put in one transaction, its event
        ("dynamodb:Query", "DatapointsTable"), ("dynamodb:BatchGetItem", "DatapointsTable"),
        ("dynamodb:PutItem", "DatapointsTable"), ("dynamodb:BatchWriteItem", "DatapointsTable"), BUS,
        ("dynamodb:GetItem", "AccountsTable"),  # the account's plant limit
        # portfolios and grants: their items' transactions, the portfolios' members
        ("dynamodb:Query", "AccountsTable"), ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:UpdateItem", "AccountsTable"), ("dynamodb:DeleteItem", "AccountsTable"),
        ("dynamodb:ConditionCheckItem", "AccountsTable"),
        # the audit log: its entries only (AUDIT#...), in each write's transaction; the route's reads
        ("dynamodb:UpdateItem", "AccountsTable[AUDIT#*]"), ("dynamodb:PutItem", "AccountsTable[AUDIT#*]"),
        ("dynamodb:Query", "AccountsTable[AUDIT#*]"),
        # the account's keys, managed by its admin keys
        ("dynamodb:PutItem", "ApiKeysTable"), ("dynamodb:GetItem", "ApiKeysTable"),
        ("dynamodb:UpdateItem", "ApiKeysTable"), ("dynamodb:Query", "ApiKeysTable/index/by_account"),
        USAGE,  # each request counted (its API Gateway rights: PlantsApiGatewayPolicy, below)
    },
    "DataApiFunction": {("dynamodb:GetItem", "PlantsTable"), ("dynamodb:Query", "DatapointsTable"), USAGE},
    "PlantStreamFunction": {
        ("dynamodb:Query", "DatapointsTable"), ("dynamodb:BatchWriteItem", "DatapointsTable"),
        ("sqs:SendMessage", "SyncQueue"), ("sqs:SendMessage", "StreamFailureQueue"),
        # its event source: the plants stream (what AWSLambdaDynamoDBExecutionRole grants on *)
        ("dynamodb:DescribeStream", STREAM), ("dynamodb:GetRecords", STREAM),
        ("dynamodb:GetShardIterator", STREAM),
        # a deleted plant's alerts: resolved (published), then removed
        ("dynamodb:Query", "AlertsTable"), ("dynamodb:UpdateItem", "AlertsTable"),
        ("dynamodb:BatchWriteItem", "AlertsTable"), BUS,
    },
    "SyncWorkerFunction": {
        ("dynamodb:GetItem", "PlantsTable"), ("dynamodb:UpdateItem", "PlantsTable"),
        ("dynamodb:Query", "DatapointsTable"), ("dynamodb:BatchGetItem", "DatapointsTable"),
        ("dynamodb:BatchWriteItem", "DatapointsTable"), ("sqs:SendMessage", "SyncQueue"),
        ("dynamodb:PutItem", "DatapointsTable"),  # a changed day, its revision and month: one transaction
        # its event source (what AWSLambdaSQSQueueExecutionRole grants on *), and a failed job
        # back after a short backoff (ChangeMessageVisibility)
        ("sqs:ReceiveMessage", "SyncQueue"), ("sqs:DeleteMessage", "SyncQueue"),
        ("sqs:GetQueueAttributes", "SyncQueue"), ("sqs:ChangeMessageVisibility", "SyncQueue"),
        # alerts judged after each run: the run counter, open alerts, open / update / resolve
        ("dynamodb:GetItem", "AlertsTable"), ("dynamodb:PutItem", "AlertsTable"),
        ("dynamodb:UpdateItem", "AlertsTable"), ("dynamodb:Query", "AlertsTable"), BUS,
    },
    "DailySyncFunction": {
        ("dynamodb:Query", INDEX), ("sqs:SendMessage*", "SyncQueue"),
        ("sqs:SendMessage", "DailySyncFailureQueue"),  # SAM's policy for the on-failure destination
    },
    "DashboardFunction": set(),  # serves its own files: no AWS call at all
    "AlertWebhookFunction": {  # only with AlertWebhookUrl: its event source (logs: its own policy)
        ("sqs:ReceiveMessage", "AlertWebhookQueue"), ("sqs:DeleteMessage", "AlertWebhookQueue"),
        ("sqs:GetQueueAttributes", "AlertWebhookQueue"),
    },
    "AccountWebhookFunction": {  # its event source, and the accounts' webhooks (NOTIFY#...) only
        ("sqs:ReceiveMessage", "AccountWebhookQueue"), ("sqs:DeleteMessage", "AccountWebhookQueue"),
        ("sqs:GetQueueAttributes", "AccountWebhookQueue"), ("dynamodb:GetItem", "AccountsTable[NOTIFY#*]"),
    },
}  # fmt: skip
PUBLIC = {"/dashboard", "/dashboard/{asset}"}  # the dashboard's files: the only routes without a key
MANAGED = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
OWN_ROLES = {"PlantStreamFunction", "SyncWorkerFunction", "AlertWebhookFunction", "AccountWebhookFunction"}
SHARED_LOGS = OWN_ROLES - {"AlertWebhookFunction"}  # FunctionLogsPolicy; the conditional one: its own
XRAY = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}  # no resource type: on *


@cache
def cloudformation(parameters: str = "{}") -> dict[str, Any]:
    """The translated template's resources, with these parameter values (JSON)."""
    return translated(parameters)["Resources"]


@cache
def translated(parameters: str = "{}") -> dict[str, Any]:
    """The whole translated template, with these parameter values (JSON)."""
    python = ROOT / ".venv-tools" / "bin" / "python"
    assert python.exists(), "the SAM CLI's venv is missing: run `make setup`"
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("sam_translate.py")), str(TEMPLATE), parameters],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout)


def _resource_name(resource: Any) -> str:
    """`{"Fn::GetAtt": ["T", "Arn"]}` -> T; `${T.Arn}/index/i` -> T/index/i; an SQS ARN -> the queue."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        name, attribute = resource["Fn::GetAtt"]
        return f"{name}/stream" if attribute == "StreamArn" else name
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        if isinstance(sub, list):  # SAM's SQS policy template: the queue name as a variable
            return sub[1]["queueName"]["Fn::GetAtt"][0]
        return sub.replace("${", "").replace(".Arn}", "")
    return json.dumps(resource)


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]
    ]


def _rights(role: dict[str, Any]) -> set[tuple[str, str]]:
    """The role's rights but its X-Ray trace writes (checked apart); a right limited to some
    partitions of a table (`dynamodb:LeadingKeys`, the only condition allowed) as `Table[prefix]`."""
    rights = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                continue
            assert statement["Effect"] == "Allow"
            condition = statement.get("Condition")
            assert condition is None or list(condition) == ["ForAllValues:StringLike"]
            (prefix,) = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] if condition else [""]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            limited = f"[{prefix}]" if prefix else ""
            rights |= {(a, _resource_name(r) + limited) for a in actions for r in resources}
    return rights


def test_each_function_has_exactly_the_rights_its_code_uses() -> None:
    resources = cloudformation()
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions == set(RIGHTS)
    for function, expected in RIGHTS.items():
        role = resources[f"{function}Role"]
        assert _rights(role) == expected, function
        managed = {arn.rsplit("/", 1)[1] for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert managed == (set() if function in OWN_ROLES else MANAGED), function


def test_no_action_is_granted_on_every_resource_but_x_rays_trace_writes() -> None:
    """No statement grants an action on `*` (the event sources' managed policies, which do, are
    replaced by statements on this stack's stream and queue), but X-Ray's, which have no resource
    type; and the functions with their own roles write logs to their own groups only."""
    resources = cloudformation()
    policies = [
        (name, statement)
        for name, r in resources.items()
        if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy")
        for statement in (
            _statements(r)
            if r["Type"] == "AWS::IAM::Role"
            else r["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert len(policies) > 20
    for name, statement in policies:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources_of = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if "*" in resources_of:
            assert set(actions) <= XRAY, (name, statement)
        assert not any(a == "*" or a.endswith(":*") for a in actions), (name, statement)
    for function in OWN_ROLES:
        role = resources[f"{function}Role"]
        assert "ManagedPolicyArns" not in role["Properties"], function
        assert {a for s in _statements(role) if s["Resource"] == "*" for a in s["Action"]} == XRAY, function
    logs = resources["FunctionLogsPolicy"]["Properties"]
    assert sorted(r["Ref"] for r in logs["Roles"]) == sorted(f"{f}Role" for f in SHARED_LOGS)
    (statement,) = logs["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert sorted(_resource_name(r) for r in statement["Resource"]) == sorted(
        f"{f}LogGroup" for f in SHARED_LOGS
    )
    webhook_logs = resources["AlertWebhookFunctionLogsPolicy"]["Properties"]
    assert webhook_logs["Roles"] == [{"Ref": "AlertWebhookFunctionRole"}]
    (statement,) = webhook_logs["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert _resource_name(statement["Resource"]) == "AlertWebhookFunctionLogGroup"


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
    assert len(operations) == 51  # with GET /audit and its other methods
    for path, method, operation in operations:
        if path in PUBLIC:
            # no authorizer and no API key: SAM writes that as no security at all
            assert method == "x-amazon-apigateway-any-method" and operation["security"] == []
            continue
        # the authorizer, and an API key (the one it names): its tier's usage plan throttles it
        assert operation["security"] == [{"ApiKeyAuthorizer": []}, {"api_key": []}], (path, method)
    assert set(body["paths"]) >= PUBLIC
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


# ---- what operators rely on ----

TOPIC = [{"Ref": "AlarmTopic"}]
# Every alarm on one metric: (namespace, metric, dimensions as name -> resource or value,
# statistic, comparison, threshold). A function's errors and throttles are alarmed for each one.
ALARMS: dict[str, tuple[str, str, dict[str, str], str, str, float]] = {
    **{
        f"{function}ErrorsAlarm": ("AWS/Lambda", "Errors", {"FunctionName": function}, "Sum", ">",
                                   10 if function in ("SyncWorkerFunction", "AlertWebhookFunction",
                                                      "AccountWebhookFunction") else 0)
        # SQS retries failed syncs and deliveries
        for function in RIGHTS
        if function != "AuthorizerFunction"  # in MATH_ALARMS: a refused key is a Lambda error too
    },
    **{
        f"{function}ThrottlesAlarm": ("AWS/Lambda", "Throttles", {"FunctionName": function}, "Sum", ">", 0)
        for function in RIGHTS
    },
    **{
        f"{queue}Alarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}, "Maximum",
                          ">", 0)
        for queue in ("SyncDeadLetterQueue", "StreamFailureQueue", "DailySyncFailureQueue",
                      "AlertWebhookDeadLetterQueue", "AccountWebhookDeadLetterQueue")
    },
    "SyncQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "SyncQueue"}, "Maximum",
                          ">", 3 * 3600),
    "ApiLatencyAlarm": ("AWS/ApiGateway", "Latency", {"ApiName": "AWS::StackName", "Stage": "Stage"}, "p99",
                        ">", 5000),
    "PlantStreamIteratorAgeAlarm": ("AWS/Lambda", "IteratorAge", {"FunctionName": "PlantStreamFunction"},
                                    "Maximum", ">", 5 * 60 * 1000),
    "SyncFreshnessAlarm": ("PowerFactor", "SyncDone", {"service": "powerfactor"}, "Sum", "<", 1),
}  # fmt: skip
API = {"ApiName": "AWS::StackName", "Stage": "Stage"}
GSI = {  # tables with indexes
    "PlantsTable": ("by_plant_id", "by_account"),
    "ApiKeysTable": ("by_account",),
    "AlertsTable": ("open_alerts", "open_by_account"),
}
# Every metric-math alarm: the metrics it reads, as (metric, dimensions).
MATH_ALARMS: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = {
    "ApiErrorRateAlarm": {("5XXError", tuple(API.items())), ("Count", tuple(API.items()))},
    "AuthorizerFunctionErrorsAlarm": {
        ("Errors", (("FunctionName", "AuthorizerFunction"),)), ("AuthorizerKeysRefused", ()),
    },
    **{
        f"{table}ThrottlingAlarm": {
            (f"{kind}ThrottleEvents", (("TableName", table), *index))
            for kind in ("Read", "Write")
            for index in [(), *((("GlobalSecondaryIndexName", name),) for name in GSI.get(table, ()))]
        }
        for table in (
            "PlantsTable", "DatapointsTable", "ApiKeysTable", "AccountsTable", "AlertsTable", "UsageTable",
        )
    },
}  # fmt: skip
OPERATORS = {">": "GreaterThanThreshold", "<": "LessThanThreshold"}
# The access log's fields, as API Gateway's $context variables.
ACCESS_LOG = {
    "requestId": "$context.requestId", "keyId": "$context.authorizer.key_id",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
    "latency": "$context.responseLatency", "integrationLatency": "$context.integrationLatency",
}  # fmt: skip


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cloudformation().items() if r["Type"] == kind}


def _target(value: Any) -> str:
    """A dimension's value: `!Ref X` -> X, `!GetAtt Q.QueueName` -> Q, a literal as it is."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    return value


def test_every_function_logs_to_its_own_group_kept_log_retention_days() -> None:
    groups = _of_type("AWS::Logs::LogGroup")
    named = {
        g["Properties"]["LogGroupName"]["Fn::Sub"]
        for g in groups.values()
        if "LogGroupName" in g["Properties"]
    }
    assert named == {f"/aws/lambda/${{{function}}}" for function in RIGHTS}
    for group in groups.values():  # the API's access log too
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_alarm_is_in_the_table_and_notifies_the_topic() -> None:
    alarms = _of_type("AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS) | set(MATH_ALARMS)
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == TOPIC, name
        description = props["AlarmDescription"]
        assert len(description if isinstance(description, str) else description["Fn::Sub"]) > 80, name
        assert props["TreatMissingData"] == ("breaching" if name == "SyncFreshnessAlarm" else "notBreaching")
        assert "AlarmName" not in props  # CloudFormation names them, unique per stack
    for name, (namespace, metric, dimensions, statistic, operator, threshold) in ALARMS.items():
        props = alarms[name]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), name
        assert {d["Name"]: _target(d["Value"]) for d in props["Dimensions"]} == dimensions, name
        assert props.get("Statistic", props.get("ExtendedStatistic")) == statistic, name
        assert (props["ComparisonOperator"], props["Threshold"]) == (OPERATORS[operator], threshold), name
    for name, metrics in MATH_ALARMS.items():
        queries = alarms[name]["Properties"]["Metrics"]
        read = {
            (q["MetricStat"]["Metric"]["MetricName"],
             tuple((d["Name"], _target(d["Value"])) for d in q["MetricStat"]["Metric"].get("Dimensions", [])))
            for q in queries if "MetricStat" in q
        }  # fmt: skip
        assert read == metrics, name
        (result,) = [q for q in queries if q.get("ReturnData", True)]
        assert "Expression" in result, name


def test_the_freshness_alarm_watches_the_metric_the_sync_worker_emits() -> None:
    # functions/sync_worker: metrics.add_metric(name=f"Sync{outcome.status.capitalize()}") with
    # Powertools' namespace and `service` dimension from these variables.
    worker = (ROOT / "functions" / "sync_worker" / "app.py").read_text()
    assert 'name=f"Sync{outcome.status.capitalize()}"' in worker
    assert '"done"' in (ROOT / "layers" / "powerfactor" / "powerfactor" / "sync" / "run.py").read_text()
    variables = cloudformation()["SyncWorkerFunction"]["Properties"]["Environment"]["Variables"]
    namespace, metric, dimensions, *_ = ALARMS["SyncFreshnessAlarm"]
    assert (variables["POWERTOOLS_METRICS_NAMESPACE"], metric) == (namespace, "SyncDone")
    assert dimensions == {"service": variables["POWERTOOLS_SERVICE_NAME"]}
    props = cloudformation()["SyncFreshnessAlarm"]["Properties"]
    assert props["Period"] * props["EvaluationPeriods"] == 24 * 3600


def test_the_api_alarms_name_the_api_as_api_gateway_does() -> None:
    (api,) = _of_type("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["Body"]["info"]["title"] == {"Ref": "AWS::StackName"}  # its ApiName
    (stage,) = _of_type("AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == {"Ref": "Stage"}


def test_the_alarm_topic_mails_alarm_email_if_given() -> None:
    subscription = _of_type("AWS::SNS::Subscription")["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": TOPIC[0],
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_a_failed_daily_sync_lands_in_its_failure_queue() -> None:
    (config,) = _of_type("AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert props["FunctionName"] == {"Ref": "DailySyncFunction"}
    assert props["MaximumRetryAttempts"] == 2
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["DailySyncFailureQueue", "Arn"]
    }
    # ... and the function may send there (SAM's policy; the whole rights table is checked above)
    assert ("sqs:SendMessage", "DailySyncFailureQueue") in _rights(cloudformation()["DailySyncFunctionRole"])


def test_the_access_log_is_one_json_line_with_the_callers_key() -> None:
    (stage,) = _of_type("AWS::ApiGateway::Stage").values()
    setting = stage["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(setting["Format"])
    assert ACCESS_LOG.items() <= fields.items()
    assert "\n" not in setting["Format"]
    # the authorizer's context names the key id as the access log reads it
    key_variable = ACCESS_LOG["keyId"].removeprefix("$context.authorizer.")
    assert caller(key_id="somekey00000")[key_variable] == "somekey00000"


def test_api_gateway_may_write_logs_before_the_stage_logs() -> None:
    resources = cloudformation()
    account = resources["ApiGatewayAccount"]
    role = resources["ApiGatewayCloudWatchRole"]
    assert account["Condition"] == role["Condition"] == "CreatesApiGatewayAccountRole"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    assert role["DeletionPolicy"] == "Retain"  # the region's other APIs keep their logging
    (principal,) = [
        s["Principal"]["Service"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]
    assert principal == "apigateway.amazonaws.com"
    # the stage logs into ApiAccessLogGroup, which refers to the account setting: made after it
    metadata = resources["ApiAccessLogGroup"]["Metadata"]
    assert list(metadata.values()) == [
        {"Fn::If": ["CreatesApiGatewayAccountRole", {"Ref": "ApiGatewayAccount"}, {"Ref": "AWS::NoValue"}]}
    ]


def test_datapoints_expire_and_queues_are_encrypted() -> None:
    ttl = cloudformation()["DatapointsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    queues = _of_type("AWS::SQS::Queue")
    assert len(queues) == 8  # AlertWebhookQueue and its dead-letter queue only with AlertWebhookUrl
    for name, queue in queues.items():  # SSE-SQS; checkov's CKV_AWS_27 knows only KMS keys
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name


def test_the_dashboard_is_json_and_shows_every_alarm() -> None:
    (dashboard,) = _of_type("AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", text))
    assert references <= {f"{a}.Arn" for a in _of_type("AWS::CloudWatch::Alarm")} | set(cloudformation()) | {
        "AWS::Region", "AWS::StackName", "Stage", *(f"{q}.QueueName" for q in _of_type("AWS::SQS::Queue"))
    }  # fmt: skip
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    # a conditional alarm cannot be named in the one-string body: its alarm action is the record
    always = {name for name, alarm in _of_type("AWS::CloudWatch::Alarm").items() if "Condition" not in alarm}
    assert len(alarms["properties"]["alarms"]) == len(always)
    assert {f"{a}.Arn" for a in always} <= references
    assert not {f"{a}.Arn" for a in set(_of_type("AWS::CloudWatch::Alarm")) - always} & references


def test_the_authorizer_errors_alarm_discounts_refused_keys() -> None:
    # functions/authorizer raises "Unauthorized" for a refused key (API Gateway's 401), after
    # logging this message; the metric filter counts those log lines.
    authorizer = (ROOT / "functions" / "authorizer" / "app.py").read_text()
    assert 'logger.info("API key refused"' in authorizer and 'raise Exception("Unauthorized")' in authorizer
    (metric_filter,) = _of_type("AWS::Logs::MetricFilter").values()
    props = metric_filter["Properties"]
    assert props["LogGroupName"] == {"Ref": "AuthorizerFunctionLogGroup"}
    assert props["FilterPattern"] == '{ $.message = "API key refused" }'
    (transformation,) = props["MetricTransformations"]
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == (
        "PowerFactor",
        "AuthorizerKeysRefused",
    )
    queries = cloudformation()["AuthorizerFunctionErrorsAlarm"]["Properties"]["Metrics"]
    assert [q["Expression"] for q in queries if "Expression" in q] == ["errors - FILL(refused, 0)"]


def test_alerts_go_to_the_bus_and_optionally_to_a_webhook_and_mail() -> None:
    resources = cloudformation()
    assert resources["AlertBus"]["Type"] == "AWS::Events::EventBus"
    table = resources["AlertsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # open ones, one partition per account; and the index from before accounts, for the migration
    indexes = {index["IndexName"]: index["KeySchema"] for index in table["GlobalSecondaryIndexes"]}
    assert indexes == {
        "open_by_account": [
            {"AttributeName": "open_account", "KeyType": "HASH"},
            {"AttributeName": "opened_key", "KeyType": "RANGE"},
        ],
        "open_alerts": [
            {"AttributeName": "open", "KeyType": "HASH"},
            {"AttributeName": "opened_key", "KeyType": "RANGE"},
        ],
    }
    webhook_resources = {name for name, r in resources.items() if name.startswith("AlertWebhook")}
    assert webhook_resources == {
        "AlertWebhookRule", "AlertWebhookQueue", "AlertWebhookQueuePolicy", "AlertWebhookDeadLetterQueue",
        "AlertWebhookFunction", "AlertWebhookFunctionRole", "AlertWebhookFunctionAlertEvents",
        "AlertWebhookFunctionLogGroup", "AlertWebhookFunctionLogsPolicy", "AlertWebhookDeadLetterQueueAlarm",
        "AlertWebhookFunctionErrorsAlarm", "AlertWebhookFunctionThrottlesAlarm",
    }  # fmt: skip
    for name in webhook_resources:  # one delivery path, and only with a webhook
        assert resources[name]["Condition"] == "HasAlertWebhook", name
    assert not [
        r
        for r in resources.values()
        if r["Type"] in ("AWS::Events::ApiDestination", "AWS::Events::Connection")
    ]
    for name in ("AlertTopic", "AlertEmailSubscription", "AlertTopicPolicy", "AlertEmailRule"):
        assert resources[name]["Condition"] == "HasAlertEmail", name
    webhook = resources["AlertWebhookRule"]["Properties"]
    assert webhook["EventBusName"] == {"Ref": "AlertBus"} and webhook["EventPattern"] == {
        "source": ["powerfactor.alerts", "powerfactor.data"]  # alerts, and data.revised
    }
    (target,) = webhook["Targets"]
    assert target == {"Id": "webhook", "Arn": {"Fn::GetAtt": ["AlertWebhookQueue", "Arn"]}}
    queue_policy = resources["AlertWebhookQueuePolicy"]["Properties"]
    assert queue_policy["Queues"] == [{"Ref": "AlertWebhookQueue"}]
    (send,) = queue_policy["PolicyDocument"]["Statement"]  # only this rule may send to it
    assert (send["Effect"], send["Principal"], send["Action"], send["Resource"]) == (
        "Allow",
        {"Service": "events.amazonaws.com"},
        "sqs:SendMessage",
        {"Fn::GetAtt": ["AlertWebhookQueue", "Arn"]},
    )
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["AlertWebhookRule", "Arn"]}}}
    # retried for a day (96 receives, 15 minutes apart), then dead-lettered
    queue = resources["AlertWebhookQueue"]["Properties"]
    assert queue["VisibilityTimeout"] * queue["RedrivePolicy"]["maxReceiveCount"] == 86400
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["AlertWebhookDeadLetterQueue", "Arn"]
    }
    function = resources["AlertWebhookFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert function["Environment"]["Variables"]["ALERT_WEBHOOK_SECRET"] == {"Ref": "AlertWebhookSecret"}
    source = resources["AlertWebhookFunctionAlertEvents"]["Properties"]
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["AlertWebhookQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert translated()["Parameters"]["AlertWebhookSecret"]["NoEcho"] is True
    (mail,) = resources["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert mail["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["AlertEmailRule", "Arn"]}}}
    # the code publishes what the rules match (powerfactor/alerts/logic.py)
    code = (ROOT / "layers" / "powerfactor" / "powerfactor" / "alerts" / "logic.py").read_text()
    assert 'SOURCE = "powerfactor.alerts"' in code and 'DATA_SOURCE = "powerfactor.data"' in code
    mail_rule = resources["AlertEmailRule"]["Properties"]  # a mail per alert only
    assert mail_rule["EventPattern"] == {"source": ["powerfactor.alerts"]}


def _evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """A rule's condition or assertion (Fn::Not, Fn::Equals, Ref) with these parameter values."""
    if isinstance(node, dict):
        ((function, argument),) = node.items()
        if function == "Ref":
            return parameters[argument]
        values = [_evaluate(a, parameters) for a in argument]
        return {"Fn::Not": lambda: not values[0], "Fn::Equals": lambda: values[0] == values[1]}[function]()
    return node


def _deploy_refused(url: str, secret: str) -> bool:
    """Would CloudFormation refuse these values: the secret's AllowedPattern or a rule's assertion?"""
    template = translated()
    pattern = template["Parameters"]["AlertWebhookSecret"]["AllowedPattern"]
    if not re.fullmatch(pattern, secret):
        return True
    values = {"AlertWebhookUrl": url, "AlertWebhookSecret": secret}
    return any(
        _evaluate(rule.get("RuleCondition", True), values)
        and not all(_evaluate(a["Assert"], values) for a in rule["Assertions"])
        for rule in template["Rules"].values()
    )


def test_a_webhook_without_a_secret_of_32_characters_is_refused_by_the_template() -> None:
    url, long_enough = "https://hooks.example.com/powerfactor", "k" * 32
    assert _deploy_refused(url, "none")  # the default: no secret
    assert _deploy_refused(url, "k" * 31)
    assert _deploy_refused(url, "k" * 31 + " ")
    assert not _deploy_refused(url, long_enough)
    assert not _deploy_refused("", "none")  # no webhook, no secret needed
    assert _deploy_refused("", "short")  # a secret is none or long enough, webhook or not


# ---- usage tiers: a usage plan per tier, the key the authorizer names ----

PLANS = {"standard": "StandardUsagePlan", "large": "LargeUsagePlan"}
REGION_ARN = "arn:${AWS::Partition}:apigateway:${AWS::Region}::"


def test_each_tier_has_a_usage_plan_on_the_stage_and_the_authorizer_names_the_key() -> None:
    resources = cloudformation()
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"  # usageIdentifierKey, not x-api-key
    plans = _of_type("AWS::ApiGateway::UsagePlan")
    assert set(plans) == set(PLANS.values())
    for tier, name in PLANS.items():
        props = plans[name]["Properties"]
        assert props["UsagePlanName"] == {"Fn::Sub": f"${{AWS::StackName}}-{tier}"}  # aws/apigateway.py
        assert props["ApiStages"] == [
            {"ApiId": {"Ref": "PowerFactorApi"}, "Stage": {"Ref": "PowerFactorApiStage"}}
        ]
        parameter = tier.capitalize() + "Tier"
        assert props["Throttle"] == {
            "RateLimit": {"Ref": f"{parameter}RateLimit"}, "BurstLimit": {"Ref": f"{parameter}BurstLimit"},
        }  # fmt: skip
        assert "Quota" not in props  # counted by the functions (powerfactor/access/usage.py)
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert responses["INVALID_API_KEY"]["statusCode"] == "403"  # a key in no plan yet


def test_the_plants_api_may_touch_its_own_plans_keys_and_flush_its_own_stage_only() -> None:
    resources = cloudformation()
    policy = resources["PlantsApiGatewayPolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "PlantsApiFunctionRole"}]
    rights = set()
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        rights |= {(a, t["Fn::Sub"].replace(REGION_ARN, "")) for a in actions for t in targets}
    plan_keys = {f"/usageplans/${{{plan}}}/keys" for plan in PLANS.values()}
    assert rights == {
        ("apigateway:GET", "/usageplans"),  # the tiers' plans, found by name (no id in its environment)
        ("apigateway:POST", "/apikeys"),  # a new key's API key
        *(("apigateway:POST", keys) for keys in plan_keys), *(("apigateway:GET", keys) for keys in plan_keys),
        *(("apigateway:DELETE", f"{keys}/*") for keys in plan_keys),
        ("apigateway:DELETE", "/restapis/${PowerFactorApi}/stages/${Stage}/cache/authorizers"),
    }  # fmt: skip
    # no other role has any right on API Gateway
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            assert not any("apigateway:" in json.dumps(s.get("Action")) for s in _statements(resource)), name
