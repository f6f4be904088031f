"""The OpenAPI 3.1 document, generated from the route table (so it cannot drift from what is served)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from taxsms import __version__
from taxsms.api.errors import json_response
from taxsms.api.routes import Param, Reply, Route, RouteTable, json_reply
from taxsms.api.sessions import COOKIE, CSRF_HEADER
from taxsms.api.state import ROUTES
from taxsms.queue.jobs import Job

SECURITY = {"token": [{"bearerAuth": []}], "session": [{"sessionCookie": []}], "none": []}


def _parameter(param: Param) -> dict[str, Any]:
    doc = {"name": param.name, "in": param.where, "required": param.required or param.where == "path"}
    return {**doc, "schema": param.schema, **({"description": param.description} if param.description else {})}


def _reply(reply: Reply) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": reply.description}
    if reply.content:
        doc["content"] = {ctype: {"schema": schema} for ctype, schema in reply.content.items()}
    if reply.headers:
        doc["headers"] = reply.headers
    return doc


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "security": SECURITY[route.auth],
        "responses": {str(status): _reply(reply) for status, reply in sorted(route.all_responses().items())},
    }
    params = [_parameter(p) for p in route.params]
    if route.csrf:
        params.append({"name": CSRF_HEADER, "in": "header", "required": True, "schema": {"type": "string"}})
    if params:
        op["parameters"] = params
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {ctype: {"schema": schema} for ctype, schema in route.body.items()},
        }
    return op


def build_openapi(table: RouteTable) -> dict[str, Any]:
    """The OpenAPI document for every route in `table`."""
    _, components = msgspec.json.schema_components([Job], ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "taxsms",
            "version": __version__,
            "description": "12366 taxpayer-service SMS platform: job intake, status, usage, console and metrics",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token (taxsms api-token)"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": COOKIE},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """This document."""
    return json_response(build_openapi(request.app[ROUTES]))


def register_openapi_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "GET",
            "/openapi.json",
            openapi,
            "The OpenAPI 3.1 document of this API",
            "meta",
            responses={200: json_reply("OpenAPI document", {"type": "object"})},
        )
    )
