"""The sample events in events/ (for `sam local invoke`) work against the real handler."""

import json

import pytest

from devstack.lambdas import load_handler
from devstack.template import ROOT

EVENTS = ROOT / "events"
pytestmark = pytest.mark.usefixtures("aws")


def _invoke(template, name: str, lambda_context) -> dict:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    function = template.functions()["PlantsApiFunction"]
    return load_handler(function, template.layer_dirs())(event, lambda_context)


def test_sample_events_in_order(template, lambda_context) -> None:
    steps = [
        ("plants-create", 201),
        ("plants-list", 200),
        ("plants-get", 200),
        ("plants-rename", 200),
        ("plants-delete", 204),
        ("plants-get", 404),
    ]
    for name, status in steps:
        assert _invoke(template, name, lambda_context)["statusCode"] == status, name


def test_env_file_names_every_variable_a_function_reads(template) -> None:
    env = json.loads((EVENTS / "env.json").read_text())["Parameters"]
    assert {"DYNAMODB_ENDPOINT", "PLANTS_TABLE"} <= set(env)
    assert set(env) >= {
        k
        for k in template.raw["Globals"]["Function"]["Environment"]["Variables"]
        if not k.startswith("POWERTOOLS_") and not k.startswith("SYNC_")
    }
