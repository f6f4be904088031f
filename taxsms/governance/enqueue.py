"""`taxsms enqueue`: jobs from a file, sent as a principal (an API token or an authenticated operator).

The token comes from --token (or $TAXSMS_TOKEN); an operator is --as ID with the password from
$TAXSMS_OPERATOR_PASSWORD (or a prompt). Anonymous jobs are refused. Every job passes the admission policy;
refused ones are dead-lettered with the reason, and both outcomes are audited.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from taxsms import settings
from taxsms.governance.admission import Gate, Refusal
from taxsms.governance.errors import PermissionDenied
from taxsms.governance.operators import OperatorBook
from taxsms.governance.policy import Principal, Refused, operator_principal
from taxsms.governance.units import load_units
from taxsms.queue.intake import enqueue_lines
from taxsms.queue.jobs import Job, JobError
from taxsms.queue.keys import Keys

PASSWORD_ENV = "TAXSMS_OPERATOR_PASSWORD"
TOKEN_ENV = "TAXSMS_TOKEN"


def operator_password(operator_id: str) -> str:
    """The acting operator's password: $TAXSMS_OPERATOR_PASSWORD (or the file $TAXSMS_OPERATOR_PASSWORD_FILE
    names), else a prompt on a terminal."""
    value = settings.secret(PASSWORD_ENV)  # the variable, or the file named by ..._FILE
    if value:
        return value
    if not sys.stdin.isatty():
        raise PermissionDenied(f"give the password of operator {operator_id} in ${PASSWORD_ENV}")
    return getpass.getpass(f"password for {operator_id}: ")


async def resolve_principal(redis: Redis, keys: Keys, *, token: str = "", operator: str = "") -> Principal:
    """The principal a command acts as; PermissionDenied for none, both, an unknown token or a failed login."""
    token = token or os.environ.get(TOKEN_ENV, "")
    if bool(token) == bool(operator):
        raise PermissionDenied(
            "anonymous jobs are refused: give --token TOKEN (or $TAXSMS_TOKEN) or --as OPERATOR "
            f"(password in ${PASSWORD_ENV}), one of them"
        )
    if operator:
        book = OperatorBook(redis, keys, await load_units(redis, keys))
        return operator_principal(await book.login(operator, operator_password(operator)))
    from taxsms.api.auth import TokenStore  # the token records are the API's
    from taxsms.api.keys import ApiKeys

    found, _ = await TokenStore(redis, ApiKeys(keys)).check(token, 0)
    if found is None:
        raise PermissionDenied("unknown or revoked API token")
    try:  # as the API and the worker admit it: its keeper from its record
        return await Gate(redis, keys).registered(found.tag)
    except Refused as error:
        raise PermissionDenied(error.reason) from None


async def enqueue_as(
    redis: Redis,
    keys: Keys,
    lines: Iterable[bytes],
    principal: Principal,
    *,
    on_refused: Callable[[int, JobError], None] | None = None,
) -> tuple[int, int]:
    """Admit and enqueue JSON lines for `principal`; return (added, refused). Both are audited;
    `on_refused(line_number, error)` hears about each refused line."""
    gate = Gate(redis, keys)
    refusals: list[Refusal] = []

    async def admit(jobs: list[Job]) -> list[Job | JobError]:
        await gate.prepare(jobs)  # the snapshot, and the directory's units for jobs that leave them out
        verdicts: list[Job | JobError] = []
        for job in jobs:
            try:
                verdicts.append(gate.admit(job, principal))
            except JobError as error:
                refusals.append(Refusal(job.id, error))
                verdicts.append(error)
        return verdicts

    added, refused = await enqueue_lines(redis, keys, lines, on_refused, admit=admit)
    await gate.record_sent(principal.tag, principal.unit, "cli", added)
    await gate.record_refused(principal.tag, "cli", refusals, principal.unit)
    return added, refused
