-- Keep receipts no message was found for as orphans, unless one of the message-id keys they may belong to
-- appeared meanwhile (a settle raced with the receipt): those are handed back to be matched again.
-- Orphans live in one hash (field: the receipt's message id) with an index by arrival time; older than the
-- ttl or beyond the count cap, the oldest are dropped (counted: orphan_receipts_dropped).
-- KEYS: counts hash, events stream, stats hash, orphan hash, orphan index, then per receipt: the message-id
--   keys it may belong to (its id as given and its hex/decimal counterparts).
-- ARGV: now, ttl (s), most orphans kept, count them as unknown (1/0), then per receipt: its message id, the
--   orphan value ('outcome stat err phone'), how many message-id keys follow for it in KEYS.
-- Returns the message ids to match again.
header()
local orphans, index = KEYS[4], KEYS[5]
local now, ttl, cap, count = tonumber(CTX.now), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local again, kept, k = {}, 0, 6
for a = 5, #ARGV, 3 do
  local msgid, value, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local known = false
  for j = k, k + n - 1 do
    if redis.call('EXISTS', KEYS[j]) == 1 then known = true end
  end
  k = k + n
  if known then
    again[#again + 1] = msgid
  else
    redis.call('HSET', orphans, msgid, value)
    redis.call('ZADD', index, now, msgid)
    kept = kept + 1
  end
end
if kept > 0 then
  local dropped = 0
  local stale = redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl, 'LIMIT', 0, 1000)
  local excess = redis.call('ZCARD', index) - #stale - cap
  if excess > 0 then
    for _, id in ipairs(redis.call('ZRANGE', index, #stale, #stale + excess - 1)) do stale[#stale + 1] = id end
  end
  for _, id in ipairs(stale) do
    redis.call('HDEL', orphans, id)
    redis.call('ZREM', index, id)
    dropped = dropped + 1
  end
  if dropped > 0 then redis.call('HINCRBY', CTX.stats, 'orphan_receipts_dropped', dropped) end
  if count then redis.call('HINCRBY', CTX.stats, 'unknown_receipts', kept) end
end
return again
