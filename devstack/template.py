"""template.yaml as the local stack and the tests see it: functions, their routes, and tables.

The template is the single source of truth: tables are created from its definitions and
routes are taken from its Api events. cfn-lint's decoder reads the `!Ref`/`!GetAtt` tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


@dataclass(frozen=True)
class ApiRoute:
    path: str  # API Gateway resource path, e.g. /api/solar-plant/plant/{plant_id}
    method: str  # upper case; ANY matches every method not defined on the resource
    function: str  # logical id of the function
    authorized: bool = True  # False: the event says `Auth: {Authorizer: NONE}` (the dashboard's files)


@dataclass(frozen=True)
class Authorizer:
    """The API's default Lambda authorizer (TOKEN type), as API Gateway is told to run it."""

    function: str  # logical id
    header: str
    validation: str | None  # a header value that does not match is refused without a call
    ttl: int  # seconds a result is cached per header value; 0: not cached


@dataclass(frozen=True)
class GatewayResponse:
    """One of API Gateway's own responses (401, 403, 429, ...) as the template shapes it."""

    status: int
    headers: dict[str, str]
    template: str  # body, with $context.* variables


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    module: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    reserved_concurrency: Any = None  # ReservedConcurrentExecutions: a number or a `!Ref`


@dataclass(frozen=True)
class Template:
    raw: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return self.raw["Resources"]

    def parameter_defaults(self) -> dict[str, str]:
        return {name: str(spec.get("Default", "")) for name, spec in self.raw.get("Parameters", {}).items()}

    def tables(self) -> dict[str, dict[str, Any]]:
        """Logical id -> Properties of every AWS::DynamoDB::Table."""
        return {
            name: res["Properties"]
            for name, res in self.resources.items()
            if res["Type"] == "AWS::DynamoDB::Table"
        }

    def queues(self) -> dict[str, dict[str, Any]]:
        """Logical id -> Properties of every AWS::SQS::Queue."""
        return {
            name: res.get("Properties", {})
            for name, res in self.resources.items()
            if res["Type"] == "AWS::SQS::Queue"
        }

    def event_buses(self) -> list[str]:
        """Logical ids of every AWS::Events::EventBus."""
        return [name for name, res in self.resources.items() if res["Type"] == "AWS::Events::EventBus"]

    def event_sources(self, kind: str) -> list[tuple[Function, dict[str, Any]]]:
        """(function, event Properties) of every event of this type (DynamoDB, SQS, Schedule)."""
        return [
            (fn, event["Properties"])
            for fn in self.functions().values()
            for event in fn.events.values()
            if event["Type"] == kind
        ]

    def functions(self) -> dict[str, Function]:
        glob = self.raw.get("Globals", {}).get("Function", {})
        result = {}
        for name, res in self.resources.items():
            if res["Type"] != "AWS::Serverless::Function":
                continue
            props = res["Properties"]
            env = dict(glob.get("Environment", {}).get("Variables", {}))
            env.update(props.get("Environment", {}).get("Variables", {}))
            module, handler = props["Handler"].rsplit(".", 1)
            result[name] = Function(
                logical_id=name,
                code_dir=ROOT / props["CodeUri"],
                module=module,
                handler=handler,
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
                memory=int(props.get("MemorySize", glob.get("MemorySize", 128))),
                environment=env,
                events=dict(props.get("Events", {})),
                reserved_concurrency=props.get(
                    "ReservedConcurrentExecutions", glob.get("ReservedConcurrentExecutions")
                ),
            )
        return result

    def api_routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                event["Properties"]["Path"],
                event["Properties"]["Method"].upper(),
                fn.logical_id,
                authorized=(event["Properties"].get("Auth") or {}).get("Authorizer") != "NONE",
            )
            for fn in self.functions().values()
            for event in fn.events.values()
            if event["Type"] == "Api"
        ]

    def api(self) -> dict[str, Any]:
        """Properties of the one AWS::Serverless::Api."""
        (props,) = [r["Properties"] for r in self.resources.values() if r["Type"] == "AWS::Serverless::Api"]
        return props

    def authorizer(self, parameters: dict[str, str]) -> Authorizer | None:
        """The API's default authorizer, with these parameter values; None if it has none."""
        auth = resolve_parameters(self.api().get("Auth") or {}, parameters)
        name = auth.get("DefaultAuthorizer")
        if not name:
            return None
        config = auth["Authorizers"][name]
        if config.get("FunctionPayloadType", "TOKEN") != "TOKEN":
            raise ValueError(f"the local stack runs TOKEN authorizers only, not {name}")
        identity = config.get("Identity") or {}
        arn = config["FunctionArn"]  # `!GetAtt F.Arn`, or `!Ref F.Alias` (AutoPublishAlias)
        function = arn["Fn::GetAtt"][0] if "Fn::GetAtt" in arn else arn["Ref"].split(".")[0]
        return Authorizer(
            function=function,
            header=identity.get("Header", "Authorization"),
            validation=identity.get("ValidationExpression"),
            ttl=int(identity.get("ReauthorizeEvery", 300)),
        )

    def throttling(self, parameters: dict[str, str]) -> tuple[float, int] | None:
        """(rate per second, burst) of the stage's `/*` `*` method settings, if set."""
        for setting in resolve_parameters(self.api().get("MethodSettings") or [], parameters):
            if setting.get("ResourcePath") == "/*" and setting.get("HttpMethod") == "*":
                return float(setting["ThrottlingRateLimit"]), int(setting["ThrottlingBurstLimit"])
        return None

    def usage_plans(self, parameters: dict[str, str]) -> dict[str, tuple[float, int]]:
        """Tier -> (rate per second, burst) of each AWS::ApiGateway::UsagePlan, its tier the suffix
        of its name (`${AWS::StackName}-standard`), as powerfactor/aws/apigateway.py finds them,
        in the template's order."""
        plans: dict[str, tuple[float, int]] = {}
        for resource in self.resources.values():
            if resource["Type"] != "AWS::ApiGateway::UsagePlan":
                continue
            props = resolve_parameters(resource["Properties"], parameters)
            name = props["UsagePlanName"]
            name = name.get("Fn::Sub", "") if isinstance(name, dict) else name
            throttle = props["Throttle"]
            plans[str(name).rsplit("-", 1)[-1]] = (float(throttle["RateLimit"]), int(throttle["BurstLimit"]))
        return plans

    def gateway_responses(self) -> dict[str, GatewayResponse]:
        """Response type (UNAUTHORIZED, THROTTLED, ...) -> how the API's GatewayResponses shape it."""
        return {
            kind: GatewayResponse(
                status=int(spec["StatusCode"]),
                headers={
                    name: value.strip("'")
                    for name, value in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items()
                },
                template=(spec.get("ResponseTemplates") or {}).get("application/json", ""),
            )
            for kind, spec in (self.api().get("GatewayResponses") or {}).items()
        }

    def layer_dirs(self) -> list[Path]:
        return [
            ROOT / res["Properties"]["ContentUri"]
            for res in self.resources.values()
            if res["Type"] == "AWS::Serverless::LayerVersion"
        ]


@cache
def load_template(path: Path = TEMPLATE) -> Template:
    raw, matches = decode(str(path))
    if matches or raw is None:
        raise ValueError(f"cannot read {path}: {matches}")
    return Template(raw=plain(raw))


def plain(value: Any) -> Any:
    """cfn-lint's node types as plain dicts, lists and strings (picklable, comparable)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def resolve_value(value: Any, refs: dict[str, str]) -> str:
    """Resolve an environment value: a literal, or `!Ref X` of a parameter or a table."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    raise ValueError(f"the local stack cannot resolve {value!r}")


def resolve_parameters(value: Any, parameters: dict[str, str]) -> Any:
    """`value` with every `!Ref` of a template parameter replaced by the parameter's value."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: resolve_parameters(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_parameters(v, parameters) for v in value]
    return value


def on_failure_queue(config: dict[str, Any] | None) -> str | None:
    """The logical id of the queue named by `DestinationConfig.OnFailure.Destination` (`!GetAtt
    Queue.Arn`) of an event source or an EventInvokeConfig, if any."""
    destination = (((config or {}).get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if isinstance(destination, dict) and "Fn::GetAtt" in destination:
        return destination["Fn::GetAtt"][0]
    return None
