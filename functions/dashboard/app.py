"""Dashboard handler: serves the dashboard's static files (dashboard/, bundled by
dashboard/build.mjs into `static/` next to this file) at `/dashboard/`, same origin as the API.

These are the API's only routes without a credential: the files hold no data, and every request
the page then makes carries the API key the user pastes. The files are read once per execution
environment. index.html is never cached (it names the current bundle); the bundle's names carry
its content hash, so they are cached for a year. Every answer carries a strict Content-Security-
Policy: scripts, styles and requests from this origin only, no inline code, no framing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATIC = Path(os.environ.get("DASHBOARD_STATIC_DIR") or Path(__file__).with_name("static"))
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _load(directory: Path) -> dict[str, tuple[str, str]]:
    """File name -> (content type, text) of every file the build produced."""
    if not directory.is_dir():
        return {}
    return {
        path.name: (TYPES[path.suffix], path.read_text(encoding="utf-8"))
        for path in directory.iterdir()
        if path.suffix in TYPES
    }


FILES = _load(STATIC)


def _answer(status: int, body: str, content_type: str, **headers: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **SECURITY_HEADERS, **headers},
        "body": body,
        "isBase64Encoded": False,
    }


def _error(status: int, code: str, message: str, **headers: str) -> dict[str, Any]:
    body = json.dumps({"error": {"status": status, "code": code, "message": message, "details": []}})
    return _answer(status, body, "application/json", **headers)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event.get("httpMethod", "GET")
    if method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", f"{method} is not allowed here", Allow="GET, HEAD")
    # the resource, not the path: behind a custom domain's base path mapping the path has a prefix
    if event.get("resource") != "/dashboard/{asset}":
        if not (event.get("path") or "").endswith("/"):  # relative: the stage or base path stays
            return _answer(301, "", "text/plain; charset=utf-8", Location="dashboard/")
        name = "index.html"
    else:
        name = ((event.get("pathParameters") or {}).get("asset") or "").strip("/")
    found = FILES.get(name)
    if found is None:
        if not FILES:
            return _error(500, "internal_error", "the dashboard was not built (node dashboard/build.mjs)")
        return _error(404, "not_found", "no such file of the dashboard")
    content_type, body = found
    cache = "no-cache" if name == "index.html" else "public, max-age=31536000, immutable"
    # HEAD gets GET's answer whole: API Gateway sends no body for a HEAD, and the Content-Length
    # it sends is then the GET's, as HTTP wants (an empty body here would make it 0)
    return _answer(200, body, content_type, **{"Cache-Control": cache})
