"""Dead letters: `taxsms dead list | show ENTRY | requeue ENTRY... [--all]`, with the reason of each.

A dead letter is an entry of a shard's dead-letter stream: the job as JSON, the field and the reason it was
refused (invalid at intake, or out of retries at the SMSC). `requeue` validates the job again, admits it again
for the principal it names (the admission gate: a job naming none, or one no longer registered, is refused)
and enqueues it through the ordinary intake (deduped by its id); both outcomes are audited. A job that was
dead-lettered after being read keeps its record, so requeueing it first resets that record (its
`dead_lettered` count goes back down). A requeued entry leaves the dead-letter stream; one that is still
invalid or refused stays, and is reported.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from taxsms import errors, runtime
from taxsms.errors import InvalidInput, NotFound
from taxsms.governance.admission import Gate, Refusal
from taxsms.governance.policy import Refused
from taxsms.privacy import mask_phone, mask_text
from taxsms.queue.jobs import JobError, State, job_id_of, job_json, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.settings import Settings

PATH = "requeue"  # the send path audit entries name


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


async def requeue(redis: Any, keys: Keys, letter: DeadLetter, gate: Gate) -> str:
    """Admit the letter's job again for its own principal and enqueue it; return 'requeued' or 'duplicate'.
    Raises JobError if still invalid, or refused (audited) for naming no principal, an unknown one, or one
    that may not send it now."""
    job = parse_job(letter.payload)
    shard, entry_id = _split(letter.entry, keys)
    await gate.prepare([job])
    try:
        job = gate.readmit(job)
    except JobError as error:
        await gate.record_refused(job.principal or "anonymous", PATH, [Refusal(job.id, error)])
        raise
    jobkey = shard.job(job.id)
    if await redis.hget(jobkey, "state") == State.DEAD_LETTERED.value.encode():
        async with redis.pipeline(transaction=True) as pipe:  # reset the record it died with
            pipe.delete(jobkey)
            pipe.hincrby(shard.counts, State.DEAD_LETTERED, -1)
            await pipe.execute()
    added = await JobStore(redis, keys).enqueue([job])
    await redis.xdel(shard.dead_letters, entry_id)
    await gate.record_sent(job.principal, job.unit, PATH, added, 1 - added)
    return "requeued" if added else "duplicate"


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
        gate = Gate(redis, keys)
        for letter in letters:
            try:
                outcomes[await requeue(redis, keys, letter, gate)] += 1
            except JobError as error:
                outcome = "refused" if isinstance(error, Refused) else "still invalid"
                outcomes[outcome] += 1
                problems.append(f"{letter.entry}: {outcome}: {mask_text(str(error))}")
        return outcomes, problems

    outcomes, problems = runtime.with_redis(cfg, work)
    for problem in problems:
        print(problem)
    print(", ".join(f"{count} {outcome}" for outcome, count in outcomes.items()))
    return errors.PARTIAL if problems else errors.OK
