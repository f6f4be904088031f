-- Record the SMSC's answers for a batch of jobs, then ack their stream entries (acceptance is recorded
-- before the ack, so a crash in between resends nothing that was accepted).
-- KEYS: intake stream, counts hash, stats hash, then one job hash key per job.
-- ARGV: group, now, message-id ttl (s), key prefix, then per job a record:
--   entry id, outcome ('submitted' | 'failed' | 'dead_lettered' | 'skip'), detail, smpp status, n, then n
--   message ids. 'skip' only acks (an earlier attempt settled the job). An entry with no job id has the job
--   key '<prefix>:job:' and only counts.
-- A receipt that arrived before its submit_sm_resp was recorded waits as an orphan; it is applied here.
local intake, counts, stats = KEYS[1], KEYS[2], KEYS[3]
local group, now, ttl, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local a = 5
local segments = 0
for i = 4, #KEYS do
  local jobkey = KEYS[i]
  local entry, outcome, detail, status, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  a = a + 5
  local current = redis.call('HGET', jobkey, 'state') or nil
  if outcome == 'skip' or (current and (current == outcome or FINAL[current])) then
    -- nothing to record: an earlier attempt (or a retried batch) already did
  elseif jobkey == prefix .. ':job:' then
    redis.call('HINCRBY', counts, outcome, 1)
  elseif outcome == 'submitted' then
    redis.call('HSET', jobkey, 'submitted_at', now, 'parts', n)
    set_state(counts, jobkey, current, 'submitted')
    segments = segments + n
    local job_id = string.sub(jobkey, #prefix + 6)
    for part = 1, n do
      local msgid = ARGV[a + part - 1]
      redis.call('HSET', jobkey, 'm' .. part, msgid)
      redis.call('SET', prefix .. ':msg:' .. msgid, job_id .. ' ' .. part, 'EX', ttl)
      local orphan = prefix .. ':orphan:' .. msgid
      local pending = redis.call('GET', orphan)
      if pending then
        local outcome_r, stat, err = string.match(pending, '^(%S+) (%S+) (%S*)')
        apply_receipt(counts, jobkey, part, outcome_r, stat, err, now)
        redis.call('DEL', orphan)
        redis.call('HINCRBY', stats, 'orphan_receipts_matched', 1)
      end
    end
  else
    redis.call('HSET', jobkey, 'done_at', now, 'error', detail, 'smpp_status', status)
    set_state(counts, jobkey, current, outcome)
  end
  a = a + n
  redis.call('XACK', intake, group, entry)
end
if segments > 0 then redis.call('HINCRBY', stats, 'segments', segments) end
return #KEYS - 3
