-- Enqueue jobs once each (the job id is the idempotency key), each into its priority lane's stream.
-- KEYS: counts hash, events stream, then one job hash key per job.
-- ARGV: now, shard key prefix (its hash tag), then per job: id, kind, to, lane, json.
-- Returns the number of jobs added (duplicates are skipped).
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local added = 0
for i = 3, #KEYS do
  local a = 3 + (i - 3) * 5
  local id, kind, to, lane, json = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('HSET', KEYS[i], 'kind', kind, 'to', to, 'lane', lane, 'enqueued_at', CTX.now)
    set_state(KEYS[i], nil, 'queued')
    redis.call('XADD', CTX.prefix .. ':stream:lane' .. lane, '*', 'id', id, 'job', json)
    added = added + 1
  end
end
return added
