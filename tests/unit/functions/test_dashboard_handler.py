"""The dashboard's handler (functions/dashboard/app.py) on API Gateway events, with files of its own."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from devstack.template import ROOT


@pytest.fixture
def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "app-ABC123.js").write_text("console.log(1)")
    (tmp_path / "style-DEF456.css").write_text("body{}")
    (tmp_path / "notes.txt").write_text("not served")
    monkeypatch.setenv("DASHBOARD_STATIC_DIR", str(tmp_path))
    source = ROOT / "functions" / "dashboard" / "app.py"
    spec = importlib.util.spec_from_file_location("dashboard_app", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(module: ModuleType, path: str, method: str = "GET") -> dict:
    asset = path.removeprefix("/dashboard/") or None if path.startswith("/dashboard/") else None
    event = {
        "httpMethod": method,
        "path": path,
        "resource": "/dashboard/{asset}" if asset else "/dashboard",
        "pathParameters": {"asset": asset} if asset else None,
    }
    return module.lambda_handler(event, None)


def test_the_page_and_its_bundle_with_their_caching_and_a_strict_policy(dashboard) -> None:
    page = _get(dashboard, "/dashboard/")
    assert page["statusCode"] == 200 and page["body"].startswith("<!doctype html>")
    assert page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert page["headers"]["Cache-Control"] == "no-cache"
    policy = page["headers"]["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors"):
        assert directive in policy
    script = _get(dashboard, "/dashboard/app-ABC123.js")
    assert script["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert script["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
    assert _get(dashboard, "/dashboard/style-DEF456.css")["headers"]["X-Content-Type-Options"] == "nosniff"
    head = _get(dashboard, "/dashboard/app-ABC123.js", "HEAD")
    assert head == script  # the gateway drops the body of a HEAD and keeps its Content-Length


def test_without_the_slash_a_relative_redirect_keeps_the_stage(dashboard) -> None:
    answer = _get(dashboard, "/dashboard")
    assert answer["statusCode"] == 301 and answer["headers"]["Location"] == "dashboard/"


@pytest.mark.parametrize("asset", ["notes.txt", "..%2F..%2Fapp.py", "../app.py", "nope.js", "index.html/x"])
def test_only_the_built_files_are_served(dashboard, asset) -> None:
    answer = _get(dashboard, f"/dashboard/{asset}")
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["code"] == "not_found"


def test_other_methods_get_405_and_an_unbuilt_dashboard_says_so(dashboard, tmp_path, monkeypatch) -> None:
    answer = _get(dashboard, "/dashboard/", "POST")
    assert answer["statusCode"] == 405 and answer["headers"]["Allow"] == "GET, HEAD"
    monkeypatch.setattr(dashboard, "FILES", {})
    assert "not built" in json.loads(_get(dashboard, "/dashboard/")["body"])["error"]["message"]
