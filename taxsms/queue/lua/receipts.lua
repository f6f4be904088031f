-- Apply a batch of delivery receipts.
-- KEYS: counts hash, stats hash.
-- ARGV: now, orphan ttl (s), key prefix, then per receipt: message id, outcome, stat, err.
-- A receipt whose id is unknown (its submit_sm_resp not recorded yet, or sent before the mapping expired)
-- is kept as an orphan for `ttl` seconds; settle.lua applies it when the id shows up.
local counts, stats = KEYS[1], KEYS[2]
local now, ttl, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local unknown = 0
for a = 4, #ARGV, 4 do
  local msgid, outcome, stat, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local target = redis.call('GET', prefix .. ':msg:' .. msgid)
  if target then
    local job_id, part = string.match(target, '^(.*) (%d+)$')
    apply_receipt(counts, prefix .. ':job:' .. job_id, part, outcome, stat, err, now)
  else
    unknown = unknown + 1
    redis.call('SET', prefix .. ':orphan:' .. msgid, outcome .. ' ' .. stat .. ' ' .. err, 'EX', ttl)
  end
end
if unknown > 0 then redis.call('HINCRBY', stats, 'unknown_receipts', unknown) end
return unknown
