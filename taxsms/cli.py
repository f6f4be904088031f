"""The `taxsms` command. Its sub-commands and flags are a contract ops scripts rely on: keep them stable.

Each package adds its sub-commands with `add_commands(subparsers)`, one line in FEATURES below; every
sub-command sets `handler(args, cfg) -> exit code`, where `cfg` is the validated taxsms.settings.Settings.
A failure ends in one line on stderr (what was wrong; what to do) and an exit code from taxsms.errors;
`-v` (or `--log-level debug`) adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import msgspec
from redis.exceptions import RedisError

from taxsms import __version__, errors, runtime, settings
from taxsms.errors import InvalidInput, NotFound, TaxsmsError, Unavailable
from taxsms.settings import Settings

log = logging.getLogger("taxsms.cli")

#: Packages whose cli module adds sub-commands (`add_commands(subparsers)`); one line each.
FEATURES = (
    "taxsms.replies.cli",
    "taxsms.templates.cli",
    "taxsms.governance.cli",
    "taxsms.api.cli",
    "taxsms.dead",
    "taxsms.directory.cli",
)


def _hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


class _Parser(argparse.ArgumentParser):
    """argparse that ends a usage mistake in one line (and exit code 2) instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(errors.USAGE, f"{self.prog}: {message}; see {self.prog} --help\n")


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--config", default=default, help="TOML settings file (default: $TAXSMS_CONFIG)")
    parser.add_argument(
        "-v", "--verbose", dest="log_level", action="store_const", const="debug", default=default,
        help="log at debug level, and show the traceback of a failure",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default=default, help="default: info"
    )
    parser.add_argument("--log-format", choices=["text", "json"], default=default, help="json: one object per line")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="taxsms", description="12366 taxpayer-service SMS dispatcher")
    parser.add_argument("--version", action="version", version=f"taxsms {__version__}")
    _common_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on 10,000 jobs against the SMSC simulator")
    demo.add_argument("--jobs", type=int, default=10_000)
    demo.add_argument("--data-dir", type=Path, help="where the private Redis keeps its AOF (default: a new temp dir)")
    demo.add_argument("--redis-url", dest="demo_redis_url", help="use this Redis instead of starting a private one")
    demo.add_argument("--keep", action="store_true", help="then keep everything and the console running (Ctrl-C)")
    demo.set_defaults(handler=cmd_demo)

    worker = sub.add_parser("worker", help="dispatch jobs from Redis to an SMSC")
    runtime.redis_options(worker)
    worker.add_argument("--smsc", type=_hostport, help="HOST:PORT of the SMSC")
    worker.add_argument("--system-id", dest="smpp.system_id")
    worker.add_argument("--window", dest="smpp.window", help="outstanding submit_sm per bind (default 64)")
    worker.add_argument("--binds", dest="smpp.binds", help="transceiver binds to the SMSC (default 1)")
    worker.add_argument("--consumer", dest="worker.consumer", help="consumer name in the group (default host-pid)")
    worker.add_argument("--tps", dest="smpp.tps", help="segments/s on this SMSC link, shared by all its workers")
    worker.add_argument("--link", dest="smpp.link", help="name of the link the --tps belongs to (default HOST:PORT:ID)")
    worker.add_argument("--send-window", help="China-time window for staff-published kinds (default 08:00-18:00)")
    worker.add_argument("--days-off", action="store_true", default=None, help="also skip weekends and holidays")
    worker.add_argument("--metrics-port", dest="worker.metrics_port", help="serve Prometheus /metrics on this port")
    worker.add_argument(
        "--processes", dest="worker.processes", help="worker processes on this host (each its own consumer and "
        "metrics port, counted up from --metrics-port), sharing --tps; default 1"
    )  # fmt: skip
    worker.add_argument("--metrics-host", dest="worker.metrics_host", help="address of /metrics (default 127.0.0.1)")
    worker.set_defaults(handler=cmd_worker)

    hook = sub.add_parser("webhook", help="post job events to an upstream webhook (HMAC-signed, retried)")
    runtime.redis_options(hook)
    hook.add_argument("--url", dest="webhook.url", help="the upstream endpoint (POST, JSON array of events)")
    hook.set_defaults(handler=cmd_webhook)

    plan = sub.add_parser("plan", help="predict when a set of jobs will have gone out, and what would expire")
    plan.add_argument("file", help="file of JSON jobs, one per line, or - for standard input")
    plan.add_argument("--tps", type=float, required=True, help="segments/s of the SMSC link")
    plan.add_argument("--start", help="when sending starts, ISO 8601 (default now; no offset = China time)")
    plan.add_argument("--send-window", help="China-time window for staff-published kinds (default 08:00-18:00)")
    plan.add_argument("--days-off", action="store_true", default=None, help="also skip weekends and holidays")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.set_defaults(handler=cmd_plan)

    enqueue = sub.add_parser("enqueue", help="enqueue jobs, one JSON object per line")
    runtime.redis_options(enqueue)
    enqueue.add_argument("file", help="file of JSON lines, or - for standard input")
    enqueue.add_argument("--token", help="send as this API token (default: $TAXSMS_TOKEN)")
    enqueue.add_argument("--as", dest="actor", help="send as this operator (password: $TAXSMS_OPERATOR_PASSWORD)")
    enqueue.set_defaults(handler=cmd_enqueue)

    status = sub.add_parser("status", help="job counts by state, or one job's record")
    runtime.redis_options(status)
    status.add_argument("job_id", nargs="?")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--show-phone", action="store_true", help="print the full phone number (masked by default)")
    status.set_defaults(handler=cmd_status)

    sim = sub.add_parser("simulator", help="run the SMSC simulator (an SMPP 3.4 server)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=2775)
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--tps", type=float, default=None, help="accept at most this many submit_sm per second")
    sim.add_argument("--dlr-ms", type=float, default=50.0, help="delay before the delivery receipt")
    sim.add_argument("--undeliv-rate", type=float, default=0.0, help="fraction of receipts that are UNDELIV")
    sim.add_argument("--system-id", default="taxsms")
    sim.add_argument("--password", default=None, help="required password (default: accept any)")
    sim.set_defaults(handler=cmd_simulator)

    config = sub.add_parser("config", help="the settings: effective values and where they came from")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective settings (secrets masked) with their sources")
    runtime.redis_options(show)
    show.set_defaults(handler=cmd_config_show)
    config_sub.add_parser("sample", help="print a commented settings file listing every key").set_defaults(
        handler=lambda args, cfg: print(settings.sample(), end="") or 0
    )

    for feature in FEATURES:
        importlib.import_module(feature).add_commands(sub)
    for command in _subparsers(parser):  # --config, -v, --log-level also after the sub-command
        _common_options(command, argparse.SUPPRESS)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subparsers(child)


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    names = {}
    for command in [parser, *_subparsers(parser)]:
        for action in command._actions:
            if action.dest in settings.KEYS and action.option_strings:
                names[action.dest] = action.option_strings[-1]
    return names | {"smpp.host": "--smsc", "smpp.port": "--smsc"}


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    values = {name: value for name, value in vars(args).items() if name in settings.KEYS}
    if getattr(args, "smsc", None):
        values["smpp.host"], values["smpp.port"] = args.smsc
    return values


def resolve(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> settings.Resolved:
    """The settings for `args`: file, environment, then the flags given."""
    names = _flag_names(parser or build_parser())
    return settings.load(getattr(args, "config", None), _flags(args), flag_names=names)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = " ".join([args.command, *(v for k, v in vars(args).items() if k.endswith(("_command", "_action")))])
    debug = args.log_level == "debug"
    try:
        cfg = resolve(args, parser).settings
        runtime.setup_logging(cfg.log_level, cfg.log_format)
        return args.handler(args, cfg)
    except KeyboardInterrupt:
        return errors.INTERRUPTED
    except Exception as exc:  # every failure: one line, a documented code; the traceback only with -v
        error = explain(exc)
        if debug:
            traceback.print_exc()
        print(f"taxsms {name}: {error.line()}", file=sys.stderr)
        return error.exit_code


def explain(exc: BaseException) -> TaxsmsError:
    """The TaxsmsError a failure means to its user (a bug becomes an internal error asking for -v)."""
    if isinstance(exc, TaxsmsError):
        return exc
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        where = f" {exc.filename}" if exc.filename else ""
        return InvalidInput(f"cannot open{where}: {exc.strerror or exc}", "check the path")
    if isinstance(exc, RedisError | ConnectionError | TimeoutError):
        return Unavailable(f"Redis failed: {runtime._reason(exc)}", "check that Redis is up and reachable")
    if isinstance(exc, OSError):
        return Unavailable(f"{exc.strerror or exc}", "check the address and that nothing else holds it")
    if isinstance(exc, ValueError):
        return InvalidInput(str(exc) or type(exc).__name__, "see --help")
    return TaxsmsError(
        f"internal error: {type(exc).__name__}: {exc}", "run again with -v for the traceback and report it"
    )


def _serve_until_signal(stop: Any) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def cmd_config_show(args: argparse.Namespace, cfg: Settings) -> int:
    print(settings.show(resolve(args)), end="")
    return 0


def cmd_demo(args: argparse.Namespace, cfg: Settings) -> int:
    from rich.console import Console

    from taxsms.demo import print_summary, run_demo

    if args.log_level is None:  # the demo's own output, not every bind and request, unless asked for
        logging.getLogger().setLevel(logging.WARNING)
    console = Console()
    demo = run_demo(
        jobs=args.jobs, data_dir=args.data_dir, redis_url=args.demo_redis_url, console=console, keep=args.keep
    )
    result = runtime.run(demo)
    if not args.keep:  # --keep printed it before it kept running
        print_summary(result, console)
    return 0


def cmd_worker(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.dispatcher.metrics import serve_metrics
    from taxsms.dispatcher.processes import supervise
    from taxsms.dispatcher.worker import Worker

    if cfg.worker.processes > 1:
        return supervise(
            sys.argv[1:], cfg.worker.processes, consumer=cfg.worker.consumer, metrics_port=cfg.worker.metrics_port
        )

    config = cfg.worker_config()
    s = cfg.smpp

    async def serve() -> None:
        async with runtime.redis(cfg, socket_keepalive=True) as (redis, _):
            runtime.started(
                "worker", cfg, smsc=f"{s.host}:{s.port}", system_id=s.system_id, binds=s.binds, window=s.window,
                tps=s.tps or "unlimited", link=config.link_name, send_windows=f"'{cfg.windows().window_text()}'",
                metrics=f"{cfg.worker.metrics_host}:{cfg.worker.metrics_port}" if cfg.worker.metrics_port else "off",
            )  # fmt: skip
            worker = Worker(config, redis=redis)
            worker.tune_gc()
            _serve_until_signal(worker.stop)
            exporter = None
            if cfg.worker.metrics_port:
                exporter = await serve_metrics(worker, cfg.worker.metrics_host, cfg.worker.metrics_port)
            try:
                await worker.run()
            finally:
                if exporter is not None:
                    await exporter.cleanup()

    runtime.run(serve())
    return 0


def _lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the generator closes it
    except OSError as exc:
        raise InvalidInput(f"cannot open {path}: {exc.strerror}", "give an existing file of JSON lines, or -") from None
    with fh:
        yield from fh


def cmd_enqueue(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.governance.enqueue import enqueue_as, resolve_principal
    from taxsms.privacy import mask_text
    from taxsms.queue.jobs import JobError

    lines = _lines(args.file)
    first = next(lines, None)  # a missing file fails here, before Redis is asked anything
    reasons: Counter[str] = Counter()

    def refused_line(number: int, error: JobError) -> None:
        reasons[error.field] += 1
        print(f"line {number}: {mask_text(str(error))}", file=sys.stderr)

    async def go(redis: Any, keys: Any) -> tuple[int, int]:
        principal = await resolve_principal(redis, keys, token=args.token or "", operator=args.actor or "")
        jobs = [first, *lines] if first is not None else []
        return await enqueue_as(redis, keys, jobs, principal, on_refused=refused_line)

    added, refused = runtime.with_redis(cfg, go)
    why = f" ({', '.join(f'{field}: {n}' for field, n in reasons.most_common())}; see taxsms dead list)"
    print(f"enqueued {added} jobs; {refused} refused to the dead-letter stream{why if refused else ''}")
    return errors.PARTIAL if refused else errors.OK


def cmd_status(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.privacy import mask_phone
    from taxsms.queue.store import JobStore

    async def go(redis: Any, keys: Any) -> int:
        store = JobStore(redis, keys)
        if args.job_id:
            record = await store.job(args.job_id)
            if record is None:
                raise NotFound(f"no job {args.job_id!r}", "check the id (taxsms status lists the counts)")
            if not args.show_phone:
                record["to"] = mask_phone(record.get("to", ""))
                record.pop("job", None)  # the stored JSON holds the full number too
            if args.json:
                print(msgspec.json.format(msgspec.json.encode(record)).decode())
            else:
                for name, value in record.items():
                    print(f"{name:>16}  {value}")
            return 0
        counts = await store.counts()
        if args.json:
            print(msgspec.json.encode(counts).decode())
        else:
            for name, value in counts.items():
                print(f"{name:>14}  {value}")
        return 0

    return runtime.with_redis(cfg, go)


def cmd_webhook(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.dispatcher.webhooks import WebhookRelay

    hook = cfg.webhook
    if not hook.url:
        raise errors.ConfigError("webhook.url is not set", "give --url, $TAXSMS_WEBHOOK_URL or [webhook] url")
    if not hook.secret:
        raise errors.ConfigError(
            "webhook.secret is not set", "set $TAXSMS_WEBHOOK_SECRET or $TAXSMS_WEBHOOK_SECRET_FILE"
        )

    async def serve() -> None:
        async with runtime.redis(cfg) as (redis, keys):
            runtime.started("webhook", cfg, url=hook.url)
            relay = WebhookRelay(redis, keys, hook.url, hook.secret)
            _serve_until_signal(relay.stop)
            await relay.run()

    runtime.run(serve())
    return 0


def cmd_plan(args: argparse.Namespace, cfg: Settings) -> int:
    from datetime import datetime

    from taxsms.dispatcher.planning import plan
    from taxsms.queue.jobs import CHINA, JobError, parse_job

    if args.tps <= 0:
        raise InvalidInput(f"--tps {args.tps:g}: must be more than 0", "give the link's segments per second")
    jobs, refused = [], 0
    for number, raw in enumerate(_lines(args.file), 1):
        if not raw.strip():
            continue
        try:
            jobs.append(parse_job(raw))
        except JobError as error:
            refused += 1
            print(f"line {number}: {error}", file=sys.stderr)
    if args.start:
        try:
            moment = datetime.fromisoformat(args.start)
        except ValueError:
            raise InvalidInput(f"--start {args.start!r}: not an ISO 8601 time", "e.g. 2026-11-14T08:00") from None
        start = (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp()
    else:
        start = datetime.now(CHINA).timestamp()
    windows = cfg.windows()
    result = plan(jobs, tps=args.tps, windows=windows, start=start)

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, CHINA).strftime("%Y-%m-%d %H:%M:%S")

    if args.json:
        out = {
            "jobs": result.jobs, "segments": result.segments, "refused": refused, "tps": result.tps,
            "start": when(start), "last_send": when(result.last_send) if result.jobs else None,
            "busy_seconds": round(result.busy_seconds, 3), "late": result.late, "late_examples": result.late_examples,
            "kinds": {k: {"jobs": v.jobs, "segments": v.segments, "first": when(v.first), "last": when(v.last),
                          "late": v.late} for k, v in result.kinds.items()},
        }  # fmt: skip
        print(msgspec.json.format(msgspec.json.encode(out)).decode())
        return errors.PARTIAL if result.late else errors.OK
    print(f"{result.jobs:,} jobs, {result.segments:,} segments at {args.tps:g} segments/s from {when(start)}")
    print(f"link busy {result.busy_seconds / 3600:.2f} h; send window {windows.window_text()}")
    for kind, k in sorted(result.kinds.items()):
        late = f", {k.late:,} after their expiry" if k.late else ""
        print(f"  {kind:<16} {k.jobs:>9,} jobs {k.segments:>9,} segments  {when(k.first)} -> {when(k.last)}{late}")
    if result.jobs:
        print(f"last message out at {when(result.last_send)}")
    if result.late:
        print(
            f"WARNING: {result.late:,} jobs would go out after their expires_at and will be marked expired "
            f"(e.g. {', '.join(result.late_examples[:5])}); raise the TPS or start earlier",
            file=sys.stderr,
        )
        return errors.PARTIAL
    return errors.OK


def cmd_simulator(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.channels.simulator import SimulatorConfig, serve

    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        system_id=args.system_id,
        password=args.password,
        latency_ms=args.latency_ms,
        tps=args.tps,
        dlr_ms=args.dlr_ms,
        undeliv_rate=args.undeliv_rate,
    )
    runtime.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
