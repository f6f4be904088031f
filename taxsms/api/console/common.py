"""What the console's JSON endpoints share: governance refusals as API errors, JSON bodies, roles, masking."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import msgspec
from aiohttp import web

from taxsms.api.errors import ApiError
from taxsms.api.sessions import Session
from taxsms.api.state import KEYS, REDIS
from taxsms.governance.errors import NotFound, PermissionDenied
from taxsms.governance.operators import Role
from taxsms.templates.review import ContentRejected, ContentReview, ReviewListError

T = TypeVar("T", bound=msgspec.Struct)


@contextmanager
def refusals() -> Iterator[None]:
    """Governance refusals in words: 403 not allowed, 404 unknown, 422 refused content or bad input."""
    try:
        yield
    except PermissionDenied as exc:
        raise ApiError(403, "forbidden", exc.reason) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc).strip("'\"")) from None
    except ContentRejected as exc:
        raise ApiError(422, "content_refused", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from None


async def read_form(request: web.Request, kind: type[T]) -> T:
    """The request's JSON body as `kind`; 400 naming what is wrong."""
    try:
        return msgspec.json.decode(await request.read(), type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError(400, "bad_request", f"expected JSON {kind.__name__}: {exc}") from None


def require_role(session: Session, *roles: Role) -> None:
    """403 unless the operator has one of `roles`."""
    if not set(roles) & session.operator.roles:
        needed = " or ".join(sorted(roles))
        raise ApiError(403, "forbidden", f"operator {session.operator.id} needs the role {needed}")


async def content_review(request: web.Request) -> ContentReview:
    """The forbidden-term list loaded into Redis (`taxsms review load`), else the shipped one."""
    try:
        return await ContentReview.from_redis(request.app[REDIS], request.app[KEYS])
    except ReviewListError:
        return ContentReview.from_file()
