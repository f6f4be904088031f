-- Shared helpers, prepended to every taxsms script (except ratelimit.lua), after the state table generated
-- from taxsms/queue/states.py (FINAL, AWAITING_RECEIPT, TRANSITIONS).
-- Every script that moves jobs gets, first in KEYS, its shard's counts hash, events stream and stats hash;
-- ARGV[1] is now. Every other key it touches comes in KEYS too, named by taxsms/queue/keys.py.
-- A script's body runs inside run(): counter increments and stream acks are gathered while it runs and
-- written once per key at the end (one HINCRBY per state and batch, not two per job), also when the body
-- fails half-way, so the counts always match the records that were written.
local EVENTS_MAXLEN = 1000000

-- Set by each script (header()) before it changes states: counts hash, events stream, stats hash, now, and
-- how long a job's record is kept once it is submitted or final (s; nil: for ever).
local CTX = {counts = nil, events = nil, stats = nil, now = nil, record_ttl = nil}
local INCRS, INCR_KEYS = {}, {}  -- key -> field -> delta, and the keys in first-use order
local ACKS, ACK_STREAMS = {}, {}  -- stream -> entry ids to ack and delete, and the streams in first-use order
local ZREMS, ZREM_KEYS = {}, {}  -- sorted set -> members to remove
-- job key -> when it was queued, for a record adopt() starts: written with the job's first state change (one
-- HSET instead of two), or by flush() if the script changes nothing
local BORN = {}

local function header()
  CTX.counts, CTX.events, CTX.stats, CTX.now = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
end

-- The table gathered for `key` in `gathered` (created empty, and `key` added to `order`, on first use).
local function gathered_for(gathered, order, key)
  local items = gathered[key]
  if not items then
    items = {}
    gathered[key] = items
    order[#order + 1] = key
  end
  return items
end

-- Add `n` to `field` of hash `key`, written by flush() (at the end of run()).
local function incr(key, field, n)
  local fields = gathered_for(INCRS, INCR_KEYS, key)
  fields[field] = (fields[field] or 0) + n
end

-- Remove `member` from sorted set `key` at the end of run() (after anything the script adds to it).
local function zrem_later(key, member)
  local members = gathered_for(ZREMS, ZREM_KEYS, key)
  members[#members + 1] = member
end

-- `command key` with `items` appended, at most 500 at a time (Lua's unpack has a stack limit).
local function call_chunked(command, key, prefix, items)
  for i = 1, #items, 500 do
    local args = {}
    for j = 1, #prefix do args[#args + 1] = prefix[j] end
    for j = i, math.min(i + 499, #items) do args[#args + 1] = items[j] end
    redis.call(command, key, unpack(args))
  end
end

local function flush()
  for jobkey, queued_at in pairs(BORN) do redis.call('HSET', jobkey, 'state', 'queued', 'at:queued', queued_at) end
  BORN = {}
  for _, key in ipairs(INCR_KEYS) do
    for field, n in pairs(INCRS[key]) do
      if n ~= 0 then redis.call('HINCRBY', key, field, n) end
    end
  end
  for _, stream in ipairs(ACK_STREAMS) do
    call_chunked('XACK', stream, {ACKS[stream].group}, ACKS[stream])
    call_chunked('XDEL', stream, {}, ACKS[stream])
  end
  for _, key in ipairs(ZREM_KEYS) do call_chunked('ZREM', key, {}, ZREMS[key]) end
  INCRS, INCR_KEYS, ACKS, ACK_STREAMS, ZREMS, ZREM_KEYS = {}, {}, {}, {}, {}, {}
end

-- Run the script's body; write what it gathered (flush) whether it returns or fails.
local function run(body)
  local ok, result = pcall(body)
  flush()
  if not ok then error(result, 0) end
  return result
end

-- States upstream systems need no event for: they enqueued the job themselves, and 'submitting' is internal.
local QUIET = {queued = true, submitting = true}

-- Move job `id` (record `jobkey`) from its current state to `to`: per-state counts, the time it entered the
-- state (the job's short history: field 'at:<state>'), and an event on the events stream. A move the state
-- table does not declare is refused (the job keeps its state), counted and logged; returns whether it moved.
-- `fields` (optional, {field, value, ...}) are written with the state, in the same HSET, unless it is refused.
local function set_state(jobkey, id, current, to, detail, fields)
  local born = BORN[jobkey]  -- a refused move leaves it to flush()
  local args
  if current == to then
    args = born and {'state', 'queued', 'at:queued', born} or {}
  else
    local from = current or ''
    local allowed = TRANSITIONS[from]
    if not (allowed and allowed[to]) then
      redis.call('HINCRBY', CTX.stats, 'refused_transitions', 1)
      redis.call('HINCRBY', CTX.stats, 'refused:' .. from .. '>' .. to, 1)
      redis.log(redis.LOG_WARNING, 'taxsms: refused to move job ' .. id .. ' from ' .. (current or '(no record)')
                .. ' to ' .. to)
      return false
    end
    args = {'state', to, 'at:' .. to, CTX.now}
    if born then args[5], args[6] = 'at:queued', born end
  end
  BORN[jobkey] = nil
  if fields then
    for i = 1, #fields do args[#args + 1] = fields[i] end
  end
  if #args > 0 then redis.call('HSET', jobkey, unpack(args)) end
  if current == to then return true end
  -- Kept for the retention period from its last change once nothing waits on it: a submitted job's receipt
  -- comes within the message-id TTL, far shorter. Queued, delayed and submitting records never expire.
  if CTX.record_ttl and (FINAL[to] or to == 'submitted') then redis.call('EXPIRE', jobkey, CTX.record_ttl) end
  if current then incr(CTX.counts, current, -1) end
  incr(CTX.counts, to, 1)
  if not QUIET[to] then
    redis.call('XADD', CTX.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'job', id, 'state', to,
               'at', CTX.now, 'detail', detail or '')
  end
  return true
end

-- Give back the quota segments a job holds (`held` = its field 'held', 'YYYY-MM n', set by begin.lua) to the
-- held hash of their month, `held_keys` month -> key (this month's, and last month's in settle.lua; an older
-- month's hash has expired), and forget them on the job's record.
local function give_back(jobkey, held, unit, held_keys)
  local month, n = string.match(held, '^(%S+) (%d+)$')
  local key = month and held_keys[month]
  if key and redis.call('HINCRBY', key, unit, -tonumber(n)) <= 0 then redis.call('HDEL', key, unit) end
  redis.call('HDEL', jobkey, 'held')
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
  local seen = 'r' .. part  -- the part's stat word, once: a second receipt for it is a duplicate
  local record = redis.call('HMGET', jobkey, 'state', 'parts', seen)
  if record[3] then return 'duplicate' end
  local current = record[1]
  local parts = tonumber(record[2] or '1')
  local done = 1
  if AWAITING_RECEIPT[current] and outcome ~= 'undelivered' and parts > 1 then
    done = redis.call('HINCRBY', jobkey, 'delivered_parts', 1)
  end
  if not AWAITING_RECEIPT[current] or (outcome ~= 'undelivered' and done < parts) then
    redis.call('HSET', jobkey, seen, stat)
    return AWAITING_RECEIPT[current] and 'partial' or 'late'
  end
  if current == 'unconfirmed' then incr(CTX.stats, 'receipts_after_timeout', 1) end
  local to, detail, fields = 'delivered', nil, {seen, stat, 'done_at', CTX.now}
  if outcome == 'undelivered' then
    to, detail = 'undelivered', 'part ' .. part .. ': ' .. stat .. ' err:' .. err
    fields[5], fields[6] = 'error', detail
  end
  if not set_state(jobkey, id, current, to, detail, fields) then
    redis.call('HSET', jobkey, seen, stat)
    return 'refused'
  end
  zrem_later(deadlines, id)
  return to
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

-- Job `jobkey`'s record as HMGET gives it: {state, ...} for 'state' and the fields `...` (false for each one
-- missing; state false: unknown). A job still only in its queued-index bucket `index` (enqueued, never picked
-- up) leaves the index and gets its record, state 'queued' since its entry was added, with its first change
-- (set_state, BORN); its state is then 'queued', also when this script call meets it again before that.
local function adopt(jobkey, index, id, ...)
  local record = redis.call('HMGET', jobkey, 'state', ...)
  if record[1] then return record end
  if BORN[jobkey] then
    record[1] = 'queued'
    return record
  end
  local ref = redis.call('HGET', index, id)
  if not ref then return record end
  redis.call('HDEL', index, id)
  BORN[jobkey] = string.format('%.3f', entry_ms(ref) / 1000)
  record[1] = 'queued'
  return record
end

-- Ack a job stream entry and delete it (at the end of run(), with the script's other entries of `stream`): a
-- handled entry is of no more use, and an acked one left in the stream would hold its job's bytes for ever.
local function finish_entry(stream, group, entry)
  local entries = gathered_for(ACKS, ACK_STREAMS, stream)
  entries.group = group
  entries[#entries + 1] = entry
end
