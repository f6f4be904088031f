-- Apply delivery receipts the caller matched to their messages (taxsms.queue.correlation) in one shard.
-- KEYS: counts hash, events stream, stats hash, receipt-deadline set, then per receipt: its message-id key,
--   the job hash key.
-- ARGV: now, record ttl (s), then per receipt: the message-id key's value it was matched by, job id, part,
--   outcome, stat, err.
-- A message-id key whose value changed since the match (expired, or the id reused for a new message) is not
-- applied. Returns per receipt what became of it ('delivered', 'partial', 'duplicate', 'late', 'unknown',
-- 'changed', ...).
header()
CTX.record_ttl = tonumber(ARGV[2])
local deadlines = KEYS[4]
return run(function()
local result = {}
for i = 5, #KEYS, 2 do
  local a = 3 + (i - 5) / 2 * 6
  local matched, id, part, outcome, stat, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  if redis.call('GET', KEYS[i]) == matched then
    result[#result + 1] = apply_receipt(KEYS[i + 1], id, part, outcome, stat, err, deadlines)
  else
    result[#result + 1] = 'changed'
  end
end
return result
end)
