"""`taxsms demo`: a private Redis, the SMSC simulator and one worker sending 10,000 mixed jobs end to end."""

from __future__ import annotations

import asyncio
import random
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.channels.smpp import decode_short_message, parse_concat_udh
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.enqueue import enqueue_as
from taxsms.governance.policy import Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.privacy import mask_phone
from taxsms.queue.connect import connect, keys_for
from taxsms.queue.jobs import FINAL_STATES, Kind
from taxsms.queue.server import RedisServer, free_port
from taxsms.replies.providers import RedisProvider
from taxsms.replies.service import ReplyConfig, ReplyService
from taxsms.replies.subscriptions import SubscriptionBook
from taxsms.seed import DEMO_PASSWORD, Login, seed_console

#: The recipients' units: the example unit tree's (taxsms/governance/example_units.toml).
RECIPIENT_UNITS = ["county-e1", "county-e2", "county-w1", "sub-e1-town", "city-east", "city-west"]
#: The demo's upstream system, registered for the province: its jobs are signed 【省税务局】 by the registry.
DEMO_SYSTEM = Principal(
    PrincipalKind.SYSTEM, "demo", "prov", frozenset({Kind.FILING_REMINDER, Kind.OVERDUE_FILING, Kind.OVERDUE_PAYMENT})
)
TAXES = ["增值税", "个人所得税", "企业所得税", "城市维护建设税", "印花税"]
NAMES = ["张三", "李四", "王五", "赵六", "陈晓明", "刘芳", "某某商贸有限公司", "某某科技有限公司"]
NOTICE_BODY = (
    "根据国家税务总局最新公告，自下月起小规模纳税人增值税减免政策延续执行，请纳税人及时了解相关规定，"
    "按期办理申报。如有疑问请拨打12366纳税服务热线或登录电子税务局查询，也可前往办税服务厅咨询。"
    "本月办税服务厅延长服务时间至晚上七点，周六上午照常办公，欢迎广大纳税人合理安排办税时间。"
)
#: What the demo's taxpayers text in, and why: each gets an automatic reply.
MO_CONVERSATIONS = (
    ("13812340001", "KT"),  # subscribe
    ("13812340002", "FP 041001900111 12345678"),  # invoice check: genuine
    ("13812340003", "041001900111，87654321"),  # invoice check: not found
    ("13812340004", "CX 2026-000123"),  # progress of a business accepted online
    ("13812340005", "请问个体户季度销售额多少以内可以免征增值税？"),  # consultation: a ticket for staff
    ("13812340006", "ＴＤ"),  # unsubscribe (full-width)
)
INVOICES_CSV = ["code,number,date,amount", "041001900111,12345678,2026-11-02,2360.00"]
STATUS_CSV = ["reference,status", "2026-000123,您的跨区域涉税事项报告已受理，预计2个工作日内办结。"]
UNSUBSCRIBED_SHARE = 0.03  # of the reminder recipients, who texted TD some time ago


def demo_jobs(count: int, *, seed: int = 12366, invalid: int = 20) -> Iterator[bytes]:
    """`count` mixed jobs as JSON lines (reminders, overdue notices, long reminders), plus a few invalid ones.

    They carry no signature: the admission policy signs them with the registered unit's."""
    rng = random.Random(seed)
    for i in range(count):
        unit = rng.choice(RECIPIENT_UNITS)
        name, tax = rng.choice(NAMES), rng.choice(TAXES)
        phone = f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
        roll = rng.random()
        if roll < 0.55:
            kind, text = "filing_reminder", f"尊敬的{name}：您本月{tax}申报期限为15日，请及时办理申报。"
        elif roll < 0.75:
            kind, text = "overdue_filing", f"{name}：您未按期申报{tax}，请尽快到主管税务机关办理。"
        elif roll < 0.85:
            kind, text = "overdue_payment", f"{name}：您有{tax}欠税未缴，请于三日内缴纳。"
        else:
            kind = "filing_reminder"
            text = NOTICE_BODY[: rng.choice((90, 130, 190))]  # 2-3 UCS2 parts
        job = {"id": f"demo-{i:06d}", "kind": kind, "to": phone, "text": text, "recipient_unit": unit}
        yield msgspec.json.encode(job)
    bad = [
        {"id": "bad-kind", "kind": "lottery", "to": "13800138000", "text": "x"},
        {"id": "bad-phone", "kind": "notice", "to": "12345", "text": "【某市税务局】测试"},
        {"id": "bad-empty", "kind": "notice", "to": "13800138000", "text": "  "},
        {"id": "bad-long", "kind": "notice", "to": "13800138000", "text": "长" * 2000},
    ]
    for i in range(invalid):
        job = bad[i] if i < len(bad) else {**bad[i % len(bad)], "id": f"bad-{i:03d}"}
        yield msgspec.json.encode(job)


@dataclass(slots=True)
class DemoResult:
    counts: dict[str, int]
    segments: int
    elapsed: float
    latencies: list[float]
    simulator: dict[str, object]
    conversations: list[tuple[str, str, str]]  # (phone, what the taxpayer texted, what the platform answered)


async def run_demo(
    *,
    jobs: int = 10_000,
    data_dir: Path | None = None,
    redis_url: str | None = None,
    latency_ms: float = 5.0,
    dlr_ms: float = 300.0,
    undeliv_rate: float = 0.03,
    window: int = 64,
    binds: int = 2,
    console: Console | None = None,
    receipt_timeout: float = 60.0,
    api_port: int | None = None,
    keep: bool = False,
    stop: asyncio.Event | None = None,
) -> DemoResult:
    """Run the whole pipeline once and return what happened (the CLI prints it).

    `keep`: afterwards leave Redis, the simulator, the worker, the reply service and the console running, with
    seeded units and operators, print the URL and the logins, and stop cleanly when `stop` is set (default:
    on SIGINT / SIGTERM).
    """
    console = console or Console()
    server: RedisServer | None = None
    if redis_url is None:
        data_dir = data_dir or Path(tempfile.mkdtemp(prefix="taxsms-demo-"))
        server = RedisServer(data_dir)
        server.start()
        redis_url = server.url
        console.print(f"[bold]Redis[/]: private redis-server ({server.binary}), AOF on, data in {data_dir}")
    prefix = f"demo{int(time.time())}"
    sim = SmscSimulator(
        SimulatorConfig(latency_ms=latency_ms, dlr_ms=dlr_ms, undeliv_rate=undeliv_rate, keep_accepted=True)
    )
    await sim.start()
    console.print(f"[bold]SMSC simulator[/]: 127.0.0.1:{sim.port}, latency {latency_ms} ms, receipts after {dlr_ms} ms")
    redis = connect(redis_url)
    keys = keys_for(redis, prefix)
    port = api_port or free_port()
    api = asyncio.create_task(_serve_api(redis_url, prefix, port, console))
    try:
        logins = await seed_console(redis, keys) if keep else []
        lines = list(demo_jobs(jobs))
        book = await SubscriptionBook(redis, keys).import_csv(_subscription_rows(lines), at=time.time())
        console.print(
            f"[bold]Subscriptions[/]: {book.subscribed:,} taxpayers subscribed, {book.unsubscribed:,} unsubscribed "
            "(filing reminders go only to subscribers)"
        )
        provider = RedisProvider(redis, keys)
        await provider.load_invoices_csv(INVOICES_CSV)
        await provider.load_status_csv(STATUS_CSV)
        await save_units(redis, keys, UnitTree.from_file())
        await PrincipalBook(redis, keys).register(DEMO_SYSTEM, "the demo's upstream system")
        added, refused = await enqueue_as(redis, keys, lines, DEMO_SYSTEM)
        console.print(f"[bold]Enqueued[/] {added} jobs; {refused} invalid jobs went to the dead-letter stream")
        config = WorkerConfig(
            redis_url=redis_url,
            prefix=prefix,
            smsc_port=sim.port,
            system_id=sim.config.system_id,
            password=sim.config.password or "",
            window=window,
            binds=binds,
            send_window="00:00-24:00",
        )
        console.print(
            "[bold]Send window[/]: widened to 00:00-24:00 so the demo runs at any hour "
            "(production default: 08:00-18:00 China time for staff-published kinds; replies go at any hour)"
        )
        worker = Worker(config)
        replies = ReplyService(redis, keys, provider, ReplyConfig(unit="prov", block_ms=100))
        started = time.perf_counter()
        tasks = [asyncio.create_task(coro) for coro in (worker.run(), replies.run(), _text_in(sim))]
        total = added + refused + len(MO_CONVERSATIONS)
        try:
            counts, elapsed = await _progress(worker, total, started, console, receipt_timeout)
            result = DemoResult(
                counts,
                worker.stats.segments,
                elapsed,
                worker.stats.latencies,
                sim.stats.as_dict(),
                _conversations(sim),
            )
            if keep:
                print_summary(result, console)
                _print_logins(console, port, logins)
                await _until_stopped(stop)
                console.print("[bold]Stopping[/]: worker, reply service, console, simulator, Redis")
        finally:
            worker.stop()
            replies.stop()
            await asyncio.gather(*tasks)
        return result
    finally:
        api.cancel()
        await redis.aclose()
        await sim.stop()
        if server is not None:
            server.stop()


async def _until_stopped(stop: asyncio.Event | None) -> None:
    """Wait for `stop`, or for SIGINT / SIGTERM (Ctrl-C) when none is given."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _print_logins(console: Console, port: int, logins: list[Login]) -> None:
    table = Table(title=f"console: http://127.0.0.1:{port}/console/  (password of every login: {DEMO_PASSWORD})")
    for column in ("login", "name", "unit", "roles", "try"):
        table.add_column(column, overflow="fold")
    for login in logins:
        table.add_row(login.operator, login.name, login.unit, ", ".join(login.roles), login.what)
    console.print(table)
    console.print("Everything keeps running until Ctrl-C.")


def _subscription_rows(lines: list[bytes]) -> Iterator[str]:
    """The subscription book of the reminder recipients (a few of them unsubscribed)."""
    rng = random.Random(7)
    for line in lines:
        job = msgspec.json.decode(line) if line.startswith(b"{") else {}
        if isinstance(job, dict) and job.get("kind") == "filing_reminder":
            yield f"{job['to']},9144{rng.randrange(10**14):014d},{0 if rng.random() < UNSUBSCRIBED_SHARE else 1}"


async def _text_in(sim: SmscSimulator) -> None:
    """Taxpayers text the 12366 number while the campaign runs."""
    while not sim.stats.binds:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    for phone, text in MO_CONVERSATIONS:
        await sim.inject_mo("86" + phone, "12366", text)


def _conversations(sim: SmscSimulator) -> list[tuple[str, str, str]]:
    """What the SMSC accepted for each texting phone: the first message, its parts joined."""
    phones = {phone for phone, _ in MO_CONVERSATIONS}
    parts: dict[str, list[str]] = {}
    answers: dict[str, str] = {}
    for _, destination, data in sim.accepted_log:
        phone = destination[2:]
        if phone not in phones or phone in answers:
            continue
        concat, payload = parse_concat_udh(data) if data.startswith(b"\x05\x00\x03") else (None, data)
        parts.setdefault(phone, []).append(decode_short_message(payload, 8))
        if concat is None or concat.seqnum == concat.total:
            answers[phone] = "".join(parts.pop(phone))
    return [(phone, text, answers.get(phone, "(no reply)")) for phone, text in MO_CONVERSATIONS]


async def _serve_api(redis_url: str, prefix: str, port: int, console: Console) -> None:
    """The HTTP API and web console on the demo's Redis, for as long as the demo runs."""
    from taxsms.api import ApiConfig
    from taxsms.api.serve import serve

    ready = asyncio.Event()
    config = ApiConfig(plain_http=True)  # http://127.0.0.1 on this machine only
    task = asyncio.create_task(serve("127.0.0.1", port, redis_url, prefix, config, ready=ready))
    await ready.wait()
    console.print(f"[bold]Web console[/]: http://127.0.0.1:{port}/console  (API: http://127.0.0.1:{port}/v1/jobs)")
    await task


async def _progress(
    worker: Worker, total: int, started: float, console: Console, timeout: float
) -> tuple[dict[str, int], float]:
    """Show progress until every job is final; return the counts and the seconds until all were submitted."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
    )
    with Progress(*columns, console=console) as progress:
        sent = progress.add_task("submitted", total=total, rate="")
        final = progress.add_task("receipts ", total=total, rate="")
        deadline = None
        submit_elapsed = 0.0
        while True:
            await asyncio.sleep(0.2)
            counts = await worker.store.counts()
            done_submit = sum(counts.values()) - counts["queued"] - counts["submitting"] - counts["delayed"]
            done_final = sum(counts[s] for s in FINAL_STATES)
            rate = f"{done_submit / max(time.perf_counter() - started, 1e-9):,.0f} msg/s"
            progress.update(sent, completed=done_submit, rate=rate)
            progress.update(final, completed=done_final)
            if done_submit >= total and deadline is None:
                submit_elapsed = time.perf_counter() - started
                deadline = time.monotonic() + timeout
            if done_final >= total:
                return counts, submit_elapsed
            if deadline is not None and time.monotonic() > deadline:
                console.print("[yellow]gave up waiting for the last receipts[/]")
                return counts, submit_elapsed


def print_summary(result: DemoResult, console: Console) -> None:
    counts, lat = result.counts, sorted(result.latencies)
    sent = counts["submitted"] + counts["delivered"] + counts["undelivered"]
    table = Table(title="taxsms demo summary")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("sent (accepted by the SMSC)", f"{sent:,}"),
        ("delivered", f"{counts['delivered']:,}"),
        ("undelivered", f"{counts['undelivered']:,}"),
        ("awaiting receipt", f"{counts['submitted']:,}"),
        ("failed", f"{counts['failed']:,}"),
        ("suppressed (unsubscribed)", f"{counts['suppressed']:,}"),
        ("dead-lettered", f"{counts['dead_lettered']:,}"),
        ("segments", f"{result.segments:,}"),
        (
            "msg/s (worker start → last submit answered)",
            f"{sent / result.elapsed:,.0f}" if result.elapsed else "-",
        ),
        ("submit latency p50", f"{_pct(lat, 0.50) * 1000:.1f} ms"),
        ("submit latency p99", f"{_pct(lat, 0.99) * 1000:.1f} ms"),
        (
            "simulator: accepted / duplicates",
            f"{result.simulator['accepted']:,} / {result.simulator['duplicates']:,}",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    talk = Table(title="taxpayers texting 12366 (MO) and the automatic replies")
    talk.add_column("phone", no_wrap=True)
    talk.add_column("taxpayer wrote", overflow="fold")
    talk.add_column("platform replied", overflow="fold")
    for phone, text, answer in result.conversations:
        talk.add_row(mask_phone(phone), text, answer)
    console.print(talk)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
