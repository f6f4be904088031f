-- Release delayed jobs whose time has come back into their lane's stream (every worker runs this; the
-- ZREM makes each release happen once).
-- KEYS: counts hash, events stream. ARGV: now, shard key prefix, lanes, limit per lane.
-- Returns the number of jobs released.
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local lanes, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local released = 0
for lane = 0, lanes - 1 do
  local delayed = CTX.prefix .. ':delayed:' .. lane
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', CTX.now, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    local jobkey = CTX.prefix .. ':job:' .. id
    local fields = redis.call('HMGET', jobkey, 'state', 'job')
    if fields[1] == 'delayed' and fields[2] then
      redis.call('XADD', CTX.prefix .. ':stream:lane' .. lane, '*', 'job', fields[2])
      set_state(jobkey, 'delayed', 'queued')
      released = released + 1
    end
    redis.call('ZREM', delayed, id)
  end
end
return released
