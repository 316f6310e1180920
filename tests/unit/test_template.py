"""template.yaml: what the rest of the system relies on it to say."""

import json
import subprocess
from pathlib import Path

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
    assert len(checked) == len(template.api_routes()) == 13
    assert all(required for _, required in checked), checked
    # the same check on the template without the API's Auth block asks about every route
    lines = TEMPLATE.read_text().splitlines()
    start = lines.index("      Auth:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 8))
    (tmp_path / "template.yaml").write_text("\n".join(lines[:start] + lines[end:]))
    assert not any(required for _, required in _sam_auth_check(tmp_path / "template.yaml"))


def test_no_route_opts_out_of_the_authorizer(template) -> None:
    assert template.api()["Auth"]["DefaultAuthorizer"] == "ApiKeyAuthorizer"
    for function in template.functions().values():
        for event in function.events.values():
            if event["Type"] == "Api":
                assert "Auth" not in event["Properties"], event


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


def test_the_authorizer_reads_only_the_keys_table(template) -> None:
    props = template.resources["AuthorizerFunction"]["Properties"]
    (policy,) = props["Policies"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "dynamodb:GetItem"
    assert statement["Resource"] == {"Fn::GetAtt": ["ApiKeysTable", "Arn"]}
    assert function_environment(template, {})["AuthorizerFunction"]["API_KEYS_TABLE"] == "ApiKeysTable"
