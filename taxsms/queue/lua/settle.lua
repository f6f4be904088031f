-- Record outcomes for a batch of jobs, then ack their stream entries (acceptance is recorded before the ack,
-- so a crash in between resends nothing that was accepted).
-- KEYS: counts hash, events stream, stats hash, dead-letter stream, then per job: job hash key, queued-index
--   bucket (a job delayed or expired before it was ever claimed gets its record here).
-- ARGV: now, shard key prefix (its hash tag), group, message-id ttl (s), month (YYYY-MM), retry base (s),
--   retry cap (s),
--   max retries, record ttl (s), then per job a record of 9 fields + n message ids:
--   stream, entry id, outcome, detail, smpp status, release time, lane, job json, n, id_1 .. id_n.
-- Outcomes: 'submitted' (n message ids, one per part), 'failed', 'expired', 'dead_lettered', 'skip' (only
-- ack), 'delayed' (wait in the lane's delayed set until the release time), 'retry' (a transient failure:
-- delayed with exponential back-off, dead-lettered after max retries).
-- An entry with no job id has the job key '<prefix>:job:' and only counts.
-- A receipt that arrived before its submit_sm_resp was recorded waits as an orphan; it is applied here.
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local stats, dead = KEYS[3], KEYS[4]
local prefix, group, ttl, month = CTX.prefix, ARGV[3], tonumber(ARGV[4]), ARGV[5]
local retry_base, retry_cap, max_retries = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
CTX.record_ttl = tonumber(ARGV[9])
local now = tonumber(CTX.now)
local segments = 0

local function delay(jobkey, current, release, lane, json, detail)
  redis.call('HSET', jobkey, 'job', json, 'release_at', string.format('%.3f', release), 'lane', lane)
  redis.call('ZADD', prefix .. ':delayed:' .. lane, release, job_id_of(jobkey))
  set_state(jobkey, current, 'delayed', detail)
end

local a = 10
for i = 5, #KEYS, 2 do
  local jobkey, index = KEYS[i], KEYS[i + 1]
  local stream, entry, outcome, detail = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local status, release, lane, json = ARGV[a + 4], tonumber(ARGV[a + 5]), ARGV[a + 6], ARGV[a + 7]
  local n = tonumber(ARGV[a + 8])
  a = a + 9
  local current = jobkey ~= prefix .. ':job:' and adopt(jobkey, index, job_id_of(jobkey)) or nil
  if outcome == 'skip' or (current and (current == outcome or FINAL[current])) then
    -- nothing to record: an earlier attempt (or a retried batch) already did
  elseif jobkey == prefix .. ':job:' then
    redis.call('HINCRBY', CTX.counts, outcome, 1)
  elseif outcome == 'submitted' then
    redis.call('HSET', jobkey, 'submitted_at', CTX.now, 'parts', n)
    set_state(jobkey, current, 'submitted')
    segments = segments + n
    local meta = redis.call('HMGET', jobkey, 'unit', 'kind')
    local unit = meta[1] or ''
    if unit == '' then unit = '-' end
    local usage = prefix .. ':usage:' .. month
    redis.call('HINCRBY', usage, unit .. '|' .. (meta[2] or '-'), n)
    redis.call('HINCRBY', usage, unit .. '|*', n)
    local job_id = job_id_of(jobkey)
    for part = 1, n do
      local msgid = ARGV[a + part - 1]
      redis.call('HSET', jobkey, 'm' .. part, msgid)
      redis.call('SET', prefix .. ':msg:' .. msgid, job_id .. ' ' .. part, 'EX', ttl)
      local orphan = prefix .. ':orphan:' .. msgid
      local pending = redis.call('GET', orphan)
      if pending then
        local outcome_r, stat, err = string.match(pending, '^(%S+) (%S+) (%S*)')
        apply_receipt(jobkey, part, outcome_r, stat, err)
        redis.call('DEL', orphan)
        redis.call('HINCRBY', stats, 'orphan_receipts_matched', 1)
      end
    end
  elseif outcome == 'delayed' then
    delay(jobkey, current, release, lane, json, detail)
  elseif outcome == 'retry' then
    local tries = redis.call('HINCRBY', jobkey, 'retries', 1)
    redis.call('HSET', jobkey, 'error', detail, 'smpp_status', status)
    if tries > max_retries then
      local why = 'gave up after ' .. max_retries .. ' retries: ' .. detail
      redis.call('XADD', dead, '*', 'id', job_id_of(jobkey), 'entry', entry, 'field', 'smsc', 'reason', why,
                 'job', json, 'at', CTX.now)
      redis.call('HSET', jobkey, 'done_at', CTX.now, 'error', why)
      set_state(jobkey, current, 'dead_lettered', why)
    else
      local wait = math.min(retry_base * 2 ^ (tries - 1), retry_cap)
      delay(jobkey, current, now + wait, lane, json, 'retry ' .. tries .. ': ' .. detail)
    end
  else
    redis.call('HSET', jobkey, 'done_at', CTX.now, 'error', detail, 'smpp_status', status)
    set_state(jobkey, current, outcome, detail)
  end
  a = a + n
  finish_entry(stream, group, entry)
end
if segments > 0 then redis.call('HINCRBY', stats, 'segments', segments) end
return (#KEYS - 4) / 2
