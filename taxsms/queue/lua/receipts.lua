-- Apply a batch of delivery receipts.
-- KEYS: counts hash, events stream, stats hash.
-- ARGV: now, key prefix, orphan ttl (s), then per receipt: message id, outcome, stat, err.
-- A receipt whose id is unknown (its submit_sm_resp not recorded yet, or sent before the mapping expired)
-- is kept as an orphan for `ttl` seconds; settle.lua applies it when the id shows up.
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local stats, ttl, prefix = KEYS[3], tonumber(ARGV[3]), ARGV[2]
local unknown = 0
for a = 4, #ARGV, 4 do
  local msgid, outcome, stat, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local target = redis.call('GET', prefix .. ':msg:' .. msgid)
  if target then
    local job_id, part = string.match(target, '^(.*) (%d+)$')
    apply_receipt(prefix .. ':job:' .. job_id, part, outcome, stat, err)
  else
    unknown = unknown + 1
    redis.call('SET', prefix .. ':orphan:' .. msgid, outcome .. ' ' .. stat .. ' ' .. err, 'EX', ttl)
  end
end
if unknown > 0 then redis.call('HINCRBY', stats, 'unknown_receipts', unknown) end
return unknown
