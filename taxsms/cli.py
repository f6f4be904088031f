"""The `taxsms` command. Its sub-commands and flags are a contract ops scripts rely on: keep them stable."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from taxsms import __version__, settings

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed, else on the standard asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxsms", description="12366 taxpayer-service SMS dispatcher")
    parser.add_argument("--version", action="version", version=f"taxsms {__version__}")
    parser.add_argument("--config", help="TOML settings file (default: $TAXSMS_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on 10,000 jobs against the SMSC simulator")
    demo.add_argument("--jobs", type=int, default=10_000)
    demo.add_argument("--data-dir", type=Path, help="where the private Redis keeps its AOF (default: a new temp dir)")
    demo.add_argument("--redis-url", help="use this Redis instead of starting a private one")

    worker = sub.add_parser("worker", help="dispatch jobs from Redis to an SMSC")
    worker.add_argument("--redis-url")
    worker.add_argument("--smsc", type=_hostport, help="HOST:PORT of the SMSC")
    worker.add_argument("--system-id")
    worker.add_argument("--password")
    worker.add_argument("--window", type=int, help="outstanding submit_sm per bind (default 64)")
    worker.add_argument("--binds", type=int, help="transceiver binds to the SMSC (default 1)")
    worker.add_argument("--prefix", help="Redis key prefix (default taxsms)")
    worker.add_argument("--consumer", help="consumer name in the group (default host-pid)")
    worker.add_argument("--tps", type=float, help="segments/s on this SMSC link, shared by all its workers")
    worker.add_argument("--link", help="name of the SMSC link the --tps belongs to (default HOST:PORT:SYSTEM_ID)")
    worker.add_argument("--send-window", help="China-time window for staff-published kinds (default 08:00-18:00)")
    worker.add_argument("--days-off", action="store_true", default=None, help="also skip weekends and holidays")

    hook = sub.add_parser("webhook", help="post job events to an upstream webhook (HMAC-signed, retried)")
    hook.add_argument("--redis-url")
    hook.add_argument("--prefix")
    hook.add_argument("--url", required=True, help="the upstream endpoint (POST, JSON array of events)")
    hook.add_argument("--secret", help="HMAC secret (default: $TAXSMS_WEBHOOK_SECRET)")

    plan = sub.add_parser("plan", help="predict when a set of jobs will have gone out, and what would expire")
    plan.add_argument("file", help="file of JSON jobs, one per line, or - for standard input")
    plan.add_argument("--tps", type=float, required=True, help="segments/s of the SMSC link")
    plan.add_argument("--start", help="when sending starts, ISO 8601 (default now; no offset = China time)")
    plan.add_argument("--send-window", help="China-time window for staff-published kinds (default 08:00-18:00)")
    plan.add_argument("--days-off", action="store_true", default=None, help="also skip weekends and holidays")
    plan.add_argument("--json", action="store_true", help="machine-readable output")

    enqueue = sub.add_parser("enqueue", help="enqueue jobs, one JSON object per line")
    enqueue.add_argument("--redis-url")
    enqueue.add_argument("--prefix")
    enqueue.add_argument("file", help="file of JSON lines, or - for standard input")

    status = sub.add_parser("status", help="job counts by state, or one job's record")
    status.add_argument("--redis-url")
    status.add_argument("--prefix")
    status.add_argument("job_id", nargs="?")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--show-phone", action="store_true", help="print the full phone number (masked by default)")

    sim = sub.add_parser("simulator", help="run the SMSC simulator (an SMPP 3.4 server)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=2775)
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--tps", type=float, default=None, help="accept at most this many submit_sm per second")
    sim.add_argument("--dlr-ms", type=float, default=50.0, help="delay before the delivery receipt")
    sim.add_argument("--undeliv-rate", type=float, default=0.0, help="fraction of receipts that are UNDELIV")
    sim.add_argument("--system-id", default="taxsms")
    sim.add_argument("--password", default=None, help="required password (default: accept any)")

    from taxsms.api import cli as api_cli
    from taxsms.governance import cli as governance_cli
    from taxsms.replies import cli as replies_cli
    from taxsms.templates import cli as templates_cli

    for feature in (replies_cli, templates_cli, governance_cli, api_cli):
        feature.add_commands(sub)  # each sub-command sets args.handler
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    file = settings.load_file(args.config)
    handlers = {
        "demo": cmd_demo,
        "worker": cmd_worker,
        "enqueue": cmd_enqueue,
        "status": cmd_status,
        "simulator": cmd_simulator,
        "plan": cmd_plan,
        "webhook": cmd_webhook,
    }
    handler = handlers.get(args.command) or args.handler
    try:
        return handler(args, file)
    except KeyboardInterrupt:
        return 130


def _worker_config(args: argparse.Namespace, file: dict[str, Any]):  # type: ignore[no-untyped-def]
    from taxsms.dispatcher.worker import WorkerConfig

    names = [
        "redis_url",
        "prefix",
        "system_id",
        "password",
        "window",
        "binds",
        "consumer",
        "tps",
        "link",
        "send_window",
        "days_off",
    ]
    overrides = {name: getattr(args, name, None) for name in names}
    if getattr(args, "smsc", None):
        overrides["smsc_host"], overrides["smsc_port"] = args.smsc
    return settings.build(WorkerConfig, file=file, overrides=overrides)


def cmd_demo(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from rich.console import Console

    from taxsms.demo import print_summary, run_demo

    console = Console()
    result = _run(run_demo(jobs=args.jobs, data_dir=args.data_dir, redis_url=args.redis_url, console=console))
    print_summary(result, console)
    return 0


def cmd_worker(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from taxsms.dispatcher.worker import Worker

    config = _worker_config(args, file)

    async def serve() -> None:
        worker = Worker(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    _run(serve())
    return 0


def _lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
    else:
        with open(path, "rb") as fh:
            yield from fh


def cmd_enqueue(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from taxsms.queue.connect import connect, keys_for
    from taxsms.queue.intake import enqueue_lines

    config = _worker_config(args, file)

    async def go() -> int:
        redis = connect(config.redis_url)
        try:
            added, refused = await enqueue_lines(redis, keys_for(redis, config.prefix), _lines(args.file))
        finally:
            await redis.aclose()
        print(f"enqueued {added} jobs; {refused} refused to the dead-letter stream")
        return 1 if refused else 0

    return _run(go())


def cmd_status(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from taxsms.privacy import mask_phone
    from taxsms.queue.connect import connect, keys_for
    from taxsms.queue.store import JobStore

    config = _worker_config(args, file)

    async def go() -> int:
        redis = connect(config.redis_url)
        try:
            store = JobStore(redis, keys_for(redis, config.prefix))
            if args.job_id:
                record = await store.job(args.job_id)
                if record is None:
                    print(f"no job {args.job_id!r}", file=sys.stderr)
                    return 1
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
        finally:
            await redis.aclose()

    return _run(go())


def cmd_webhook(args: argparse.Namespace, file: dict[str, Any]) -> int:
    import os

    from taxsms.dispatcher.webhooks import WebhookRelay
    from taxsms.queue.connect import connect, keys_for

    config = _worker_config(args, file)
    secret = args.secret or os.environ.get("TAXSMS_WEBHOOK_SECRET") or file.get("webhook_secret")
    if not secret:
        print("taxsms webhook: give --secret or set TAXSMS_WEBHOOK_SECRET", file=sys.stderr)
        return 2

    async def serve() -> None:
        redis = connect(config.redis_url)
        relay = WebhookRelay(redis, keys_for(redis, config.prefix), args.url, secret)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, relay.stop)
        try:
            await relay.run()
        finally:
            await redis.aclose()

    _run(serve())
    return 0


def cmd_plan(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from datetime import datetime

    from taxsms.dispatcher.planning import plan
    from taxsms.queue.jobs import CHINA, JobError, parse_job

    config = _worker_config(args, file)
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
        moment = datetime.fromisoformat(args.start)
        start = (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp()
    else:
        start = datetime.now(CHINA).timestamp()
    result = plan(jobs, tps=args.tps, windows=config.windows(), start=start)

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
        return 2 if result.late else 0
    print(f"{result.jobs:,} jobs, {result.segments:,} segments at {args.tps:g} segments/s from {when(start)}")
    print(f"link busy {result.busy_seconds / 3600:.2f} h; send window {config.windows().window_text()}")
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
        return 2
    return 0


def cmd_simulator(args: argparse.Namespace, file: dict[str, Any]) -> int:
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
    _run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
