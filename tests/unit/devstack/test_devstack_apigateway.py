"""The local API Gateway: routing taken from template.yaml, and the event shape API Gateway sends."""

import json
from pathlib import Path

import pytest

from devstack.apigateway import build_event, match_route, to_http
from devstack.template import ApiRoute

SAM_EVENT = Path(__file__).parents[1] / "data" / "sam-generate-event-apigateway-aws-proxy.json"


@pytest.mark.parametrize(
    ("method", "path", "resource", "params"),
    [
        ("GET", "/api/solar-plant", "/api/solar-plant", {}),
        ("GET", "/api/solar-plant/", "/api/solar-plant", {}),
        ("POST", "/api/solar-plant", "/api/solar-plant", {}),
        ("PATCH", "/api/solar-plant", "/api/solar-plant", {}),  # ANY on the same resource
        ("GET", "/api/solar-plant/key", "/api/solar-plant/key", {}),
        ("DELETE", "/api/solar-plant/key/", "/api/solar-plant/key", {}),  # ANY: the function's 405
        ("GET", "/api/solar-plant/plant/12", "/api/solar-plant/plant/{plant_id}", {"plant_id": "12"}),
        ("PUT", "/api/solar-plant/plant/a%20b", "/api/solar-plant/plant/{plant_id}", {"plant_id": "a b"}),
        ("GET", "/api/solar-plant/plant/1/x", "/{proxy+}", {"proxy": "api/solar-plant/plant/1/x"}),
        ("GET", "/", "/", {}),
        ("DELETE", "/anything/else", "/{proxy+}", {"proxy": "anything/else"}),
    ],
)
def test_routes_come_from_the_template(template, method, path, resource, params) -> None:
    route, got_params, matched = match_route(template.api_routes(), method, path)
    assert route is not None and route.path == resource == matched
    assert got_params == params


def test_literal_beats_parameter_beats_greedy_and_method_beats_any() -> None:
    routes = [
        ApiRoute("/a/{id}", "GET", "param"),
        ApiRoute("/a/b", "GET", "literal"),
        ApiRoute("/a/b", "ANY", "literal-any"),
        ApiRoute("/{proxy+}", "ANY", "greedy"),
    ]
    assert match_route(routes, "GET", "/a/b")[0].function == "literal"
    assert match_route(routes, "POST", "/a/b")[0].function == "literal-any"
    assert match_route(routes, "GET", "/a/c")[0].function == "param"
    assert match_route(routes, "POST", "/a/c") == (None, {}, "/a/{id}")  # API Gateway: 403
    assert match_route(routes, "GET", "/a/b/c")[0].function == "greedy"


def test_event_has_the_shape_sam_generates(template) -> None:
    reference = json.loads(SAM_EVENT.read_text())
    route, params, _ = match_route(template.api_routes(), "POST", "/api/solar-plant")
    event = build_event(
        route,
        "POST",
        "/api/solar-plant?a=1&a=2&b=",
        params,
        [("Content-Type", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")],
        b'{"name": "x"}',
        "Prod",
    )
    assert set(event) == set(reference)
    assert set(reference["requestContext"]) <= set(event["requestContext"])
    assert event["resource"] == "/api/solar-plant"
    assert event["requestContext"]["path"] == "/Prod/api/solar-plant"
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"]["X-Multi"] == "2" and event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["body"] == '{"name": "x"}' and event["isBase64Encoded"] is False
    assert event["pathParameters"] is None and event["queryStringParameters"] is not None


def test_binary_body_is_base64(template) -> None:
    route, params, _ = match_route(template.api_routes(), "POST", "/api/solar-plant")
    event = build_event(route, "POST", "/api/solar-plant", params, [], b"\xff\x00", "Prod")
    assert event["isBase64Encoded"] is True and event["body"] == "/wA="


def test_results_become_http_responses() -> None:
    status, headers, body = to_http(
        {"statusCode": 201, "headers": {"A": "1"}, "multiValueHeaders": {"B": ["2", "3"]}, "body": "{}"}
    )
    assert (status, headers, body) == (201, [("A", "1"), ("B", "2"), ("B", "3")], b"{}")
    assert to_http({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})[2] == b"hi"
    assert to_http("not a proxy result")[0] == 502
    assert to_http({"body": "missing status"})[0] == 502
