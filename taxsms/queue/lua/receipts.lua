-- Apply a batch of delivery receipts in one shard.
-- KEYS: counts hash, events stream, stats hash.
-- ARGV: now, shard key prefix, orphan ttl (s), keep orphans (1/0), count unknown ones in stats (1/0),
--   record ttl (s), then per receipt: message id, outcome, stat, err.
-- A receipt whose id is unknown here (its submit_sm_resp not recorded yet, sent before the mapping expired,
-- or its job in another shard) is, when keeping orphans, kept as an orphan for `ttl` seconds; settle.lua
-- applies it when the id shows up.
-- Returns the message ids that were unknown here.
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local stats, ttl, prefix = KEYS[3], tonumber(ARGV[3]), ARGV[2]
local keep, count = ARGV[4] == '1', ARGV[5] == '1'
CTX.record_ttl = tonumber(ARGV[6])
local unknown = {}
for a = 7, #ARGV, 4 do
  local msgid, outcome, stat, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local target = redis.call('GET', prefix .. ':msg:' .. msgid)
  if target then
    local job_id, part = string.match(target, '^(.*) (%d+)$')
    apply_receipt(prefix .. ':job:' .. job_id, part, outcome, stat, err)
  else
    unknown[#unknown + 1] = msgid
    if keep then
      redis.call('SET', prefix .. ':orphan:' .. msgid, outcome .. ' ' .. stat .. ' ' .. err, 'EX', ttl)
    end
  end
end
if count and #unknown > 0 then redis.call('HINCRBY', stats, 'unknown_receipts', #unknown) end
return unknown
