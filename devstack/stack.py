"""Assemble the local stack: DynamoDB, the template's tables, the functions, the API."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from devstack.apigateway import ApiGateway
from devstack.dynamodb import DynamoDB, StartError, start_dynamodb
from devstack.lambdas import LambdaRuntime
from devstack.monitoring import MonitoringSimulator
from devstack.tables import ensure_tables
from devstack.template import Template, load_template, resolve_value

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


def function_environment(template: Template, parameters: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would get it, with these parameter values."""
    refs = {**template.parameter_defaults(), **parameters, **table_names(template)}
    environment = {}
    for name, function in template.functions().items():
        env = {key: resolve_value(value, refs) for key, value in function.environment.items()}
        env.update(LOCAL_CREDENTIALS)
        env["AWS_LAMBDA_FUNCTION_NAME"] = name
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        environment[name] = env
    return environment


def dynamodb_client(endpoint: str):  # noqa: ANN201 - boto3 clients have no importable type
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    dynamodb_port: int = 8000
    monitoring_port: int = 5000
    monitoring_profile: str = "quiet"
    data_dir: Path | None = None  # None: in memory
    parameters: dict[str, str] = field(default_factory=dict)


class Stack:
    """The running local stack. `start()` brings everything up; `stop()` takes it all down."""

    def __init__(self, config: StackConfig, template: Template | None = None) -> None:
        self.config = config
        self.template = template or load_template()
        self.dynamodb: DynamoDB | None = None
        self.runtime: LambdaRuntime | None = None
        self.api: ApiGateway | None = None
        self.monitoring: MonitoringSimulator | None = None
        self._threads: list[threading.Thread] = []

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
        self.dynamodb = start_dynamodb(config.dynamodb_port, config.data_dir)
        ensure_tables(dynamodb_client(self.dynamodb.endpoint), self.template, table_names(self.template))
        self.monitoring = MonitoringSimulator(config.host, config.monitoring_port, config.monitoring_profile)
        try:
            self.monitoring.start()
        except OSError as error:
            self.monitoring = None
            raise StartError(f"monitoring simulator: port {config.monitoring_port}: {error}") from None
        parameters = {
            "DynamoDbEndpoint": self.dynamodb.endpoint,
            "MonitoringServiceUrl": self.monitoring.url,
            **config.parameters,
        }
        self.runtime = LambdaRuntime(
            self.template.functions(),
            self.template.layer_dirs(),
            function_environment(self.template, parameters),
        )
        stage = parameters.get("Stage") or self.template.parameter_defaults().get("Stage", "Prod")
        self.api = ApiGateway(config.host, config.api_port, self.template.api_routes(), self.runtime, stage)
        self._spawn(self.api.serve_forever, "api")

    def _spawn(self, target, name: str) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def describe(self) -> list[str]:
        assert self.dynamodb is not None
        where = self.config.data_dir or "memory"
        return [
            f"API          {self.api_url}/api/solar-plant/",
            f"DynamoDB     {self.dynamodb.endpoint}  ({self.dynamodb.engine}, data in {where})",
            f"Monitoring   {self.monitoring.url}  (simulator, profile {self.config.monitoring_profile})"
            if self.monitoring
            else "Monitoring   (not started)",
        ]

    def stop(self) -> None:
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
        if self.monitoring is not None:
            self.monitoring.stop()
        if self.runtime is not None:
            self.runtime.stop()
        if self.dynamodb is not None:
            self.dynamodb.stop()
