"""Swagger UI at /docs, with its assets served by the service itself (no CDN)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from quart import Blueprint, Response, send_from_directory

blueprint = Blueprint("docs", __name__)
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)

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
    return await send_from_directory(ASSETS, name)
