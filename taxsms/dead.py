"""Dead letters: `taxsms dead list | show ENTRY | requeue ENTRY... [--all]`, with the reason of each.

A dead letter is an entry of a shard's dead-letter stream: the job as JSON, the field and the reason it was
refused (invalid at intake, or out of retries at the SMSC). `requeue` validates the job again, admits it again
for the principal it names (the admission gate: a job naming none, or one no longer registered, is refused)
and enqueues it through the ordinary intake (deduped by its id); both outcomes are audited. A job that was
dead-lettered after being read keeps its record, so requeueing it first resets that record (its
`dead_lettered` count goes back down). A requeued entry leaves the dead-letter stream; one that is still
invalid or refused stays, and is reported. Letters are requeued 500 at a time, each batch admitted on one
snapshot and one directory lookup, reset, enqueued, removed and audited (one entry per principal and unit)
in a few round trips: 10,000 letters after an outage cost tens of round trips, not tens of thousands.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from taxsms import errors, runtime
from taxsms.errors import InvalidInput, NotFound
from taxsms.governance.admission import Gate
from taxsms.governance.policy import Refused
from taxsms.privacy import mask_phone, mask_text
from taxsms.queue.jobs import Job, JobError, State, job_id_of, job_json, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.settings import Settings

PATH = "requeue"  # the send path audit entries name
BATCH = 500  # letters admitted, enqueued and audited per round
DEAD = State.DEAD_LETTERED.value.encode()
Outcome = str | JobError  # 'requeued', 'duplicate', or why the letter stays


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-letter entry: `entry` is 'SHARD/STREAM-ID' (the shard's number, then the stream entry id)."""

    entry: str
    job_id: str
    field: str
    reason: str
    payload: bytes  # the job as it was refused: JSON, or packed if it had entered a lane
    at: str

    @classmethod
    def from_stream(cls, shard: int, entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        text = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items() if k != b"job"}
        payload = fields.get(b"job", b"")
        job_id = text.get("id") or job_id_of(payload)
        entry = f"{shard}/{entry_id.decode() if isinstance(entry_id, bytes) else entry_id}"
        return cls(entry, job_id, text.get("field", ""), text.get("reason", ""), payload, text.get("at", ""))

    @property
    def job(self) -> str:
        """The job as JSON."""
        return job_json(self.payload).decode("utf-8", "replace")

    def masked_job(self) -> str:
        """The job as JSON with its phone number masked."""
        try:
            value = json.loads(self.job)
        except ValueError:
            return mask_text(self.job)
        if isinstance(value, dict) and isinstance(value.get("to"), str):
            value["to"] = mask_phone(value["to"])
        return mask_text(json.dumps(value, ensure_ascii=False))


def _split(entry: str, keys: Keys) -> tuple[Keys, str]:
    shard, sep, entry_id = entry.partition("/")
    if not (sep and shard.isdigit() and int(shard) < keys.shards and entry_id):
        raise InvalidInput(f"dead-letter entry {entry!r}: expected SHARD/ID as `taxsms dead list` prints it")
    return keys.shard(int(shard)), entry_id


async def listing(redis: Any, keys: Keys, limit: int) -> list[DeadLetter]:
    """The newest `limit` dead letters over every shard, newest first."""
    letters: list[tuple[str, DeadLetter]] = []
    for shard in keys.every_shard():
        for entry_id, fields in await redis.xrevrange(shard.dead_letters, count=limit):
            letter = DeadLetter.from_stream(shard.shard_index, entry_id, fields)
            letters.append((letter.entry.partition("/")[2], letter))
    letters.sort(key=lambda item: tuple(int(part) for part in item[0].split("-")), reverse=True)
    return [letter for _, letter in letters[:limit]]


async def one(redis: Any, keys: Keys, entry: str) -> DeadLetter:
    shard, entry_id = _split(entry, keys)
    found = await redis.xrange(shard.dead_letters, min=entry_id, max=entry_id)
    if not found:
        raise NotFound(f"no dead letter {entry}", "taxsms dead list shows them")
    return DeadLetter.from_stream(shard.shard_index, *found[0])


async def requeue(
    redis: Any, keys: Keys, letters: Sequence[DeadLetter], gate: Gate, *, batch: int = BATCH
) -> list[Outcome]:
    """Admit each letter's job again for its own principal and enqueue it, `batch` letters per round (a few
    round trips each, whatever the batch holds); return each letter's outcome: 'requeued', 'duplicate', or
    the JobError it stays for (still invalid, or Refused: audited, for naming no principal, an unknown one,
    or one that may not send it now)."""
    outcomes: list[Outcome] = []
    for start in range(0, len(letters), batch):
        outcomes += await _requeue_batch(redis, keys, letters[start : start + batch], gate)
    return outcomes


async def _requeue_batch(redis: Any, keys: Keys, letters: Sequence[DeadLetter], gate: Gate) -> list[Outcome]:
    outcomes: list[Outcome] = ["" for _ in letters]
    parsed: list[tuple[int, Job]] = []
    for i, letter in enumerate(letters):
        try:
            parsed.append((i, parse_job(letter.payload)))
        except JobError as error:
            outcomes[i] = error
    await gate.prepare([job for _, job in parsed])  # one snapshot and one directory lookup for the batch
    admitted: list[tuple[int, Job]] = []
    refused: list[tuple[Job, JobError]] = []
    for i, job in parsed:
        try:
            admitted.append((i, gate.readmit(job)))
        except JobError as error:
            outcomes[i] = error
            refused.append((job, error))
    await gate.audit_refusals(refused, PATH)
    if not admitted:
        return outcomes
    places = [_split(letters[i].entry, keys) for i, _ in admitted]
    await _reset(redis, [(shard, job.id) for (shard, _), (_, job) in zip(places, admitted, strict=True)])
    added = await JobStore(redis, keys).enqueue_each([job for _, job in admitted])
    async with redis.pipeline(transaction=False) as pipe:
        for shard, entry_ids in _grouped(places).items():
            pipe.xdel(shard.dead_letters, *entry_ids)
        await pipe.execute()
    sent: dict[tuple[str, str], list[int]] = {}  # (principal, unit) -> [accepted, duplicates]
    for (i, job), new in zip(admitted, added, strict=True):
        outcomes[i] = "requeued" if new else "duplicate"
        sent.setdefault((job.principal, job.unit), [0, 0])[0 if new else 1] += 1
    for (principal, unit), (accepted, duplicates) in sent.items():
        await gate.record_sent(principal, unit, PATH, accepted, duplicates)
    return outcomes


async def _reset(redis: Any, jobs: list[tuple[Keys, str]]) -> None:
    """Delete the records these (shard, job id) were dead-lettered with, once each, and count them out of
    their shard's `dead_lettered` (a job that died after being read keeps its record)."""
    records = list({shard.job(job_id): shard for shard, job_id in jobs}.items())
    async with redis.pipeline(transaction=False) as pipe:
        for jobkey, _ in records:
            pipe.hget(jobkey, "state")
        states = await pipe.execute()
    dead = [(shard, jobkey) for (jobkey, shard), state in zip(records, states, strict=True) if state == DEAD]
    for shard, jobkeys in _grouped(dead).items():
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(*jobkeys)
            pipe.hincrby(shard.counts, State.DEAD_LETTERED, -len(jobkeys))
            await pipe.execute()


def _grouped(pairs: Iterable[tuple[Keys, str]]) -> dict[Keys, list[str]]:
    grouped: dict[Keys, list[str]] = {}
    for shard, name in pairs:
        grouped.setdefault(shard, []).append(name)
    return grouped


# -- the command -------------------------------------------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `dead list|show|requeue`."""
    dead = subparsers.add_parser("dead", help="dead letters: jobs that could not be sent, with the reason")
    sub = dead.add_subparsers(dest="dead_command", required=True)
    listing_parser = sub.add_parser("list", help="the newest dead letters, newest first (phones masked)")
    runtime.redis_options(listing_parser)
    listing_parser.add_argument("--limit", type=int, default=50)
    listing_parser.add_argument("--json", action="store_true")
    listing_parser.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one dead letter with its job")
    runtime.redis_options(show)
    show.add_argument("entry", help="SHARD/ID as `taxsms dead list` prints it")
    show.add_argument("--show-phone", action="store_true", help="print full phone numbers (masked by default)")
    show.set_defaults(handler=cmd_show)
    again = sub.add_parser("requeue", help="validate and enqueue dead letters again (e.g. after an SMSC outage)")
    runtime.redis_options(again)
    again.add_argument("entries", nargs="*", help="SHARD/ID entries")
    again.add_argument("--all", action="store_true", help="every dead letter (up to --limit)")
    again.add_argument("--limit", type=int, default=10_000)
    again.set_defaults(handler=cmd_requeue)


def _row(letter: DeadLetter) -> str:
    return f"{letter.entry:<24} {letter.at:<20} {letter.job_id or '-':<24} {letter.field}: {mask_text(letter.reason)}"


def cmd_list(args: argparse.Namespace, cfg: Settings) -> int:
    letters = runtime.with_redis(cfg, lambda redis, keys: listing(redis, keys, args.limit))
    if args.json:
        rows = [{"entry": x.entry, "id": x.job_id, "field": x.field, "reason": mask_text(x.reason), "at": x.at}
                for x in letters]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return errors.OK
    for letter in letters:
        print(_row(letter))
    if not letters:
        print("no dead letters")
    return errors.OK


def cmd_show(args: argparse.Namespace, cfg: Settings) -> int:
    letter = runtime.with_redis(cfg, lambda redis, keys: one(redis, keys, args.entry))
    for name in ("entry", "at", "job_id", "field", "reason"):
        value = getattr(letter, name)
        print(f"{name:>8}  {value if args.show_phone else mask_text(value)}")
    print(f"{'job':>8}  {letter.job if args.show_phone else letter.masked_job()}")
    return errors.OK


def cmd_requeue(args: argparse.Namespace, cfg: Settings) -> int:
    if bool(args.entries) == args.all:
        raise InvalidInput("give dead-letter entries or --all (not both)", "see taxsms dead list")

    async def work(redis: Any, keys: Keys) -> tuple[dict[str, int], list[str]]:
        letters = (
            await listing(redis, keys, args.limit) if args.all else [await one(redis, keys, e) for e in args.entries]
        )
        outcomes, problems = {"requeued": 0, "duplicate": 0, "still invalid": 0, "refused": 0}, []
        for letter, outcome in zip(letters, await requeue(redis, keys, letters, Gate(redis, keys)), strict=True):
            if isinstance(outcome, JobError):
                kind = "refused" if isinstance(outcome, Refused) else "still invalid"
                problems.append(f"{letter.entry}: {kind}: {mask_text(str(outcome))}")
                outcome = kind
            outcomes[outcome] += 1
        return outcomes, problems

    outcomes, problems = runtime.with_redis(cfg, work)
    for problem in problems:
        print(problem)
    print(", ".join(f"{count} {outcome}" for outcome, count in outcomes.items()))
    return errors.PARTIAL if problems else errors.OK
