-- Shared rate limit of one SMSC link (GCRA), counting segments: grant up to n now, or say how long to wait.
-- KEYS: the limiter's key (holds the theoretical arrival time, TAT, in microseconds).
-- ARGV: n wanted, rate (per second), burst (segments that may go at once), now in µs (or '' for Redis TIME).
-- Returns {granted, wait_us}: granted 0 < k <= n segments now, or 0 and how long until one is due.
local n, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[4])
end
local interval = 1000000 / rate
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
-- A segment may go when its arrival time lies within the burst tolerance: tat + interval <= now + burst * interval.
local room = math.floor((now + burst * interval - tat) / interval + 1e-9)
if room <= 0 then
  return {0, math.ceil(tat + interval - burst * interval - now)}
end
local k = math.min(n, room)
tat = tat + k * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {k, 0}
