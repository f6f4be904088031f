"""What every taxsms process is composed of: settings -> logging -> event loop -> Redis client -> keys.

Commands (taxsms.cli and each package's cli module), the API, the reply service and bench/ all go through
here, so a Redis URL, a key prefix or a loop policy is resolved in one place:

    cfg = taxsms.settings.load(...).settings
    runtime.setup_logging(cfg.log_level, cfg.log_format)
    runtime.run(main(cfg))                     # uvloop when installed
    async with runtime.redis(cfg) as (redis, keys): ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from taxsms import __version__
from taxsms.errors import USAGE, Unavailable
from taxsms.privacy import PhoneMaskingFilter
from taxsms.queue.connect import RETRYABLE, AnyRedis, connect, keys_for
from taxsms.queue.keys import Keys
from taxsms.settings import DEFAULT_REDIS_URL, Settings, mask_url

T = TypeVar("T")
log = logging.getLogger("taxsms")


def redis_options(parser: argparse.ArgumentParser) -> None:
    """--redis-url and --prefix (the top-level settings redis_url and prefix), for any command using Redis."""
    parser.add_argument("--redis-url", help=f"Redis URL (default {DEFAULT_REDIS_URL}, or $TAXSMS_REDIS_URL)")
    parser.add_argument("--prefix", help="Redis key prefix (default taxsms, or $TAXSMS_PREFIX)")


def redis_arguments() -> argparse.ArgumentParser:
    """The redis_options as a parent parser (`add_parser(..., parents=[...])`)."""
    parent = argparse.ArgumentParser(add_help=False)
    redis_options(parent)
    return parent


def group(subparsers: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """`taxsms NAME ...`: a command whose sub-commands are added to what this returns (one is required)."""
    return subparsers.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", required=True)


def change_options(parser: argparse.ArgumentParser) -> None:
    """--operator and --reason, both required: who makes a change that is recorded (directory, consent), and why."""
    parser.add_argument("--operator", required=True, help="the staff member's operator id")
    parser.add_argument("--reason", required=True, help="why (recorded in the trail)")


def command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Callable[[argparse.Namespace, Settings], int],
    *,
    redis: bool = True,
) -> argparse.ArgumentParser:
    """The sub-command `name`, run as `handler(args, cfg)`, its help the first paragraph of the handler's docstring;
    with --redis-url and --prefix unless `redis` is False."""
    summary = inspect.getdoc(handler)
    if not summary:
        raise TypeError(f"the handler of `{name}` has no docstring to be its help")
    parser = sub.add_parser(name, help=summary.split("\n\n")[0])
    if redis:
        redis_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def import_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Callable[[argparse.Namespace, Settings], int],
    *,
    operator: str = "",
) -> None:
    """A command importing the CSV `file`; with --operator (default "") when `operator` gives its help text."""
    parser = command(sub, name, handler)
    parser.add_argument("file")
    if operator:
        parser.add_argument("--operator", default="", help=operator)


def fail(command: str, error: object) -> int:
    """Say on stderr why `taxsms COMMAND` could not do its work; the exit code for bad input."""
    print(f"taxsms {command}: {error}", file=sys.stderr)
    return USAGE


def print_refused(rows: Iterable[tuple[int, str]]) -> None:
    """The rows an import refused, on stderr: `line N: reason` each."""
    for line, reason in rows:
        print(f"line {line}: {reason}", file=sys.stderr)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop when it is installed, else on the standard asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@contextlib.asynccontextmanager
async def redis(cfg: Settings, **options: Any) -> AsyncIterator[tuple[AnyRedis, Keys]]:
    """A client for cfg.redis_url that answered PING, and its keys; Unavailable when Redis cannot be reached."""
    client = connect(cfg.redis_url, **options)
    try:
        await ping(client, cfg.redis_url)
        yield client, keys_for(client, cfg.prefix)
    finally:
        await client.aclose()


async def ping(client: AnyRedis, url: str) -> None:
    try:
        await client.ping()
    except RETRYABLE as exc:
        raise Unavailable(
            f"cannot reach Redis at {mask_url(url)}: {_reason(exc)}",
            "check redis_url (--redis-url, $TAXSMS_REDIS_URL) and that Redis is running",
        ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(".")


def with_redis(cfg: Settings, work: Callable[[AnyRedis, Keys], Awaitable[T]]) -> T:
    """Run `work(redis, keys)` in a fresh loop with a checked client (what one-shot commands do)."""

    async def go() -> T:
        async with redis(cfg) as (client, keys):
            return await work(client, keys)

    return run(go())


def redis_command(
    work: Callable[[argparse.Namespace, AnyRedis, Keys], Awaitable[int]],
) -> Callable[[argparse.Namespace, Settings], int]:
    """A command handler `(args, cfg) -> exit code` running `work(args, redis, keys)` with a checked client."""

    @functools.wraps(work)
    def handler(args: argparse.Namespace, cfg: Settings) -> int:
        return with_redis(cfg, functools.partial(work, args))

    return handler


# -- logging -----------------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted (not the one at set-up)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Log to stderr at `level`, as text or JSON lines, with phone numbers masked in every record.

    Called again (a second command in one process), it replaces its own handler and leaves others alone.
    """
    handler = _Stderr()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PhoneMaskingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if level != "debug":  # the client libraries' INFO lines are noise for operators
        for noisy in ("asyncio", "redis"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def started(process: str, cfg: Settings, **details: object) -> None:
    """The INFO start-up line every long-running process logs."""
    extra = " ".join(f"{name}={value}" for name, value in details.items())
    log.info(
        "taxsms %s %s starting: redis=%s prefix=%s%s", process, __version__, mask_url(cfg.redis_url), cfg.prefix,
        f" {extra}" if extra else "",
    )  # fmt: skip
