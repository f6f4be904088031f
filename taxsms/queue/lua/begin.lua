-- Claim a batch of jobs for submission; skip those already past submission (dedupe after a crash).
-- KEYS: counts hash, then one job hash key per job.
-- ARGV: now, then per job: entry id, kind, to, unit.
-- Returns one flag per job: 1 = send it, 0 = already handled (just ack the entry).
local counts = KEYS[1]
local now = ARGV[1]
local result = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 4
  local jobkey = KEYS[i]
  local current = redis.call('HGET', jobkey, 'state')
  if current == false or current == 'queued' or current == 'submitting' then
    if current == false then
      -- Pushed straight into the stream by an upstream system: create the record.
      redis.call('HSET', jobkey, 'kind', ARGV[a + 1], 'to', ARGV[a + 2], 'enqueued_at', now)
      current = nil
    end
    redis.call('HSET', jobkey, 'entry', ARGV[a], 'submitting_at', now)
    redis.call('HINCRBY', jobkey, 'attempts', 1)
    set_state(counts, jobkey, current, 'submitting')
    result[#result + 1] = 1
  else
    result[#result + 1] = 0
  end
end
return result
