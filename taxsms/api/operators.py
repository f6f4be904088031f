"""Who may log into the console: the OperatorDirectory protocol and a Redis-backed STAND-IN.

REPLACE ME: taxsms.governance.operators (real-name operators, argon2 passwords, roles, suspension) is the
real directory. `StandInOperators` exists only so the console works before it lands; create_app takes any
object with `authenticate`, and `default_directory` picks governance's when it can.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Protocol

import msgspec
from redis.asyncio import Redis

from taxsms.api.keys import ApiKeys


@dataclass(frozen=True, slots=True)
class Operator:
    """A logged-in console user (real name, unit, roles such as 'approver', 'inbox')."""

    id: str
    name: str
    unit: str
    roles: frozenset[str] = field(default_factory=frozenset)


class OperatorDirectory(Protocol):
    async def authenticate(self, operator_id: str, password: str) -> Operator | None:
        """The operator if the password is right and the account active, else None."""
        ...


_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)  # type: ignore[arg-type]


class StandInOperators:
    """STAND-IN for taxsms.governance.operators: operators in one Redis hash, scrypt password hashes."""

    def __init__(self, redis: Redis, keys: ApiKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def add(self, operator_id: str, name: str, unit: str, password: str, roles: set[str] | None = None) -> None:
        salt = secrets.token_bytes(16)
        record = {
            "name": name,
            "unit": unit,
            "roles": sorted(roles or ()),
            "salt": salt.hex(),
            "hash": _hash(password, salt).hex(),
        }
        await self.redis.hset(self.keys.console_operators, operator_id, msgspec.json.encode(record))

    async def authenticate(self, operator_id: str, password: str) -> Operator | None:
        raw = await self.redis.hget(self.keys.console_operators, operator_id)
        if raw is None:
            _hash(password, b"0" * 16)  # same cost whether or not the operator exists
            return None
        record = msgspec.json.decode(raw)
        if not hmac.compare_digest(_hash(password, bytes.fromhex(record["salt"])).hex(), record["hash"]):
            return None
        return Operator(operator_id, record["name"], record["unit"], frozenset(record["roles"]))


def default_directory(redis: Redis, keys: ApiKeys) -> OperatorDirectory:
    """The operator directory create_app uses when none is given (the stand-in until governance lands)."""
    return StandInOperators(redis, keys)
