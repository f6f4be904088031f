-- Shared helpers, prepended to every taxsms script (except ratelimit.lua).
local FINAL = {delivered = true, undelivered = true, failed = true, expired = true, suppressed = true,
               rejected = true, dead_lettered = true}
local EVENTS_MAXLEN = 1000000

-- Set by each script before it changes states: counts hash, events stream, key prefix, now.
local CTX = {counts = nil, events = nil, prefix = nil, now = nil}

local function job_id_of(jobkey)
  return string.sub(jobkey, #CTX.prefix + 6)
end

-- States upstream systems need no event for: they enqueued the job themselves, and 'submitting' is internal.
local QUIET = {queued = true, submitting = true}

-- Move job `jobkey` from its current state to `to`: per-state counts, the time it entered the state (the
-- job's short history: field 'at:<state>'), and an event on the events stream.
local function set_state(jobkey, current, to, detail)
  if current == to then return end
  redis.call('HSET', jobkey, 'state', to, 'at:' .. to, CTX.now)
  if current then redis.call('HINCRBY', CTX.counts, current, -1) end
  redis.call('HINCRBY', CTX.counts, to, 1)
  if not QUIET[to] then
    redis.call('XADD', CTX.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', job_id_of(jobkey), 'state', to,
               'at', CTX.now, 'detail', detail or '')
  end
end

-- Apply one delivery receipt to part `part` of a job. outcome: 'delivered' or 'undelivered'.
-- A multi-part message is delivered only when every part is; one undelivered part makes it undelivered.
local function apply_receipt(jobkey, part, outcome, stat, err)
  if redis.call('HSETNX', jobkey, 'r' .. part, stat) == 0 then
    return 'duplicate'
  end
  local current = redis.call('HGET', jobkey, 'state')
  if FINAL[current] then return 'late' end
  if outcome == 'undelivered' then
    local detail = 'part ' .. part .. ': ' .. stat .. ' err:' .. err
    redis.call('HSET', jobkey, 'done_at', CTX.now, 'error', detail)
    set_state(jobkey, current, 'undelivered', detail)
    return 'undelivered'
  end
  local done = redis.call('HINCRBY', jobkey, 'delivered_parts', 1)
  if done >= tonumber(redis.call('HGET', jobkey, 'parts') or '1') then
    redis.call('HSET', jobkey, 'done_at', CTX.now)
    set_state(jobkey, current, 'delivered')
    return 'delivered'
  end
  return 'partial'
end
