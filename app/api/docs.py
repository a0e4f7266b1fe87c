"""Swagger UI at /docs, with its assets served by the service itself (no CDN)."""

from __future__ import annotations

import functools
from pathlib import Path

import swagger_ui_bundle
from quart import Blueprint, Response
from werkzeug.exceptions import NotFound

blueprint = Blueprint("docs", __name__)
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
# The files the page loads, served from memory: a few hundred kilobytes read once,
# instead of a file opened per request (and nothing else of the bundle's folder).
ASSET_TYPES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui-standalone-preset.js": "application/javascript",
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Assistente Tasks API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""


@blueprint.get("/docs")
async def docs() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@blueprint.get("/docs/init.js")
async def init() -> Response:
    return Response(INIT, content_type="application/javascript")


@blueprint.get("/docs/assets/<path:name>")
async def assets(name: str) -> Response:
    content_type = ASSET_TYPES.get(name)
    if content_type is None:
        raise NotFound(f"There is no Swagger UI asset named {name!r}.")
    response = Response(asset(name), content_type=content_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@functools.cache
def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()
