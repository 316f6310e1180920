"""template.yaml: what the rest of the system relies on it to say."""

from devstack.stack import function_environment
from devstack.tables import create_table_request


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
