-- Release delayed jobs whose time has come back into their lane's stream (every worker runs this; the
-- ZREM makes each release happen once). The caller read the due ids (ZRANGEBYSCORE); each is checked again.
-- KEYS: counts hash, events stream, stats hash, the delayed sets of lanes 0..3, the lane streams 0..3, then
--   per job: job hash key.
-- ARGV: now, then per job: id, lane.
-- Returns the number of jobs released.
header()
local now = tonumber(CTX.now)
return run(function()
local released = 0
for i = 12, #KEYS do
  local a = 2 + (i - 12) * 2
  local id, lane = ARGV[a], tonumber(ARGV[a + 1])
  local jobkey, delayed = KEYS[i], KEYS[4 + lane]
  local due = tonumber(redis.call('ZSCORE', delayed, id) or '')
  if due and due <= now then
    local fields = redis.call('HMGET', jobkey, 'state', 'job')
    if fields[1] == 'delayed' and fields[2] and set_state(jobkey, id, 'delayed', 'queued') then
      redis.call('XADD', KEYS[8 + lane], '*', 'job', fields[2])
      released = released + 1
    end
    zrem_later(delayed, id)
  end
end
return released
end)
