"""The committed OpenAPI schema is what the code generates (run `make openapi` after API changes)."""

import json

from devstack.openapi import COMMITTED, openapi_json, swagger_page


def test_committed_schema_matches_the_code(template) -> None:
    assert COMMITTED.read_text() == openapi_json(template), "openapi.json is stale: run `make openapi`"


def test_schema_documents_every_route_and_the_error_shape() -> None:
    schema = json.loads(COMMITTED.read_text())
    base = "/api/solar-plant"
    assert set(schema["paths"]) == {
        base, f"{base}/plant/{{plant_id}}", f"{base}/data", f"{base}/report",
        f"{base}/plant/{{plant_id}}/alerts", f"{base}/alerts", f"{base}/plant/{{plant_id}}/sync",
        f"{base}/key", f"{base}/plant/{{plant_id}}/revisions",
        f"{base}/plant/{{plant_id}}/resyncs/{{resync_id}}/revert",
        f"{base}/keys", f"{base}/keys/{{key_id}}",
        f"{base}/portfolios", f"{base}/portfolios/{{portfolio_id}}",
        f"{base}/portfolios/{{portfolio_id}}/plants",
        f"{base}/portfolios/{{portfolio_id}}/plants/{{plant_id}}",
        f"{base}/grants", f"{base}/grants/{{grant_id}}",
        f"{base}/audit",
    }  # fmt: skip
    assert "ErrorResponse" in schema["components"]["schemas"]
    report = schema["paths"]["/api/solar-plant/report"]["get"]
    assert {p["name"] for p in report["parameters"]} >= {"plant-id", "from", "to", "granularity"}
    assert "inclusive" in next(p for p in report["parameters"] if p["name"] == "to")["description"]
    assert set(report["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert {p["name"] for p in report["parameters"]} >= {"tz"}
    patch = schema["paths"][f"{base}/plant/{{plant_id}}"]["patch"]
    assert set(patch["requestBody"]["content"]) == {"application/json", "application/merge-patch+json"}


def test_swagger_page_needs_no_cdn() -> None:
    page = swagger_page('{"openapi": "3.1.0"}')
    assert "SwaggerUIBundle" in page
    assert "<link" not in page and "<script src" not in page  # assets inline: works offline


def test_schema_declares_the_bearer_key_on_every_operation() -> None:
    """Swagger UI shows its Authorize button for this scheme; each operation names its scope."""
    schema = json.loads(COMMITTED.read_text())
    assert schema["components"]["securitySchemes"]["apiKey"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert schema["security"] == [{"apiKey": []}]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["x-required-scope"] == ("read" if method == "get" else "write")
            admin = "/keys" in path or path.endswith("/audit")
            assert operation.get("x-also-required-scope") == ("admin" if admin else None)
            assert {"401", "403", "429"} <= set(operation["responses"])
