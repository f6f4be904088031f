"""Every setting of every taxsms process, declared once and validated once.

Where values come from, later ones winning: the defaults below < the TOML file (`--config FILE` or
`TAXSMS_CONFIG`) < environment variables < command-line flags. Top-level keys (Redis, logging, send windows)
are shared by every command; each process has its own table (`[smpp]`, `[worker]`, `[serve]`, `[replies]`,
`[webhook]`), so two processes' settings of the same name never overwrite each other.

Environment variables are `TAXSMS_<KEY>` for top-level keys and `TAXSMS_<TABLE>_<KEY>` for the others
(`TAXSMS_REDIS_URL`, `TAXSMS_SMPP_WINDOW`, `TAXSMS_SMPP_PASSWORD`); every secret may also come from a file
named by `<VARIABLE>_FILE` (`TAXSMS_SMPP_PASSWORD_FILE=/run/secrets/smpp`), so none is ever needed on a
command line. A wrong type, an out-of-range value, an unknown key (a typo such as `prefx`) or a variable
named like a key of another table is refused with a ConfigError naming the key and where it came from.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints
from urllib.parse import urlsplit, urlunsplit

import msgspec
from msgspec import Meta, Struct

from taxsms.errors import ConfigError

ENV_PREFIX = "TAXSMS_"
CONFIG_ENV = "TAXSMS_CONFIG"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
SECRET = {"secret": True}

Port = Annotated[int, Meta(ge=1, le=65535)]
Positive = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(gt=0)]


def _doc(text: str, **extra: Any) -> Meta:
    return Meta(description=text, extra=extra or None)


class _Table(Struct, forbid_unknown_fields=True, kw_only=True):
    """A table of the settings file."""


class Smpp(_Table):
    """The SMSC link a worker binds to."""

    host: Annotated[str, _doc("SMSC host")] = "127.0.0.1"
    port: Annotated[Port, _doc("SMSC port")] = 2775
    system_id: Annotated[str, Meta(max_length=16), _doc("system_id of the bind")] = "taxsms"
    password: Annotated[str, Meta(max_length=9), _doc("password of the bind", **SECRET)] = ""
    window: Annotated[Positive, Meta(le=4096), _doc("outstanding submit_sm per bind")] = 64
    binds: Annotated[Positive, Meta(le=64), _doc("transceiver binds per worker")] = 1
    source_addr: Annotated[str, _doc("source address of outgoing messages")] = "12366"
    response_timeout: Annotated[Seconds, _doc("seconds to wait for a response PDU")] = 10.0
    enquire_link_interval: Annotated[Seconds, _doc("seconds between enquire_link keep-alives")] = 30.0
    bind_refused_retry_min: Annotated[Seconds, _doc("seconds before retrying a bind refused for its credentials")] = (
        60.0
    )
    bind_refused_retry_max: Annotated[Seconds, _doc("... doubling up to this (retrying at once may lock it)")] = 900.0
    mo_max_pending: Annotated[Positive, _doc("incomplete concatenated MO messages kept per bind (oldest dropped)")] = (
        2000
    )
    mo_max_pending_bytes: Annotated[Positive, _doc("octets of text those incomplete MO messages may hold")] = 4 << 20
    tps: Annotated[float, Meta(ge=0), _doc("segments/s on this link, shared by all its workers (0: no limit)")] = 0.0
    link: Annotated[str, _doc("name of the link the tps belongs to (default host:port:system_id)")] = ""


class Worker(_Table):
    """The dispatcher (`taxsms worker`)."""

    consumer: Annotated[str, _doc("consumer name in the group (default: host-pid)")] = ""
    batch: Annotated[Positive, _doc("stream entries read per call")] = 256
    block_ms: Annotated[Positive, _doc("how long a read blocks, ms")] = 200
    claim_idle_s: Annotated[Seconds, _doc("a pending entry idle this long belongs to a dead worker")] = 60.0
    handback_after_s: Annotated[
        Seconds, _doc("no SMPP bind up this long: claimed jobs not yet at the SMSC go back to the other workers")
    ] = 5.0
    message_id_ttl: Annotated[Positive, _doc("seconds an SMSC message id is kept for its receipt")] = 3 * 24 * 3600
    record_ttl_days: Annotated[float, Meta(ge=0), _doc("days a final job's record is kept (0: for ever)")] = 90.0
    subscription_kinds: Annotated[str, _doc("kinds an unsubscribe suppresses, comma-separated")] = "filing_reminder"
    unknown_subscription: Annotated[
        Literal["send", "suppress"], _doc("phones with no subscription record: send or suppress")
    ] = "suppress"
    daily_caps: Annotated[str, _doc("most messages of a kind per phone per day, e.g. filing_reminder=3")] = (
        "filing_reminder=3"
    )
    quota_kinds: Annotated[str, _doc("kinds stopped when the unit's monthly quota is used up")] = "notice,internal"
    max_retries: Annotated[int, Meta(ge=0), _doc("transient SMSC errors retried, then dead letter")] = 5
    retry_base_s: Annotated[Seconds, _doc("first retry back-off, doubling")] = 30.0
    retry_max_s: Annotated[Seconds, _doc("longest retry back-off")] = 3600.0
    release_interval_s: Annotated[Seconds, _doc("how often delayed jobs are checked for release")] = 0.2
    max_deliveries: Annotated[Positive, _doc("an entry read this often without an outcome is dead-lettered")] = 5
    buffer: Annotated[int, Meta(ge=0), _doc("entries one worker holds, read to in flight (0: from batch, window)")] = 0
    reply_share: Annotated[float, Meta(ge=0, lt=1), _doc("share of the buffer kept for replies")] = 0.25
    stop_timeout_s: Annotated[
        Seconds, _doc("after SIGTERM the worker has shut down within this, whatever Redis does; its process exits next")
    ] = 3.0
    processes: Annotated[Positive, _doc("worker processes on this host, each its own consumer, sharing the tps")] = 1
    receipt_timeout_s: Annotated[
        Seconds, _doc("a submitted job with no receipt this long (or past its expiry) ends unconfirmed")
    ] = 48 * 3600.0
    dead_letter_maxlen: Annotated[Positive, _doc("entries kept in each dead-letter stream (approximately)")] = 100_000
    dead_letter_payload_bytes: Annotated[Positive, _doc("bytes of a refused payload a dead letter keeps")] = 16_384
    orphan_receipts_max: Annotated[Positive, _doc("receipts for unknown message ids kept per shard")] = 10_000
    metrics_host: Annotated[str, _doc("address of the worker's /metrics")] = "127.0.0.1"
    metrics_port: Annotated[int, Meta(ge=0, le=65535), _doc("port of the worker's /metrics (0: none)")] = 0


class Serve(_Table):
    """The HTTP API and console (`taxsms serve`)."""

    host: Annotated[str, _doc("address to listen on")] = "127.0.0.1"
    port: Annotated[Port, _doc("port to listen on")] = 8080
    client_max_size: Annotated[Positive, _doc("bytes of one request body")] = 16 * 1024 * 1024
    bulk_max: Annotated[Positive, _doc("jobs in one JSON array")] = 10_000
    ndjson_max: Annotated[Positive, _doc("jobs in one NDJSON stream")] = 1_000_000
    ndjson_line_max: Annotated[Positive, _doc("bytes of one NDJSON line")] = 64 * 1024
    chunk: Annotated[Positive, _doc("jobs enqueued per Redis round trip")] = 2_000
    rate_limit: Annotated[int, Meta(ge=0), _doc("requests per second per API token (0: no limit)")] = 50
    session_idle_s: Annotated[Positive, _doc("a console session ends after this long without a request")] = 30 * 60
    session_max_s: Annotated[Positive, _doc("and after this long in all")] = 12 * 3600
    plain_http: Annotated[bool, _doc("served over plain HTTP for local use: session cookie without Secure")] = False
    worker_fresh_s: Annotated[Seconds, _doc("a worker heartbeat older than this makes /readyz not ready")] = 15.0


class Replies(_Table):
    """The automatic-reply service (`taxsms replies run`) and staff answers."""

    unit: Annotated[str, _doc("the registered unit replies are sent for (its SMS signature signs them)")] = "12366"
    consumer: Annotated[str, _doc("consumer name in the replies group (default: host-pid)")] = ""
    batch: Annotated[Positive, _doc("MO messages read per call")] = 100
    block_ms: Annotated[Positive, _doc("how long a read blocks, ms")] = 1000
    claim_idle_s: Annotated[Seconds, _doc("a pending MO idle this long belongs to a dead service")] = 60.0
    rate_max: Annotated[Positive, _doc("MO messages per phone answered per rate window")] = 5
    rate_window_s: Annotated[Positive, _doc("rate window, seconds")] = 60
    burst_max: Annotated[Positive, _doc("more than this in the burst window looks like an auto-responder")] = 3
    burst_window_s: Annotated[Positive, _doc("burst window, seconds")] = 10
    last_reply_ttl_s: Annotated[Positive, _doc("seconds the last reply is kept for loop detection")] = 24 * 3600
    loop_similarity: Annotated[float, Meta(ge=0, le=1), _doc("text similarity that counts as a loop")] = 0.9
    retry_s: Annotated[Seconds, _doc("pause after a Redis error")] = 1.0
    provider_url: Annotated[str, _doc("HTTP lookup service for invoices and progress (default: tables in Redis)")] = ""
    provider_timeout_s: Annotated[Seconds, _doc("timeout of one lookup")] = 3.0


class Webhook(_Table):
    """The event relay (`taxsms webhook`)."""

    url: Annotated[str, _doc("the upstream endpoint (POST, JSON array of events)")] = ""
    secret: Annotated[str, _doc("HMAC-SHA256 secret of the signatures", **SECRET)] = ""


class Settings(_Table):
    """The whole settings file: top-level keys every command shares, then one table per process."""

    redis_url: Annotated[str, _doc("redis://, rediss://, unix:// or redis+cluster:// URL (its password is masked)")] = (
        DEFAULT_REDIS_URL
    )
    prefix: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]+$"), _doc("prefix of every Redis key")] = "taxsms"
    log_level: Annotated[Literal["debug", "info", "warning", "error"], _doc("debug, info, warning or error")] = "info"
    log_format: Annotated[Literal["text", "json"], _doc("text, or json (one object per line) for log shippers")] = (
        "text"
    )
    send_window: Annotated[str, _doc("China-time window for staff-published kinds, HH:MM-HH:MM")] = "08:00-18:00"
    days_off: Annotated[bool, _doc("also skip weekends and public holidays (China's calendar)")] = False
    kind_windows: Annotated[str, _doc('per-kind windows, e.g. "internal=07:30-20:00"')] = ""
    calendar_file: Annotated[str, _doc("the bureau's calendar: holidays, filing deadlines (taxsms.holidays)")] = ""
    smpp: Smpp = msgspec.field(default_factory=Smpp)
    worker: Worker = msgspec.field(default_factory=Worker)
    serve: Serve = msgspec.field(default_factory=Serve)
    replies: Replies = msgspec.field(default_factory=Replies)
    webhook: Webhook = msgspec.field(default_factory=Webhook)

    # -- what each process is built from -----------------------------------------------------------------

    def windows(self) -> Any:
        """The send-window policy (taxsms.dispatcher.windows.WindowPolicy) of the worker, the API and plan."""
        from taxsms.dispatcher.windows import WindowPolicy

        return WindowPolicy.build(
            self.send_window, days_off=self.days_off, overrides=self.kind_windows, calendar=self.calendar()
        )

    def calendar(self) -> Any:
        """The holiday and filing calendar (taxsms.holidays.Calendar): calendar_file's, else the package's."""
        from taxsms.holidays import PACKAGE, Calendar

        return Calendar.load(self.calendar_file) if self.calendar_file else PACKAGE

    def worker_config(self) -> Any:
        """The dispatcher's WorkerConfig."""
        from taxsms.dispatcher.config import WorkerConfig

        s, w = self.smpp, msgspec.structs.asdict(self.worker)
        for name in ("metrics_host", "metrics_port", "processes"):
            w.pop(name)
        if not w["consumer"]:
            del w["consumer"]
        return WorkerConfig(
            redis_url=self.redis_url, prefix=self.prefix, smsc_host=s.host, smsc_port=s.port, system_id=s.system_id,
            password=s.password, window=s.window, binds=s.binds, source_addr=s.source_addr,
            response_timeout=s.response_timeout, enquire_link_interval=s.enquire_link_interval,
            bind_refused_retry_min=s.bind_refused_retry_min, bind_refused_retry_max=s.bind_refused_retry_max,
            mo_max_pending=s.mo_max_pending, mo_max_pending_bytes=s.mo_max_pending_bytes,
            tps=s.tps, link=s.link, send_window=self.send_window,
            days_off=self.days_off, kind_windows=self.kind_windows, calendar_file=self.calendar_file, **w,
        )  # fmt: skip

    def api_config(self) -> Any:
        """The HTTP API's ApiConfig."""
        from taxsms.api.config import ApiConfig

        values = msgspec.structs.asdict(self.serve)
        del values["host"], values["port"]
        return ApiConfig(**values, windows=self.windows())

    def reply_config(self) -> Any:
        """The reply service's ReplyConfig."""
        from taxsms.replies.config import ReplyConfig

        values = msgspec.structs.asdict(self.replies)
        del values["provider_url"], values["provider_timeout_s"]
        if not values["consumer"]:
            del values["consumer"]
        return ReplyConfig(**values)


# -- the keys, as a flat list --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: `path` is 'redis_url' or 'smpp.window'."""

    table: str  # "" for top-level keys
    name: str
    kind: Any  # the annotated type msgspec checks values against
    default: Any
    description: str
    secret: bool

    @property
    def path(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def env(self) -> str:
        return (ENV_PREFIX + self.path.replace(".", "_")).upper()


def _keys_of(cls: type[Struct], table: str) -> Iterator[Key]:
    hints = get_type_hints(cls, include_extras=True)
    for field in msgspec.structs.fields(cls):
        kind = hints[field.name]
        if isinstance(kind, type) and issubclass(kind, _Table):
            continue
        metas = [m for m in getattr(kind, "__metadata__", ()) if isinstance(m, Meta)]
        description = next((m.description for m in metas if m.description), "")
        secret = any((m.extra or {}).get("secret") for m in metas)
        yield Key(table, field.name, kind, field.default, description, secret)


TABLES: dict[str, type[_Table]] = {
    "smpp": Smpp, "worker": Worker, "serve": Serve, "replies": Replies, "webhook": Webhook
}  # fmt: skip
KEYS: dict[str, Key] = {
    key.path: key for table, cls in [("", Settings), *TABLES.items()] for key in _keys_of(cls, table)
}


# -- loading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """The effective settings and where each value came from ('default', 'file PATH', 'env VAR', 'flag --x')."""

    settings: Settings
    sources: dict[str, str]


def load(
    config: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    flag_names: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """Defaults < file < environment < `flags` ({'smpp.window': 32, 'redis_url': ...}); raises ConfigError."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources = dict.fromkeys(KEYS, "default")
    path = config or environ.get(CONFIG_ENV)
    if path:
        origin = f"file {path}" + ("" if config else f" (${CONFIG_ENV})")
        for key_path, value in _file_values(Path(path), origin):
            values[key_path] = _check(KEYS[key_path], value, origin, strict=True)
            sources[key_path] = origin
    _refuse_misnamed_env(environ)
    for key in KEYS.values():
        for var, value in _env_values(key, environ):
            values[key.path] = _check(key, value, f"env {var}", strict=False)
            sources[key.path] = f"env {var}"
    for key_path, value in (flags or {}).items():
        if value is None:
            continue
        origin = f"flag {(flag_names or {}).get(key_path, key_path)}"
        values[key_path] = _check(KEYS[key_path], value, origin, strict=False)
        sources[key_path] = origin
    nested: dict[str, Any] = {}
    for key_path, value in values.items():
        table, _, name = key_path.rpartition(".")
        (nested.setdefault(table, {}) if table else nested)[name] = value
    settings = msgspec.convert(nested, Settings)
    _check_meaning(settings, sources)
    return Resolved(settings, sources)


def _file_values(path: Path, origin: str) -> Iterator[tuple[str, Any]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        hint = "give an existing file to --config or $TAXSMS_CONFIG"
        raise ConfigError(f"settings file {path} not found", hint) from None
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc.strerror}", "check its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        hint = "fix the file (see deploy/taxsms.toml.sample)"
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}", hint) from None
    for name, value in data.items():
        if isinstance(value, dict):
            if name not in TABLES:
                raise _unknown(f"[{name}]", [f"[{t}]" for t in TABLES], origin)
            for inner, item in value.items():
                key_path = f"{name}.{inner}"
                if key_path not in KEYS:
                    raise _unknown(key_path, [p for p in KEYS if p.startswith(name + ".")], origin)
                yield key_path, item
        elif name in KEYS and "." not in name:
            yield name, value
        else:
            raise _unknown(name, [p for p in KEYS if "." not in p], origin)


def _unknown(name: str, known: list[str], origin: str) -> ConfigError:
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {near[0]}?" if near else "see `taxsms config show` for every key"
    return ConfigError(f"unknown setting {name} in {origin}", hint)


def _env_values(key: Key, environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    if key.env in environ:
        yield key.env, environ[key.env]
    if key.secret and f"{key.env}_FILE" in environ:
        yield f"{key.env}_FILE", _secret_file(f"{key.env}_FILE", environ[f"{key.env}_FILE"])


def _secret_file(var: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror}", "point it at a readable file") from None


def secret(env: str, environ: Mapping[str, str] | None = None) -> str:
    """A secret that is no setting (an operator's password): $ENV, else the file named by $ENV_FILE, else ''."""
    environ = os.environ if environ is None else environ
    if environ.get(env):
        return environ[env]
    return _secret_file(f"{env}_FILE", environ[f"{env}_FILE"]) if environ.get(f"{env}_FILE") else ""


_NOT_SETTINGS = {"CONFIG", "OPERATOR_PASSWORD", "OPERATOR_PASSWORD_FILE", "NEW_PASSWORD", "NEW_PASSWORD_FILE"}


def _refuse_misnamed_env(environ: Mapping[str, str]) -> None:
    """TAXSMS_WINDOW is no setting (the window is TAXSMS_SMPP_WINDOW): say so instead of ignoring it."""
    known = {key.env for key in KEYS.values()} | {f"{k.env}_FILE" for k in KEYS.values() if k.secret}
    by_name: dict[str, list[str]] = {}
    for key in KEYS.values():
        by_name.setdefault(key.name.upper(), []).append(key.env)
    by_name.setdefault("PASSWORD", []).append(f"{ENV_PREFIX}OPERATOR_PASSWORD")
    for var in environ:
        suffix = var.removeprefix(ENV_PREFIX)
        if var.startswith(ENV_PREFIX) and var not in known and suffix not in _NOT_SETTINGS:
            bare = suffix.removesuffix("_FILE")
            if bare in by_name:
                raise ConfigError(f"environment variable {var} is not a setting", f"use {' or '.join(by_name[bare])}")


_BOOL_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}


def _check(key: Key, value: Any, origin: str, *, strict: bool) -> Any:
    """`value` converted to the key's type (strings from env and flags parsed), or a ConfigError naming it."""
    if not strict and isinstance(value, str) and key.kind is not str:
        value = _BOOL_WORDS.get(value.strip().lower(), value.strip())
    try:
        return msgspec.convert(value, key.kind, strict=strict)
    except msgspec.ValidationError as exc:
        reason = str(exc).split(" - at ", 1)[0].replace("`", "")
        shown = "****" if key.secret else repr(value)
        raise ConfigError(f"{key.path} = {shown} ({origin}): {reason[0].lower()}{reason[1:]}", _fix(origin)) from None


def _fix(origin: str) -> str:
    where, _, name = origin.partition(" ")
    return {"file": f"fix it in {name}", "env": f"fix {name}"}.get(where, f"give {name} a valid value")


def _check_meaning(settings: Settings, sources: Mapping[str, str]) -> None:
    """What a type cannot say: a Redis URL with a scheme, parseable windows and caps."""
    scheme = settings.redis_url.partition("://")[0] if "://" in settings.redis_url else ""
    if scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"redis_url {mask_url(settings.redis_url)!r} ({sources['redis_url']}): needs a scheme",
            "write it as redis://HOST:PORT/DB (or rediss://, unix://, redis+cluster://)",
        )
    try:
        settings.windows()
    except ValueError as exc:
        path = "kind_windows" if "override" in str(exc) else "send_window"
        forms = {"kind_windows": "KIND=HH:MM-HH:MM,..., e.g. internal=07:30-20:00"}
        form = forms.get(path, "HH:MM-HH:MM, e.g. 08:00-18:00")
        raise ConfigError(f"{path} ({sources[path]}): {exc}", f"write it as {form}") from None
    try:
        from taxsms.commalist import pairs

        pairs(settings.worker.daily_caps)
    except ValueError as exc:
        raise ConfigError(f"worker.daily_caps ({sources['worker.daily_caps']}): {exc}", "write kind=N,kind=N") from None


# -- showing -----------------------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by ****."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:****@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def value_of(settings: Settings, key: Key) -> Any:
    table = getattr(settings, key.table) if key.table else settings
    return getattr(table, key.name)


def shown(key: Key, value: Any) -> str:
    """A value as TOML, secrets masked."""
    if key.secret and value:
        return '"****"'
    if key.path == "redis_url":
        value = mask_url(value)
    return _toml(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    return repr(value)


def show(resolved: Resolved) -> str:
    """The effective settings as TOML, each value with its source, secrets masked (`taxsms config show`)."""
    lines: list[str] = []
    for table in ["", *TABLES]:
        if table:
            lines.append(f"\n[{table}]")
        for key in (k for k in KEYS.values() if k.table == table):
            value = shown(key, value_of(resolved.settings, key))
            lines.append(f"{key.name:<22} = {value:<30} # {resolved.sources[key.path]}")
    return "\n".join(lines) + "\n"


def sample() -> str:
    """The commented sample settings file listing every key with its default (deploy/taxsms.toml.sample)."""
    lines = [
        "# taxsms settings (TOML). Every key is optional; the value shown is the default.",
        "# Precedence: defaults < this file (--config FILE or $TAXSMS_CONFIG) < environment < flags.",
        "# Environment: TAXSMS_<KEY> for top-level keys, TAXSMS_<TABLE>_<KEY> for the others;",
        "# secrets also as <VARIABLE>_FILE=/path (e.g. TAXSMS_SMPP_PASSWORD_FILE). Keep secrets out of this file.",
        "# `taxsms config show` prints the effective settings and where each came from.",
    ]
    for table in ["", *TABLES]:
        if table:
            lines += ["", f"[{table}]", f"# {(TABLES[table].__doc__ or '').strip()}"]
        else:
            lines.append("")
        for key in (k for k in KEYS.values() if k.table == table):
            env = f"secret: ${key.env} or ${key.env}_FILE" if key.secret else f"${key.env}"
            lines.append(f"# {key.description} ({env})")
            lines.append(f"# {key.name} = {_toml(key.default)}")
    return "\n".join(lines) + "\n"
