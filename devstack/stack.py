"""Assemble the local stack: DynamoDB, the template's tables, the functions, the API, the event
bus (devstack/eventbus.py: the functions' PutEvents, and the rules' queue targets)."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devstack.apigateway import ApiGateway
from devstack.authorizer import TokenAuthorizer
from devstack.dynamodb import DynamoDB, StartError, port_in_use, start_dynamodb
from devstack.eventbus import EventBus, condition_holds, refused_by_rules
from devstack.eventsources import Scheduler, SqsPoller, StreamPoller
from devstack.lambdas import LambdaRuntime
from devstack.monitoring import MonitoringSimulator
from devstack.openapi import openapi_json, swagger_page
from devstack.queues import ensure_queues, queue_arn
from devstack.status import Status, dead_letter_queues
from devstack.tables import ensure_tables
from devstack.template import (
    ROOT,
    Template,
    load_template,
    on_failure_queue,
    resolve_parameters,
    resolve_value,
)
from manage import target
from manage.keys import DEV_KEYS, ensure_dev_keys
from manage.migrate import migrate
from powerfactor.plants.logic import recount_plants
from powerfactor.runtime.settings import Tier

DEV_KEY_FILE = ROOT / ".devstack" / "api-key"
# API Gateway's FlushStageAuthorizersCache, as the functions send it (ApiGatewayEndpoint)
_FLUSH = re.compile(r"/restapis/[^/]+/stages/[^/]+/cache/authorizers")
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def table_names(template: Template) -> dict[str, str]:
    """Local physical table names: the logical ids themselves."""
    return {logical_id: logical_id for logical_id in template.tables()}


def function_environment(
    template: Template, parameters: dict[str, str], queue_urls: dict[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would get it, with these parameter values.

    `!Ref` of a table gives its local name, of a queue its URL (empty until the queues exist).
    """
    queue_urls = queue_urls or {name: "" for name in template.queues()}
    buses = {name: name for name in template.event_buses()}  # devstack/eventbus.py names them so
    refs = {**template.parameter_defaults(), **parameters, **table_names(template), **queue_urls, **buses}
    environment = {}
    for name, function in template.functions().items():
        env = {key: resolve_value(value, refs) for key, value in function.environment.items()}
        env.update(LOCAL_CREDENTIALS)
        env["AWS_LAMBDA_FUNCTION_NAME"] = name
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        environment[name] = env
    return environment


def concurrency_limits(template: Template, parameters: dict[str, str]) -> dict[str, int]:
    """Most invocations of a function at once, where the template bounds them: its
    ReservedConcurrentExecutions, and an SQS source's MaximumConcurrency (the lower of the two)."""
    limits: dict[str, int] = {}
    for name, function in template.functions().items():
        reserved = resolve_parameters(function.reserved_concurrency, parameters)
        if reserved is not None:
            limits[name] = int(reserved)
    for function, props in template.event_sources("SQS"):
        scaling = resolve_parameters(props, parameters).get("ScalingConfig")
        if scaling:
            name = function.logical_id
            limits[name] = min(int(scaling["MaximumConcurrency"]), limits.get(name, 10**6))
    return limits


def tiers(template: Template, parameters: dict[str, str]) -> dict[str, Tier]:
    """Each tier of the template's usage plans: its plan's rate and burst, its daily quota
    (`<Tier>TierDailyQuota`), smallest first."""
    return {
        name: Tier(name, rate, burst, int(parameters[f"{name.capitalize()}TierDailyQuota"]))
        for name, (rate, burst) in template.usage_plans(parameters).items()
    }


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client for a local endpoint, with the local credentials."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def dynamodb_client(endpoint: str) -> Any:
    return aws_client("dynamodb", endpoint)


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    dynamodb_port: int = 8000
    monitoring_port: int = 5000
    monitoring_profile: str = "quiet"
    sqs_port: int = 9324
    schedule_interval: float = 1200.0  # the original demonstrated its daily task every 20 minutes
    data_dir: Path | None = None  # None: in memory
    parameters: dict[str, str] = field(default_factory=dict)
    dev_key_file: Path = (
        DEV_KEY_FILE  # the admin development key, kept across restarts (the others beside it)
    )
    status_interval: float = 5.0  # how often the status line is looked at (printed when it changes)
    workers: int | None = None  # warm workers per function at most (None: lambdas.default_workers)


class Stack:
    """The running local stack. `start()` brings everything up; `stop()` takes it all down."""

    def __init__(self, config: StackConfig, template: Template | None = None) -> None:
        self.config = config
        self.template = template or load_template()
        self.dynamodb: DynamoDB | None = None
        self.runtime: LambdaRuntime | None = None
        self.api: ApiGateway | None = None
        self.monitoring: MonitoringSimulator | None = None
        self.sqs_server: ThreadedMotoServer | None = None
        self.eventbus: EventBus | None = None
        self.pollers: list[StreamPoller | SqsPoller | Scheduler] = []
        self.schedulers: list[Scheduler] = []
        self.status: Status | None = None
        self._threads: list[threading.Thread] = []
        self.dev_keys: dict[str, tuple[str, str]] = {}  # (key, status) by role: admin, write, read
        self.dev_key: tuple[str, str] | None = None  # the admin key: every scope of the default account

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.api_port}"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        given = {**self.template.parameter_defaults(), **config.parameters}
        if refused := refused_by_rules(self.template, given):  # as CloudFormation would refuse them
            raise StartError("; ".join(refused))
        self.dynamodb = start_dynamodb(config.dynamodb_port, config.data_dir)
        ensure_tables(dynamodb_client(self.dynamodb.endpoint), self.template, table_names(self.template))
        local = target.local(self.dynamodb.endpoint)
        with target.use_tables(local):
            migrate(out=io.StringIO())  # data from before accounts: the default account's (idempotent)
            recount_plants()  # data from before the plant count was kept counts too
        self.dev_keys = ensure_dev_keys(config.dev_key_file, local)
        self.dev_key = self.dev_keys["admin"]
        self.monitoring = MonitoringSimulator(config.host, config.monitoring_port, config.monitoring_profile)
        try:
            self.monitoring.start()
        except OSError as error:
            self.monitoring = None
            raise StartError(f"monitoring simulator: port {config.monitoring_port}: {error}") from None
        if port_in_use(config.sqs_port):
            raise StartError(f"port {config.sqs_port} (local SQS) is already in use")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines
        self.sqs_server = ThreadedMotoServer(ip_address=config.host, port=config.sqs_port, verbose=False)
        self.sqs_server.start()
        sqs_endpoint = f"http://{config.host}:{config.sqs_port}"
        sqs = aws_client("sqs", sqs_endpoint)
        # moto's queues live as long as the process: an earlier stack in it (tests) may have left
        # some, with messages; start from none (a purge would block the next for 60 s)
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)
        queue_urls = ensure_queues(sqs, self.template)
        parameters = {
            "DynamoDbEndpoint": self.dynamodb.endpoint,
            "MonitoringServiceUrl": self.monitoring.url,
            "SqsEndpoint": sqs_endpoint,
            "ApiGatewayEndpoint": self.api_url,  # its authorizer cache flush (control, below)
            **config.parameters,
        }
        resolved = {**self.template.parameter_defaults(), **parameters}
        self.eventbus = EventBus(
            self.template, resolved, config.host,
            send=lambda queue, body: sqs.send_message(QueueUrl=queue_urls[queue], MessageBody=body),
        )  # fmt: skip
        self.eventbus.start()
        parameters["EventsEndpoint"] = resolved["EventsEndpoint"] = self.eventbus.url
        self.runtime = LambdaRuntime(
            self.template.functions(),
            self.template.layer_dirs(),
            function_environment(self.template, parameters, queue_urls),
            concurrency=config.workers,
            limits=concurrency_limits(self.template, resolved),
        )
        self._start_event_sources(sqs, queue_urls, resolved)
        plants_table = table_names(self.template)["PlantsTable"]
        self.status = Status(
            aws_client("sqs", sqs_endpoint), dynamodb_client(self.dynamodb.endpoint), queue_urls,
            dead_letter_queues(self.template), plants_table, config.status_interval,
        )  # fmt: skip
        self._spawn(self.status.run, "status")
        stage = parameters.get("Stage") or self.template.parameter_defaults().get("Stage", "Prod")
        authorizer = self.template.authorizer(resolved)
        throttling = self.template.throttling(resolved)
        self.api = ApiGateway(
            config.host,
            config.api_port,
            self.template.api_routes(),
            self.runtime,
            stage,
            self.control,
            authorizer=TokenAuthorizer(authorizer, self.runtime.invoke) if authorizer else None,
            throttle=throttling,
            responses=self.template.gateway_responses(),
            tiers=tiers(self.template, resolved),
        )
        self._spawn(self.api.serve_forever, "api")

    def _start_event_sources(self, sqs: Any, queue_urls: dict[str, str], parameters: dict[str, str]) -> None:
        assert self.dynamodb is not None and self.runtime is not None
        dynamodb = aws_client("dynamodb", self.dynamodb.endpoint)
        streams = aws_client("dynamodbstreams", self.dynamodb.endpoint)
        checkpoints = (
            self.config.data_dir.parent / "stream-checkpoints.json" if self.config.data_dir else None
        )

        def sources(kind: str) -> list[tuple[Any, dict[str, Any]]]:
            """The event sources of the functions that exist with these parameters (their Condition)."""
            return [
                (f, resolve_parameters(p, parameters))
                for f, p in self.template.event_sources(kind)
                if condition_holds(
                    self.template, self.template.resources[f.logical_id].get("Condition"), parameters
                )
            ]

        for function, props in sources("DynamoDB"):
            table = props["Stream"]["Fn::GetAtt"][0]
            failure_queue = queue_urls[name] if (name := on_failure_queue(props)) else None
            self.pollers.append(
                StreamPoller(self.runtime, function.logical_id, props, dynamodb, streams, sqs, table,
                             failure_queue, checkpoints)
            )  # fmt: skip
        for function, props in sources("SQS"):
            queue = props["Queue"]["Fn::GetAtt"][0]
            self.pollers.append(
                SqsPoller(self.runtime, function.logical_id, props, sqs, queue_urls[queue], queue_arn(queue))
            )
        for function, _ in sources("Schedule"):
            invoke = self.template.resources[function.logical_id]["Properties"].get("EventInvokeConfig", {})
            failure_queue = on_failure_queue(invoke)
            scheduler = Scheduler(
                self.runtime, function.logical_id, self.config.schedule_interval,
                retries=int(invoke.get("MaximumRetryAttempts", 2)), sqs=sqs,
                failure_queue=queue_urls[failure_queue] if failure_queue else None,
            )  # fmt: skip
            self.schedulers.append(scheduler)
            self.pollers.append(scheduler)
        for poller in self.pollers:
            self._spawn(poller.run, type(poller).__name__)

    def control(self, method: str, path: str) -> tuple[int, str, bytes] | None:
        """The local stack's own pages: Swagger UI, the OpenAPI schema, firing the schedules,
        flushing the authorizer cache (`manage keys revoke` does), the operational status
        (devstack/status.py)."""
        if method == "GET" and path in ("/swagger", "/swagger/"):
            return 200, "text/html; charset=utf-8", swagger_page(openapi_json(self.template)).encode()
        if method == "GET" and path == "/openapi.json":
            return 200, "application/json", openapi_json(self.template).encode()
        if method == "POST" and path == "/__devstack/schedules":
            fired = {s.function: s.fire() for s in self.schedulers}
            return 200, "application/json", json.dumps(fired).encode()
        if method == "GET" and path == "/__devstack/events" and self.eventbus is not None:
            body = {"events": list(self.eventbus.events), "deliveries": list(self.eventbus.deliveries)}
            return 200, "application/json", json.dumps(body, indent=2).encode()
        if (
            method == "DELETE"
            and (path == "/__devstack/authorizer-cache" or _FLUSH.fullmatch(path))
            and self.api
            and self.api.authorizer
        ):
            flushed = {"flushed": self.api.authorizer.flush()}  # as FlushStageAuthorizersCache does on AWS
            return 200, "application/json", json.dumps(flushed).encode()
        if method == "GET" and path == "/__devstack/status" and self.status is not None:
            return 200, "application/json", json.dumps(self.status.snapshot(), indent=2).encode()
        return None

    def _spawn(self, target, name: str) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def describe(self) -> list[str]:
        assert self.dynamodb is not None
        where = self.config.data_dir or "memory"
        key_file = self.config.dev_key_file
        key_file = key_file.relative_to(ROOT) if key_file.is_relative_to(ROOT) else key_file
        keys = []
        for role, (suffix, _, scopes) in DEV_KEYS.items():
            key, status = self.dev_keys.get(role, ("(none)", ""))
            label = f"{role.capitalize()} key".ljust(12)
            keys.append(f"{label} {key}  ({' + '.join(scopes)}, {status}; kept in {key_file}{suffix})")
        return [
            f"API          {self.api_url}/api/solar-plant/   (Swagger UI: {self.api_url}/swagger)",
            f"Dashboard    {self.api_url}/dashboard/  (sign in with a key below)",
            "Account      default  (make keys ARGS='accounts create --name ...' for more)",
            *keys,
            f"DynamoDB     {self.dynamodb.endpoint}  ({self.dynamodb.engine}, data in {where})",
            f"Monitoring   {self.monitoring.url}  (simulator, profile {self.config.monitoring_profile})"
            if self.monitoring
            else "Monitoring   (not started)",
            f"SQS          http://{self.config.host}:{self.config.sqs_port}  (moto server: "
            + ", ".join(self.template.queues())
            + ")",
            f"Schedules    {', '.join(s.function for s in self.schedulers)} every "
            f"{self.config.schedule_interval:g}s; now: curl -X POST {self.api_url}/__devstack/schedules",
            f"Status       {self.api_url}/__devstack/status  (queues, dead letters, each plant's last sync)",
            f"Events       {self.eventbus.url if self.eventbus else '(not started)'}  (EventBridge: alert "
            f"events, also at {self.api_url}/__devstack/events)",
        ]

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
        for poller in self.pollers:
            poller.stop()
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
        if self.monitoring is not None:
            self.monitoring.stop()
        if self.eventbus is not None:
            self.eventbus.stop()
        if self.runtime is not None:
            self.runtime.stop()
        if self.sqs_server is not None:
            self.sqs_server.stop()
        if self.dynamodb is not None:
            self.dynamodb.stop()
