"""/docs: the OpenAPI document rendered by Swagger UI, served from the swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from aiohttp import web

from taxsms.api.errors import ApiError
from taxsms.api.routes import Param, Reply, Route, RouteTable, error_reply

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
SERVED = {  # the files the page loads, and their content types
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>taxsms API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n'
#: Swagger UI sets inline styles and data: images; everything else stays 'self' as on every other page.
DOCS_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


async def docs_page(request: web.Request) -> web.Response:
    """The API's documentation (Swagger UI over /openapi.json)."""
    return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": DOCS_CSP})


async def docs_asset(request: web.Request) -> web.Response:
    """A file of the documentation page."""
    name = request.match_info["asset"]
    if name == "init.js":
        return web.Response(text=INIT, content_type="text/javascript")
    if name not in SERVED:
        raise ApiError(404, "not_found", f"no documentation asset {name!r}")
    body = (ASSETS / name).read_bytes()
    return web.Response(body=body, content_type=SERVED[name], headers={"Cache-Control": "max-age=86400"})


def register_docs_routes(table: RouteTable) -> None:
    page = {200: Reply("HTML page", {"text/html": {"type": "string"}})}
    table.add(Route("GET", "/docs", docs_page, "The API documentation (Swagger UI)", "meta", responses=page))
    asset = {
        200: Reply("The file", {kind: {"type": "string"} for kind in {*SERVED.values(), "text/javascript"}}),
        404: error_reply("No such file"),
    }
    name = Param("asset", "path", {"type": "string", "enum": ["init.js", *SERVED]}, "file name", required=True)
    summary = "A file of the documentation page"
    table.add(Route("GET", "/docs/{asset}", docs_asset, summary, "meta", responses=asset, params=(name,)))
