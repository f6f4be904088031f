-- Hand back entries a consumer claimed but will not send (all its SMPP binds are down): each one still pending
-- under it gets the idle time ARGV[3] (HANDED_BACK_IDLE_MS, more than any live entry is ever idle), so that the
-- next XAUTOCLAIM pass of any worker takes it, and its delivery count one less (this delivery sent nothing, so
-- it does not bring the entry nearer max_deliveries). An entry no longer pending under the consumer (settled,
-- or taken by another) is left alone. The job's record is not touched: it stays 'submitting', holding what it
-- held, as for an entry reclaimed from a dead worker (begin.lua takes it again as such).
-- KEYS: the shard's stats hash, then the shard's lane streams.
-- ARGV: group, consumer, idle ms, then per entry: the index of its stream in KEYS, its entry id.
-- Returns how many entries were handed back (also counted as 'handed_back' in the stats hash).
local stats, group, consumer, idle = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local n = 0
for i = 4, #ARGV, 2 do
  local stream, id = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  local pending = redis.call('XPENDING', stream, group, id, id, 1, consumer)[1]
  if pending then
    local deliveries = math.max(tonumber(pending[4]) - 1, 0)
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle, 'RETRYCOUNT', deliveries, 'JUSTID')
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', stats, 'handed_back', n) end
return n
