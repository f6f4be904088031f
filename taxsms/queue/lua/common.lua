-- Shared helpers, prepended to every taxsms script (except ratelimit.lua).
local FINAL = {delivered = true, undelivered = true, failed = true, expired = true, suppressed = true,
               rejected = true, dead_lettered = true}
local EVENTS_MAXLEN = 1000000

-- Set by each script before it changes states: counts hash, events stream, key prefix, now, and how long a
-- job's record is kept once it is submitted or final (s; nil: for ever).
local CTX = {counts = nil, events = nil, prefix = nil, now = nil, record_ttl = nil}

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
  -- Kept for the retention period from its last change once nothing waits on it: a submitted job's receipt
  -- comes within the message-id TTL, far shorter. Queued, delayed and submitting records never expire.
  if CTX.record_ttl and (FINAL[to] or to == 'submitted') then redis.call('EXPIRE', jobkey, CTX.record_ttl) end
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

-- A stream entry id ('<ms>-<seq>') as the integer ms * 1024 + seq, which Redis stores in 8 bytes (exact in a
-- Lua double up to 2^53); an id with seq >= 1024 stays a string. JobStore reads it back (_entry_id).
local function entry_ref(entry)
  local ms, seq = string.match(entry, '^(%d+)-(%d+)$')
  seq = tonumber(seq)
  if seq >= 1024 then return entry end
  return string.format('%d', tonumber(ms) * 1024 + seq)
end

-- The time (ms) in an entry_ref(): when the entry was added.
local function entry_ms(ref)
  local ms = string.match(ref, '^(%d+)-')
  if ms then return tonumber(ms) end
  return math.floor(tonumber(ref) / 1024)
end

-- The state of job `jobkey` (nil if unknown). A job still only in its queued-index bucket `index` (enqueued,
-- never picked up) gets its record here, state 'queued' since its entry was added, and leaves the index.
local function adopt(jobkey, index, id)
  local current = redis.call('HGET', jobkey, 'state')
  if current then return current end
  local ref = redis.call('HGET', index, id)
  if not ref then return nil end
  redis.call('HDEL', index, id)
  redis.call('HSET', jobkey, 'state', 'queued', 'at:queued', string.format('%.3f', entry_ms(ref) / 1000))
  return 'queued'
end

-- Ack a job stream entry and delete it: a handled entry is of no more use, and an acked one left in the
-- stream would hold its job's bytes in memory for ever.
local function finish_entry(stream, group, entry)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
end
