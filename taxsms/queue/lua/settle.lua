-- Record outcomes for a batch of jobs, then ack their stream entries (acceptance is recorded before the ack,
-- so a crash in between resends nothing that was accepted).
-- KEYS: counts hash, events stream, stats hash, dead-letter stream, this month's usage hash, receipt-deadline
--   set, orphan-receipt hash, orphan-receipt index, the delayed sets of lanes 0..3, this month's and last
--   month's held hash (quota segments held by claimed jobs, see begin.lua), then per job: job hash key,
--   queued-index bucket (a job delayed or expired before it was ever claimed gets its record here), then one
--   message-id key per part (for 'submitted').
-- ARGV: now, group, message-id ttl (s), retry base (s), retry cap (s), max retries, record ttl (s),
--   dead-letter maxlen, dead-letter payload cap (bytes), this month and last month ('YYYY-MM'), then per job
--   a record of 11 fields + 2 per part:
--   id, stream, entry id, outcome, detail, smpp status, release time, lane, job json, receipt deadline, n, then
--   per part: its message id and the orphan fields a receipt for it may wait under (space-separated).
-- Outcomes: 'submitted' (n message ids, one per part), 'failed', 'expired', 'dead_lettered', 'skip' (only
-- ack), 'delayed' (wait in the lane's delayed set until the release time), 'retry' (a transient failure:
-- delayed with exponential back-off, dead-lettered after max retries).
-- An entry with no job id (id '') only counts.
-- A receipt that arrived before its submit_sm_resp was recorded waits as an orphan; it is applied here.
-- Whatever the outcome (but 'skip'), the quota segments the job holds are given back: a submitted job's
-- parts are counted as usage instead.
header()
local dead, usage, deadlines, orphans, orphan_index = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local group, ttl = ARGV[2], tonumber(ARGV[3])
local retry_base, retry_cap, max_retries = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
CTX.record_ttl = tonumber(ARGV[7])
local dead_maxlen, dead_payload = tonumber(ARGV[8]), tonumber(ARGV[9])
local held_keys = {[ARGV[10]] = KEYS[13], [ARGV[11]] = KEYS[14]}
local now = tonumber(CTX.now)
local segments, handled = 0, 0

local function delay(jobkey, id, current, release, lane, json, detail)
  local fields = {'job', json, 'release_at', string.format('%.3f', release), 'lane', lane}
  if set_state(jobkey, id, current, 'delayed', detail, fields) then
    redis.call('ZADD', KEYS[9 + tonumber(lane)], release, id)
  end
end

-- The quota segments a job not submitted (delayed, retried, refused, ...) holds: given back.
local function release_held(jobkey, record)
  if record[5] then give_back(jobkey, record[5], record[2] or '', held_keys) end
end

-- A receipt kept as an orphan under one of `fields` (space-separated), for this job's phone: applied now.
local function adopt_orphan(jobkey, id, part, fields, to)
  for field in string.gmatch(fields, '%S+') do
    local pending = redis.call('HGET', orphans, field)
    if pending then
      local outcome, stat, err, phone = string.match(pending, '^(%S+) (%S+) (%S*) ?(%S*)')
      if phone == '' or to == '' or phone == to then
        apply_receipt(jobkey, id, part, outcome, stat, err, deadlines)
        redis.call('HDEL', orphans, field)
        redis.call('ZREM', orphan_index, field)
        incr(CTX.stats, 'orphan_receipts_matched', 1)
        return
      end
    end
  end
end

return run(function()
local check_orphans = redis.call('HLEN', orphans) > 0  -- orphans.lua adds them, never this script
local a, k = 12, 15
while k <= #KEYS do
  local jobkey, index = KEYS[k], KEYS[k + 1]
  local id, stream, entry, outcome, detail = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local status, release, lane, json = ARGV[a + 5], tonumber(ARGV[a + 6]), ARGV[a + 7], ARGV[a + 8]
  local deadline, n = ARGV[a + 9], tonumber(ARGV[a + 10])
  local parts_at, msg_at = a + 11, k + 2
  a, k = a + 11 + 2 * n, k + 2 + n
  local record = id ~= '' and adopt(jobkey, index, id, 'unit', 'kind', 'to', 'held') or {}
  local current = record[1] or nil
  if outcome == 'skip' or (current and (current == outcome or FINAL[current])) then
    -- nothing to record: an earlier attempt (or a retried batch) already did
  elseif id == '' then
    incr(CTX.counts, outcome, 1)
  elseif outcome == 'submitted' then
    local fields = {'submitted_at', CTX.now, 'parts', n}
    for part = 1, n do
      fields[#fields + 1], fields[#fields + 2] = 'm' .. part, ARGV[parts_at + 2 * (part - 1)]
    end
    if set_state(jobkey, id, current, 'submitted', nil, fields) then
      redis.call('ZADD', deadlines, deadline, id)
      segments = segments + n
      local unit, to = record[2] or '', record[4] or ''
      if record[5] then give_back(jobkey, record[5], unit, held_keys) end
      if unit == '' then unit = '-' end
      incr(usage, unit .. '|' .. (record[3] or '-'), n)
      incr(usage, unit .. '|*', n)
      for part = 1, n do
        redis.call('SET', KEYS[msg_at + part - 1], id .. ' ' .. part .. ' ' .. to, 'EX', ttl)
        if check_orphans then adopt_orphan(jobkey, id, part, ARGV[parts_at + 2 * (part - 1) + 1], to) end
      end
    end
  elseif outcome == 'delayed' then
    release_held(jobkey, record)
    delay(jobkey, id, current, release, lane, json, detail)
  elseif outcome == 'retry' then
    release_held(jobkey, record)
    local tries = redis.call('HINCRBY', jobkey, 'retries', 1)
    redis.call('HSET', jobkey, 'error', detail, 'smpp_status', status)
    if tries > max_retries then
      local why = 'gave up after ' .. max_retries .. ' retries: ' .. detail
      if set_state(jobkey, id, current, 'dead_lettered', why, {'done_at', CTX.now, 'error', why}) then
        redis.call('XADD', dead, 'MAXLEN', '~', dead_maxlen, '*', 'id', id, 'entry', entry, 'field', 'smsc',
                   'reason', why, 'job', string.sub(json, 1, dead_payload), 'job_bytes', #json, 'at', CTX.now)
      end
    else
      local wait = math.min(retry_base * 2 ^ (tries - 1), retry_cap)
      delay(jobkey, id, current, now + wait, lane, json, 'retry ' .. tries .. ': ' .. detail)
    end
  else
    release_held(jobkey, record)
    set_state(jobkey, id, current, outcome, detail, {'done_at', CTX.now, 'error', detail, 'smpp_status', status})
  end
  finish_entry(stream, group, entry)
  handled = handled + 1
end
if segments > 0 then incr(CTX.stats, 'segments', segments) end
return handled
end)
