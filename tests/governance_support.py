"""Helpers for the governance and admission tests (no tests here): the example unit tree, tokens, operators."""

from __future__ import annotations

import secrets
import time

import msgspec
from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.api.auth import TOKEN_PREFIX, TokenStore, digest
from taxsms.api.keys import ApiKeys
from taxsms.governance.operators import Operator, OperatorBook
from taxsms.governance.policy import PrincipalKind
from taxsms.governance.registry import PrincipalRecord
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.jobs import Kind
from taxsms.queue.keys import Keys

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse 1"
UPSTREAM = {"filing_reminder", "overdue_filing", "overdue_payment", "reply"}


async def seed_units(redis: Redis, keys: Keys) -> UnitTree:
    """The example tree: 省税务局 > 东市/西市 > counties (county-e1 东市甲县税务局) > sub-e1-town."""
    tree = UnitTree.from_file()
    await save_units(redis, keys, tree)
    return tree


async def county_token(
    redis: Redis, keys: Keys, unit: str = "county-e1", kinds: set[str] | None = None, actor: str = ""
) -> str:
    """A token for `unit` (default: the upstream kinds, any recipient unit) issued by `actor` (default: none)."""
    secret, _ = await TokenStore(redis, ApiKeys(keys)).create(unit, kinds or UPSTREAM, {"*"}, actor=actor)
    return secret


async def token_issued_before_keepers(redis: Redis, keys: Keys, actor: str, *, registered: bool = True) -> str:
    """A county-e1 token (the upstream kinds, any recipient unit) as `TokenStore.create` wrote it from 3587150
    to 74d1034: its own hash without the issuer, who (`actor`) is in its principal record only. Not
    `registered`: as before bd73ad0, no principal record at all."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hashed = digest(secret)
    token_id, at = hashed[:16], f"{time.time():.3f}"
    record = {"id": token_id, "unit": "county-e1", "kinds": ",".join(sorted(UPSTREAM)), "recipient_units": "*",
              "name": "", "pii": 0, "created_at": at}  # fmt: skip
    api = ApiKeys(keys)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(api.token(hashed), mapping=record)
        pipe.hset(api.tokens, token_id, hashed)
        await pipe.execute()
    if registered:  # PrincipalBook.register(token.principal, name, created_by=actor, at=...) then
        kinds = sorted(Kind(kind) for kind in UPSTREAM)
        principal = PrincipalRecord(PrincipalKind.TOKEN, token_id, "county-e1", kinds, ["*"], "", actor, float(at))
        await redis.hset(keys.principals, f"{PrincipalKind.TOKEN}:{token_id}", msgspec.json.encode(principal))
    return secret


async def operators(redis: Redis, keys: Keys, tree: UnitTree) -> dict[str, Operator]:
    """padmin and padmin2 (province admins), eadmin (city-east admin and publisher), e1admin (county-e1 admin
    and publisher), e1pub (county-e1 publisher), e1col (county-e1 collection), e1staff (county-e1
    staff12366); all with PASSWORD, each confirmed by the level above."""
    book = OperatorBook(redis, keys, tree, hasher=CHEAP)
    padmin = await book.bootstrap("padmin", "张省管", PASSWORD)
    padmin2 = await book.add(padmin, "padmin2", "钱省管", tree.root, ["admin"], PASSWORD)  # confirmed at birth
    eadmin = await book.add(padmin, "eadmin", "赵东管", "city-east", ["admin", "publisher"], PASSWORD)
    eadmin = await book.confirm(padmin2, eadmin.id)
    e1admin = await book.add(eadmin, "e1admin", "钱甲管", "county-e1", ["admin", "publisher"], PASSWORD)
    e1admin = await book.confirm(padmin2, e1admin.id)
    made = {"padmin": padmin, "padmin2": padmin2, "eadmin": eadmin, "e1admin": e1admin}
    for op_id, name, role in (("e1pub", "孙发布", "publisher"), ("e1col", "李征收", "collection"),
                              ("e1staff", "周客服", "staff12366")):  # fmt: skip
        op = await book.add(e1admin, op_id, name, "county-e1", [role], PASSWORD)
        made[op_id] = await book.confirm(eadmin, op.id)
    return made


REPLY_UNITS = UnitTree.from_toml(
    """
[[unit]]
id = "12366"
name = "省税务局12366纳税服务中心"
signature = "12366"
level = "province"
[[unit]]
id = "city-01"
name = "某市税务局"
level = "city"
parent = "12366"
"""
)


async def seed_reply_units(redis: Redis, keys: Keys) -> UnitTree:
    """A tree whose province is the 12366 centre (signature 【12366】), the reply service's default unit."""
    await save_units(redis, keys, REPLY_UNITS)
    return REPLY_UNITS


async def staff_operator(redis: Redis, keys: Keys, op_id: str = "op-12366-01", name: str = "周客服") -> Operator:
    """A 12366 staff operator (after a bootstrap admin), in the seeded reply tree."""
    book = OperatorBook(redis, keys, REPLY_UNITS, hasher=CHEAP)
    admin = await book.find("admin") or await book.bootstrap("admin", "张省管", PASSWORD)
    return await book.add(admin, op_id, name, "12366", ["staff12366"], PASSWORD)
