-- Enqueue jobs once each (the job id is the idempotency key).
-- KEYS: intake stream, counts hash, then one job hash key per job.
-- ARGV: now, maxlen (0 = untrimmed), then per job: id, kind, to, json.
-- Returns the number of jobs added (duplicates are skipped).
local intake, counts = KEYS[1], KEYS[2]
local now = ARGV[1]
local added = 0
for i = 3, #KEYS do
  local a = 2 + (i - 3) * 4
  local id, kind, to, json = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('HSETNX', KEYS[i], 'state', 'queued') == 1 then
    redis.call('HSET', KEYS[i], 'kind', kind, 'to', to, 'enqueued_at', now)
    redis.call('XADD', intake, '*', 'id', id, 'job', json)
    redis.call('HINCRBY', counts, 'queued', 1)
    added = added + 1
  end
end
return added
