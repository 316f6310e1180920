"""template.yaml: what the rest of the system relies on it to say."""

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.stack import function_environment
from devstack.tables import create_table_request
from devstack.template import ROOT, TEMPLATE


def test_functions_target_python313_on_arm64(template) -> None:
    function_globals = template.raw["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]


def test_plants_table_streams_new_and_old_images(template) -> None:
    request = create_table_request("t", template.tables()["PlantsTable"])
    assert request["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert request["BillingMode"] == "PAY_PER_REQUEST"


def test_the_layer_is_a_package_plus_requirements(template) -> None:
    (layer,) = template.layer_dirs()
    assert (layer / "requirements.txt").is_file()
    assert (layer / "powerfactor" / "__init__.py").is_file()
    assert not (layer / "python").exists()  # SAM adds python/ itself


def test_every_function_gets_its_table_and_endpoint(template) -> None:
    env = function_environment(template, {"DynamoDbEndpoint": "http://127.0.0.1:1"})
    for variables in env.values():
        assert variables["PLANTS_TABLE"] == "PlantsTable"
        assert variables["DYNAMODB_ENDPOINT"] == "http://127.0.0.1:1"


def test_pydantic_looks_for_no_plugins_in_a_function(template, monkeypatch) -> None:
    """Every function runs with PYDANTIC_DISABLE_PLUGINS, and pydantic then reads no entry points
    (a scan of every installed distribution at the first model of a cold start)."""
    from importlib import metadata

    from pydantic.plugin import _loader

    for variables in function_environment(template, {}).values():
        assert variables["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    scanned: list[object] = []

    def entry_points(**selection: str) -> object:
        scanned.append(selection)
        return metadata.entry_points(**selection)

    monkeypatch.setattr(_loader, "entry_points", entry_points)
    monkeypatch.setattr(_loader, "_plugins", None)
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    assert list(_loader.get_plugins()) == [] and scanned == []
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    list(_loader.get_plugins())
    assert scanned == [{"group": "pydantic"}]  # the test can fail: without the variable, it scans


def test_every_function_has_a_handler_file(template) -> None:
    for function in template.functions().values():
        assert (function.code_dir / f"{function.module}.py").is_file()


# What `sam deploy --guided` runs to ask "... has no authentication. Is this okay? [y/N]"
# (samcli.commands.deploy.guided_context.GuidedContext.prompt_authorization), in the SAM CLI's venv.
_SAM_AUTH_CHECK = """
import json, sys
from samcli.commands.deploy.auth_utils import auth_per_resource
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
stacks, _ = SamLocalStackProvider.get_stacks(sys.argv[1], parameter_overrides={})
print(json.dumps(auth_per_resource(stacks)))
"""


def _sam_auth_check(path: Path) -> list[tuple[str, bool]]:
    python = ROOT / ".venv-tools" / "bin" / "python"
    assert python.exists(), "the SAM CLI's venv is missing: run `make setup`"
    done = subprocess.run(
        [str(python), "-c", _SAM_AUTH_CHECK, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return [tuple(pair) for pair in json.loads(done.stdout)]


def test_sam_deploy_guided_finds_no_route_without_authentication(template, tmp_path) -> None:
    checked = _sam_auth_check(TEMPLATE)
    assert (
        len(checked) == len(template.api_routes()) == 51
    )  # 24, a plant's revisions and revert: 4, the account's keys: 5, portfolios: 11, grants: 5, audit: 2
    assert all(required for _, required in checked), checked  # the dashboard's routes: Auth NONE, stated
    # the same check on the template without the API's Auth block asks about every route
    lines = TEMPLATE.read_text().splitlines()
    start = lines.index("      Auth:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 8))
    (tmp_path / "template.yaml").write_text("\n".join(lines[:start] + lines[end:]))
    asked = _sam_auth_check(tmp_path / "template.yaml")
    assert not any(required for name, required in asked if name != "DashboardFunction"), asked


def test_no_route_but_the_dashboards_files_opts_out_of_the_authorizer(template) -> None:
    assert template.api()["Auth"]["DefaultAuthorizer"] == "ApiKeyAuthorizer"
    public = []
    for name, function in template.functions().items():
        for event in function.events.values():
            if event["Type"] == "Api" and "Auth" in event["Properties"]:
                # nor needs an API key (every other method does: its key's usage plan)
                assert name == "DashboardFunction" and event["Properties"]["Auth"] == {
                    "Authorizer": "NONE", "ApiKeyRequired": False,
                }  # fmt: skip
                public.append(event["Properties"]["Path"])
    assert sorted(public) == ["/dashboard", "/dashboard/{asset}"]


def test_api_gateway_errors_and_limits_are_declared(template) -> None:
    responses = template.gateway_responses()
    statuses = {kind: response.status for kind, response in responses.items()}
    assert statuses["UNAUTHORIZED"] == 401 and statuses["ACCESS_DENIED"] == 403
    assert statuses["THROTTLED"] == 429 and statuses["REQUEST_TOO_LARGE"] == 413
    defaults = template.parameter_defaults()
    assert template.throttling(defaults) == (50.0, 100)
    for name in ("ThrottlingRateLimit", "ThrottlingBurstLimit", "MaxPlants", "AuthorizerCacheTtl"):
        spec = template.raw["Parameters"][name]
        assert spec["Type"] == "Number" and "MinValue" in spec and "MaxValue" in spec and spec["Description"]
    assert template.authorizer(defaults).ttl == 300
    assert template.authorizer({**defaults, "AuthorizerCacheTtl": "0"}).ttl == 0


def test_the_authorizer_reads_only_the_key_and_its_accounts_grants(template) -> None:
    props = template.resources["AuthorizerFunction"]["Properties"]
    (policy,) = props["Policies"]
    key, grants = policy["Statement"]
    assert key["Action"] == "dynamodb:GetItem"
    assert key["Resource"] == {"Fn::GetAtt": ["ApiKeysTable", "Arn"]}
    assert grants["Action"] == "dynamodb:Query"  # the account's partition (access/grant_store.py)
    assert grants["Resource"] == {"Fn::GetAtt": ["AccountsTable", "Arn"]}
    assert function_environment(template, {})["AuthorizerFunction"]["API_KEYS_TABLE"] == "ApiKeysTable"


def test_every_parameter_is_described_typed_and_bounded(template) -> None:
    for name, spec in template.raw["Parameters"].items():
        assert spec["Description"].strip() and spec["Type"] in {"String", "Number"}, name
        if spec["Type"] == "Number":
            assert {"MinValue", "MaxValue"} <= spec.keys() or "AllowedValues" in spec, name
        else:
            assert "AllowedValues" in spec or "AllowedPattern" in spec, name
        if "Default" in spec:  # CloudFormation checks a given value, not the default: we do
            assert _allowed(spec, str(spec["Default"])), name


def _allowed(spec: dict, value: str) -> bool:
    """Whether CloudFormation takes this value for a parameter (its whole value must match)."""
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if spec["Type"] == "Number":
        return float(spec.get("MinValue", "-inf")) <= float(value) <= float(spec.get("MaxValue", "inf"))
    return True


def _samconfig_overrides() -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(overrides))


def test_a_deploy_without_the_monitoring_url_is_refused(template) -> None:
    """`sam deploy` with samconfig.toml's overrides and the defaults: CloudFormation (moto's, which
    refuses a parameter with neither a value nor a default as CloudFormation does) refuses it."""
    parameters = template.raw["Parameters"]
    url = parameters["MonitoringServiceUrl"]
    assert "Default" not in url
    overrides = _samconfig_overrides()
    assert "MonitoringServiceUrl" not in overrides and overrides.keys() <= parameters.keys()
    assert all(_allowed(parameters[name], value) for name, value in overrides.items())
    # the template's parameters as they are, one queue as the stack's only resource
    body = json.dumps({"Parameters": parameters, "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})

    def deploy(values: dict[str, str]) -> str:
        given = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
        with mock_aws():
            cloudformation = boto3.client("cloudformation", region_name="eu-central-1")
            try:
                cloudformation.create_stack(StackName="powerfactor", TemplateBody=body, Parameters=given)
            except ClientError as error:
                return error.response["Error"]["Message"]
            return cloudformation.describe_stacks(StackName="powerfactor")["Stacks"][0]["StackStatus"]

    assert deploy(overrides) == "Missing parameter MonitoringServiceUrl"
    given = {**overrides, "MonitoringServiceUrl": "https://monitoring.example.com/"}
    assert deploy(given) == "CREATE_COMPLETE"
    # moto does not check AllowedPattern; CloudFormation does, on the whole value
    for refused in ("http://monitoring.example.com/", "https://", "monitoring.example", " https://a.b", ""):
        assert not _allowed(url, refused), refused
    for accepted in (
        "https://monitoring.example.com/",
        "https://10.0.0.1:8443/api/v1?x=1",
        "https://m.example",
    ):
        assert _allowed(url, accepted), accepted


def test_optional_parameters_accept_empty_and_refuse_junk(template) -> None:
    parameters = template.raw["Parameters"]
    email = parameters["AlarmEmail"]
    assert _allowed(email, "") and _allowed(email, "ops@example.com")
    assert not _allowed(email, "ops") and not _allowed(email, "a@b.c d@e.f")
    assert _allowed(parameters["DailySyncSchedule"], "rate(1 day)")
    assert not _allowed(parameters["DailySyncSchedule"], "daily")
    assert not _allowed(parameters["LogRetentionDays"], "31")  # not a retention CloudWatch Logs offers
    for endpoint in ("DynamoDbEndpoint", "SqsEndpoint"):  # the local stack's http:// endpoints
        assert _allowed(parameters[endpoint], "") and _allowed(parameters[endpoint], "http://127.0.0.1:8000")
