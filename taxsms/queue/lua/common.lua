-- Shared helpers, prepended to every taxsms script (except ratelimit.lua), after the state table generated
-- from taxsms/queue/states.py (FINAL, AWAITING_RECEIPT, TRANSITIONS).
-- Every script that moves jobs gets, first in KEYS, its shard's counts hash, events stream and stats hash;
-- ARGV[1] is now. Every other key it touches comes in KEYS too, named by taxsms/queue/keys.py.
local EVENTS_MAXLEN = 1000000

-- Set by each script (header()) before it changes states: counts hash, events stream, stats hash, now, and
-- how long a job's record is kept once it is submitted or final (s; nil: for ever).
local CTX = {counts = nil, events = nil, stats = nil, now = nil, record_ttl = nil}

local function header()
  CTX.counts, CTX.events, CTX.stats, CTX.now = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
end

-- States upstream systems need no event for: they enqueued the job themselves, and 'submitting' is internal.
local QUIET = {queued = true, submitting = true}

-- Move job `id` (record `jobkey`) from its current state to `to`: per-state counts, the time it entered the
-- state (the job's short history: field 'at:<state>'), and an event on the events stream. A move the state
-- table does not declare is refused (the job keeps its state), counted and logged; returns whether it moved.
local function set_state(jobkey, id, current, to, detail)
  if current == to then return true end
  local from = current or ''
  local allowed = TRANSITIONS[from]
  if not (allowed and allowed[to]) then
    redis.call('HINCRBY', CTX.stats, 'refused_transitions', 1)
    redis.call('HINCRBY', CTX.stats, 'refused:' .. from .. '>' .. to, 1)
    redis.log(redis.LOG_WARNING, 'taxsms: refused to move job ' .. id .. ' from ' .. (current or '(no record)')
              .. ' to ' .. to)
    return false
  end
  redis.call('HSET', jobkey, 'state', to, 'at:' .. to, CTX.now)
  -- Kept for the retention period from its last change once nothing waits on it: a submitted job's receipt
  -- comes within the message-id TTL, far shorter. Queued, delayed and submitting records never expire.
  if CTX.record_ttl and (FINAL[to] or to == 'submitted') then redis.call('EXPIRE', jobkey, CTX.record_ttl) end
  if current then redis.call('HINCRBY', CTX.counts, current, -1) end
  redis.call('HINCRBY', CTX.counts, to, 1)
  if not QUIET[to] then
    redis.call('XADD', CTX.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', id, 'state', to,
               'at', CTX.now, 'detail', detail or '')
  end
  return true
end

-- Apply one delivery receipt to part `part` of job `id`. outcome: 'delivered', 'undelivered' or 'unknown'
-- (a stat word that says neither: recorded on the job as is, 'u<part>', never taken for a failure).
-- A multi-part message is delivered only when every part is; one undelivered part makes it undelivered.
-- `deadlines`: the shard's receipt-deadline set, which a job leaves once its receipts decided it.
local function apply_receipt(jobkey, id, part, outcome, stat, err, deadlines)
  if outcome == 'unknown' then
    redis.call('HSET', jobkey, 'u' .. part, stat .. ' err:' .. err)
    redis.call('HINCRBY', CTX.stats, 'unknown_stat_receipts', 1)
    return 'unknown'
  end
  if redis.call('HSETNX', jobkey, 'r' .. part, stat) == 0 then
    return 'duplicate'
  end
  local current = redis.call('HGET', jobkey, 'state')
  if not AWAITING_RECEIPT[current] then return 'late' end
  if current == 'unconfirmed' then redis.call('HINCRBY', CTX.stats, 'receipts_after_timeout', 1) end
  if outcome == 'undelivered' then
    local detail = 'part ' .. part .. ': ' .. stat .. ' err:' .. err
    if not set_state(jobkey, id, current, 'undelivered', detail) then return 'refused' end
    redis.call('HSET', jobkey, 'done_at', CTX.now, 'error', detail)
    redis.call('ZREM', deadlines, id)
    return 'undelivered'
  end
  local done = redis.call('HINCRBY', jobkey, 'delivered_parts', 1)
  if done >= tonumber(redis.call('HGET', jobkey, 'parts') or '1') then
    if not set_state(jobkey, id, current, 'delivered') then return 'refused' end
    redis.call('HSET', jobkey, 'done_at', CTX.now)
    redis.call('ZREM', deadlines, id)
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
