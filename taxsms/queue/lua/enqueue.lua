-- Enqueue jobs once each (the job id is the idempotency key), each into its priority lane's stream.
-- A queued job has no record of its own yet, only an entry in its bucket of the queued index (id -> its
-- stream entry), ~30 bytes instead of a key; adopt() gives it a record when a worker picks it up.
-- KEYS: counts hash, events stream, stats hash, the lane streams 0..3, then per job: job hash key,
--   queued-index bucket.
-- ARGV: now, then per job: id, lane, packed job.
-- Returns the number of jobs added (duplicates are skipped).
header()
local added = 0
for i = 8, #KEYS, 2 do
  local jobkey, index = KEYS[i], KEYS[i + 1]
  local a = 2 + (i - 8) / 2 * 3
  local id, lane, packed = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  if redis.call('EXISTS', jobkey) == 0 and redis.call('HEXISTS', index, id) == 0 then
    local entry = redis.call('XADD', KEYS[4 + lane], '*', 'job', packed)
    redis.call('HSET', index, id, entry_ref(entry))
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', CTX.counts, 'queued', added) end
return added
