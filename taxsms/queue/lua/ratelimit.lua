-- Shared rate limit of one SMSC link (GCRA), counting segments: grant up to n now, or say how long to wait.
-- KEYS: the limiter's key, "base tat": base an epoch second, tat the theoretical arrival time.
-- ARGV: n wanted, rate in segments per 1,000 s (an integer), burst (segments that may go at once),
--       now in µs (or '' for Redis TIME).
-- Returns {granted, 0} with 0 < granted <= n, or {0, wait_us} with wait_us >= 1: never "no room, no wait".
--
-- All arithmetic is on integers, exact in Lua's doubles (< 2^53): time is counted in units of 1/rate µs,
-- so one segment is exactly 10^9 units whatever the rate, and it is counted from `base`, a recent second
-- (moved forward every minute), which keeps every value below 2^53 up to 100,000 segments a second.
local n, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local SEGMENT = 1000000000
local sec, usec
if ARGV[4] == '' then
  local t = redis.call('TIME')
  sec, usec = tonumber(t[1]), tonumber(t[2])
else
  local now_us = tonumber(ARGV[4])
  sec = math.floor(now_us / 1000000)
  usec = now_us - sec * 1000000
end
local base, tat = string.match(redis.call('GET', KEYS[1]) or '', '^(%d+) (%d+)$')
base, tat = tonumber(base), tonumber(tat)
if base == nil or base > sec then
  base, tat = sec, 0
elseif sec - base > 60 then
  tat = math.max(0, tat - (sec - base) * 1000000 * rate)
  base = sec
end
local now = ((sec - base) * 1000000 + usec) * rate
-- An idle link starts afresh at now; a lag of under 1 µs is kept, so a caller that comes at the first whole µs
-- after a segment is due does not lose the fraction (the rate stays exact, not 1 µs a segment slow).
if tat + rate <= now then tat = now end
-- A segment may go when its arrival time lies within the burst tolerance: tat + SEGMENT <= now + burst * SEGMENT.
local slack = now + burst * SEGMENT - tat
local room = math.floor(slack / SEGMENT)
if room <= 0 then
  local wait = math.ceil((SEGMENT - slack) / rate)
  return {0, math.max(wait, 1)}
end
local k = math.min(n, room)
tat = tat + k * SEGMENT
redis.call('SET', KEYS[1], string.format('%.0f %.0f', base, tat), 'PX', math.ceil((tat - now) / rate / 1000) + 1000)
return {k, 0}
