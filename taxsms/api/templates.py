"""/v1/templates: the reviewed template catalog (list) and previews (final text, segments, review verdict).

Thin endpoints over taxsms.templates.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from taxsms.api.auth import request_token
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import JSON, Param, Route, RouteTable, error_reply, json_reply
from taxsms.api.state import KEYS, REDIS
from taxsms.templates import ContentReview, ReviewListError, Signature, TemplateCatalog, TemplateError, preview


async def _catalog(request: web.Request) -> TemplateCatalog:
    """The catalog saved in Redis (`taxsms template load`), else the shipped defaults."""
    catalog = await TemplateCatalog.load_from_redis(request.app[REDIS], request.app[KEYS])
    return catalog if len(catalog) else TemplateCatalog.from_dir()


async def list_templates(request: web.Request) -> web.Response:
    """Templates of the kinds this token may send."""
    token = request_token(request)
    catalog = await _catalog(request)
    templates = [
        {
            "name": t.name,
            "kind": t.kind.value,
            "variables": list(t.variables),
            "sign_operator": t.sign_operator,
            "description": t.description,
            "body": t.body,
        }
        for t in catalog
        if t.kind.value in token.kinds
    ]
    return json_response({"templates": templates})


class _PreviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    unit_name: str
    vars: dict[str, str | int | float] = {}
    operator_name: str = ""


async def preview_template(request: web.Request) -> web.Response:
    """Render a template with variables and a signature; report cost and any forbidden content."""
    token = request_token(request)
    name = request.match_info["name"]
    try:
        form = msgspec.json.decode(await request.read(), type=_PreviewRequest)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_request", f"expected JSON {{unit_name, vars, operator_name}}: {exc}") from None
    catalog = await _catalog(request)
    if name not in catalog:
        raise ApiError(404, "not_found", f"no template {name!r}")
    if catalog.get(name).kind.value not in token.kinds:
        raise ApiError(403, "forbidden", f"this token may not send {catalog.get(name).kind.value!r} messages")
    try:
        review = await ContentReview.from_redis(request.app[REDIS], request.app[KEYS])
    except ReviewListError:
        review = None  # the shipped forbidden-term list
    try:
        result = preview(catalog, name, form.vars, Signature(form.unit_name, form.operator_name), review)
    except TemplateError as exc:
        raise ApiError(422, "invalid_variables", str(exc), variable=exc.variable) from None
    matches = [{"term": m.term, "category": m.category, "found": m.found} for m in result.matches]
    return json_response(
        {
            "template": result.template,
            "text": result.text,
            "encoding": result.encoding,
            "segments": result.segments,
            "characters": result.characters,
            "clean": result.clean,
            "matches": matches,
        }
    )


TEMPLATE_SCHEMA = {
    "type": "object",
    "required": ["name", "kind", "variables", "sign_operator", "description", "body"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "variables": {"type": "array", "items": {"type": "string"}},
        "sign_operator": {"type": "boolean"},
        "description": {"type": "string"},
        "body": {"type": "string"},
    },
}
PREVIEW_REQUEST = {
    "type": "object",
    "required": ["unit_name"],
    "additionalProperties": False,
    "properties": {
        "unit_name": {"type": "string", "minLength": 1, "description": "the sending unit shown in 【】"},
        "vars": {"type": "object", "additionalProperties": {"type": ["string", "integer", "number"]}},
        "operator_name": {"type": "string"},
    },
}
PREVIEW_SCHEMA = {
    "type": "object",
    "required": ["template", "text", "encoding", "segments", "characters", "clean", "matches"],
    "properties": {
        "template": {"type": "string"},
        "text": {"type": "string"},
        "encoding": {"type": "string"},
        "segments": {"type": "integer"},
        "characters": {"type": "integer"},
        "clean": {"type": "boolean"},
        "matches": {"type": "array", "items": {"type": "object"}},
    },
}


def register_template_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "GET",
            "/v1/templates",
            list_templates,
            "The template catalog (kinds this token may send)",
            "templates",
            auth="token",
            responses={
                200: json_reply(
                    "Templates",
                    {
                        "type": "object",
                        "required": ["templates"],
                        "properties": {"templates": {"type": "array", "items": TEMPLATE_SCHEMA}},
                    },
                )
            },
        )
    )
    table.add(
        Route(
            "POST",
            "/v1/templates/{name}/preview",
            preview_template,
            "Render a template: final text, segments, forbidden content",
            "templates",
            auth="token",
            params=(Param("name", "path", {"type": "string", "minLength": 1, "maxLength": 100}, required=True),),
            body={JSON: PREVIEW_REQUEST},
            responses={
                200: json_reply("The preview", PREVIEW_SCHEMA),
                404: error_reply("No such template"),
                422: error_reply("Variables or signature refused (names the variable)"),
            },
        )
    )
