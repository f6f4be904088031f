"""/v1/jobs: enqueue one job, a JSON array of jobs or an NDJSON stream; read one job's record (masked)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from taxsms.api.auth import ApiToken, request_token
from taxsms.api.errors import ERROR_SCHEMA, PROBLEM, ApiError, json_response, problem
from taxsms.api.intake import Intake, IntakeResult
from taxsms.api.routes import JSON, Param, Reply, Route, RouteTable, error_reply, json_reply
from taxsms.api.state import CONFIG, GATE, KEYS, REDIS, STORE
from taxsms.privacy import mask_phone, mask_text
from taxsms.queue.jobs import MAX_JOB_ID_LENGTH

NDJSON = "application/x-ndjson"
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])


def _intake(request: web.Request, token: ApiToken) -> Intake:
    app = request.app
    return Intake(app[REDIS], app[KEYS], app[STORE], token, app[CONFIG].chunk, app[GATE])


async def post_jobs(request: web.Request) -> web.Response:
    """Enqueue jobs: one JSON object, a JSON array (bulk) or NDJSON (application/x-ndjson, streamed)."""
    token = request_token(request)
    if request.content_type == NDJSON:
        return await _post_ndjson(request, token)
    if request.content_type != JSON:
        raise ApiError(415, "unsupported_media_type", f"send {JSON} (one job or an array) or {NDJSON}")
    body = await request.read()
    start = body.lstrip()[:1]
    if start == b"[":
        try:
            items = _raw_list.decode(body)
        except msgspec.DecodeError as exc:
            raise ApiError(400, "bad_json", f"the body is not a JSON array: {exc}") from None
        limit = request.app[CONFIG].bulk_max
        if len(items) > limit:
            raise ApiError(413, "too_many_jobs", f"{len(items)} jobs in one array; at most {limit} (or use {NDJSON})")
        intake = _intake(request, token)
        for index, raw in enumerate(items):
            await intake.feed(index, raw)
        return json_response((await intake.finish()).body())
    if start != b"{":
        raise ApiError(400, "bad_json", "the body must be a JSON object (one job) or an array of jobs")
    intake = _intake(request, token)
    await intake.feed(0, body)
    result = await intake.finish()
    return _single_response(result)


def _single_response(result: IntakeResult) -> web.Response:
    if result.errors:
        error = result.errors[0]
        status = 403 if error.error == "forbidden" else 422
        detail = f"{error.field}: {error.reason}"
        body = msgspec.json.encode(problem(status, error.error, detail, **result.body()))
        return web.Response(body=body, status=status, content_type=PROBLEM)
    return json_response(result.body(), 202 if result.accepted else 200)


async def _post_ndjson(request: web.Request, token: ApiToken) -> web.Response:
    config = request.app[CONFIG]
    intake = _intake(request, token)
    buffer, index = b"", 0
    async for data in request.content.iter_any():
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > config.ndjson_line_max:
            raise ApiError(413, "line_too_long", f"line {index + len(lines)}: more than {config.ndjson_line_max} bytes")
        for line in lines:
            if line.strip():
                if index >= config.ndjson_max:
                    raise ApiError(
                        413, "too_many_jobs", f"at most {config.ndjson_max} jobs per stream", **_so_far(intake)
                    )
                await intake.feed(index, line)
            index += 1
    if buffer.strip():
        await intake.feed(index, buffer)
    return json_response((await intake.finish()).body())


def _so_far(intake: Intake) -> dict[str, Any]:
    return {"accepted": intake.result.accepted, "duplicates": intake.result.duplicates}


async def get_job(request: web.Request) -> web.Response:
    """One job's record: state, times, message ids, receipts; the phone masked unless asked and allowed."""
    token = request_token(request)
    job_id = request.match_info["id"]
    record = await request.app[STORE].job(token.namespace + job_id)
    if record is None or record.get("unit", token.unit) != token.unit:
        raise ApiError(404, "not_found", f"no job {job_id!r} for unit {token.unit!r}")
    full = request.query.get("phone") == "full"
    if full and not token.pii:
        raise ApiError(403, "forbidden", "this token may not read full phone numbers")
    return json_response({"id": job_id, "record": record if full else mask_record(record)})


def mask_record(record: dict[str, str]) -> dict[str, str]:
    """The record with the phone masked, and any phone number inside other fields too."""
    return {name: mask_phone(value) if name == "to" else mask_text(value) for name, value in record.items()}


JOB_SCHEMA_REF = {"$ref": "#/components/schemas/Job"}
#: A bulk array is taken item by item: an invalid item is refused and reported in `errors`, the rest enqueued.
BULK_ITEM = {"description": "a Job (components/schemas/Job); an invalid one is refused alone, reported in errors"}
ITEM_ERROR_SCHEMA = {
    "type": "object",
    "required": ["index", "field", "reason", "id", "error"],
    "properties": {
        "index": {"type": "integer", "description": "0-based position in the array or line of the NDJSON stream"},
        "field": {"type": "string"},
        "reason": {"type": "string"},
        "id": {"type": "string"},
        "error": {"type": "string", "enum": ["invalid_job", "forbidden"]},
    },
}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["accepted", "duplicates", "rejected", "errors"],
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "errors": {"type": "array", "items": ITEM_ERROR_SCHEMA},
    },
}
REFUSED_SCHEMA = {
    "type": "object",
    "required": ERROR_SCHEMA["required"],
    "properties": {**ERROR_SCHEMA["properties"], **RESULT_SCHEMA["properties"]},
}
RECORD_SCHEMA = {
    "type": "object",
    "required": ["id", "record"],
    "properties": {"id": {"type": "string"}, "record": {"type": "object", "additionalProperties": {"type": "string"}}},
}
JOB_ID_PARAM = Param(
    "id", "path", {"type": "string", "minLength": 1, "maxLength": MAX_JOB_ID_LENGTH}, "The job id", required=True
)


def register_job_routes(table: RouteTable, bulk_max: int) -> None:
    table.add(
        Route(
            "POST",
            "/v1/jobs",
            post_jobs,
            "Enqueue one job, a JSON array of jobs (bulk) or an NDJSON stream",
            "jobs",
            auth="token",
            body={
                JSON: {"oneOf": [JOB_SCHEMA_REF, {"type": "array", "maxItems": bulk_max, "items": BULK_ITEM}]},
                NDJSON: {"type": "string", "description": "one job (JSON object) per line"},
            },
            responses={
                200: json_reply("Processed (bulk), or a duplicate (single job)", RESULT_SCHEMA),
                202: json_reply("The job was accepted", RESULT_SCHEMA),
                403: Reply("The job is outside the token's scope", {PROBLEM: REFUSED_SCHEMA}),
                413: error_reply("Body too large, or too many jobs"),
                422: Reply("The job is invalid (field and reason)", {PROBLEM: REFUSED_SCHEMA}),
            },
        )
    )
    table.add(
        Route(
            "GET",
            "/v1/jobs/{id}",
            get_job,
            "One job's record (phone masked; ?phone=full needs a token with PII access)",
            "jobs",
            auth="token",
            params=(JOB_ID_PARAM, Param("phone", "query", {"type": "string", "enum": ["masked", "full"]})),
            responses={200: json_reply("The job's record", RECORD_SCHEMA), 404: error_reply("No such job")},
        )
    )
