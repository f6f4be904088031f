"""Password-guessing limits for console logins, counted in Redis before the password is checked.

Every attempt first takes a slot in one Lua call: the counters of (operator, address), of the address and of
the operator are incremented together, so 40 parallel guesses are 40 counted attempts, not 40 checks against a
stale count. Past its limit a counter backs off: the (operator, address) pair after 5 failures and the address
after 20 are refused for 30 s, doubling with each further failure, at most 15 minutes. The operator's own
counter (all addresses together) never refuses: past 10 failures each attempt is only slowed (at most 5 s), so
strangers elsewhere cannot lock the owner out; the owner's address is held back only by its own failures.
A successful login takes its attempt back. Counters are forgotten an hour after their last failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from taxsms.api.keys import ApiKeys

PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
OPERATOR_SLOWDOWN_AFTER = 10
BACKOFF_BASE_MS = 30_000
BACKOFF_CAP_MS = 15 * 60_000
SLOWDOWN_STEP_S = 0.5
SLOWDOWN_CAP_S = 5.0
FORGET_S = 3600

# KEYS: pair, address, operator counters (hashes failures/until). ARGV: now ms, pair limit, address limit,
# backoff base ms, backoff cap ms, ttl s. Returns {0, wait ms} when refused, else {1, locked, operator failures}
# where locked is 1 if this attempt put the pair or the address into back-off.
_RESERVE = """
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local untl = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if untl - now > wait then wait = untl - now end
end
if wait > 0 then return {0, wait} end
local locked = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i + 1])
  local n = redis.call('HINCRBY', KEYS[i], 'failures', 1)
  if n >= limit then
    local delay = math.min(tonumber(ARGV[4]) * 2 ^ (n - limit), tonumber(ARGV[5]))
    redis.call('HSET', KEYS[i], 'until', now + delay)
    locked = 1
  end
  redis.call('EXPIRE', KEYS[i], ARGV[6])
end
local total = redis.call('HINCRBY', KEYS[3], 'failures', 1)
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {1, locked, total}
"""

# KEYS as above; ARGV: pair limit, address limit. Takes a successful attempt back.
_RELEASE = """
redis.call('DEL', KEYS[1])
local n = redis.call('HINCRBY', KEYS[2], 'failures', -1)
if n < tonumber(ARGV[2]) then redis.call('HDEL', KEYS[2], 'until') end
if n <= 0 then redis.call('DEL', KEYS[2]) end
if redis.call('HINCRBY', KEYS[3], 'failures', -1) <= 0 then redis.call('DEL', KEYS[3]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of taking a slot: refused for `retry_after_s`, or allowed (perhaps after `slow_s`)."""

    allowed: bool
    retry_after_s: int = 0
    locked: bool = False  # this attempt, if it fails, is the one that started a back-off
    slow_s: float = 0.0


class LoginLimits:
    def __init__(self, redis: Redis, keys: ApiKeys) -> None:
        self.keys = keys
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, operator_id: str, address: str) -> list[str]:
        return [
            self.keys.login_failures("pair", f"{operator_id}|{address}"),
            self.keys.login_failures("address", address),
            self.keys.login_failures("operator", operator_id),
        ]

    async def attempt(self, operator_id: str, address: str, now: float | None = None) -> Attempt:
        """Count one attempt before the password is checked; refused while the pair or address backs off."""
        now_ms = int((time.time() if now is None else now) * 1000)
        args = [now_ms, PAIR_LIMIT, ADDRESS_LIMIT, BACKOFF_BASE_MS, BACKOFF_CAP_MS, FORGET_S]
        reply = await self._reserve(keys=self._keys(operator_id, address), args=args)
        if not int(reply[0]):
            return Attempt(False, retry_after_s=max(1, -(-int(reply[1]) // 1000)))
        failures = int(reply[2])
        slow = min(SLOWDOWN_STEP_S * (failures - OPERATOR_SLOWDOWN_AFTER), SLOWDOWN_CAP_S)
        return Attempt(True, locked=bool(int(reply[1])), slow_s=max(slow, 0.0))

    async def succeeded(self, operator_id: str, address: str) -> None:
        """The password was right: the pair starts afresh, the attempt no longer counts for the others."""
        await self._release(keys=self._keys(operator_id, address), args=[PAIR_LIMIT, ADDRESS_LIMIT])
