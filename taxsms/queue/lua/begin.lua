-- Claim a batch of jobs for submission. Skips those an earlier attempt already took past submission (dedupe
-- after a crash); suppresses those the rules forbid (unsubscribed phone or taxpayer, a return already filed,
-- per-recipient daily cap, the unit's monthly quota), recording why and acking (deleting) their entries.
-- A job of a quota kind whose unit has a quota is claimed only if its segments fit in what the quota leaves
-- (used, and held by jobs claimed but not yet answered); its segments are then held (the month's held hash,
-- and field 'held' = 'YYYY-MM n' of its record) until settle.lua turns them into usage or gives them back. A
-- job claimed again (its worker died, or handed it back: handback.lua) keeps what it holds.
-- The first time it handles a job (claimed or suppressed), it adds the job's id to its phone's list of recent
-- messages (Keys.phone_messages: newest first, capped, expiring with the records).
-- KEYS: counts hash, events stream, stats hash, subscription state hash, this month's usage hash, this
--   month's held hash, then per
--   job: job hash key, queued-index bucket, its recipient-cap counter (kind, day, phone), its unit's quota,
--   the filed hash of its return (Keys.filed), its phone's consent bucket (Keys.consent), its phone's
--   recent-messages list (Keys.phone_messages); for a check that does not apply to the job (no cap for its
--   kind, no unit, ...) the shard's counts key, never read as such.
-- ARGV: now, group, subscription kinds (',k1,k2,'), unknown-subscription policy ('send' | 'suppress'),
--   caps (',kind=n,...,'), quota kinds (',k1,'), units whose quota is used up over every shard (',u1,'),
--   record ttl (s), messages kept per phone, this month ('YYYY-MM'), then per job: id, stream, entry id,
--   kind, to, unit, taxpayer id ('' for none), whether the job names a return ('1' or ''), its segments.
-- Returns one flag per job: 1 = send it, 0 = handled here (skipped or suppressed; the entry is acked).
header()
local sub_state, usage, held = KEYS[4], KEYS[5], KEYS[6]
local group, sub_kinds, unknown_policy, caps, quota_kinds, exhausted = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
  ARGV[7]
CTX.record_ttl = tonumber(ARGV[8])
local per_phone, month = tonumber(ARGV[9]), ARGV[10]
local HELD_TTL = 40 * 86400  -- a month's held hash outlives the month (settle.lua gives back last month's)

-- The list grows to per_phone + SLACK before it is trimmed back to per_phone; its expiry (the records' ttl) is
-- set when it is created and renewed when it is trimmed (an EXPIRE per message cost more than the rest of
-- remember: measured in the README).
local SLACK = 10
local function remember(list, id)
  local n = redis.call('LPUSH', list, id)
  local trim = n > per_phone + SLACK
  if trim then redis.call('LTRIM', list, 0, per_phone - 1) end
  if CTX.record_ttl and (n == 1 or trim) then redis.call('EXPIRE', list, CTX.record_ttl) end
end

local function quota_kind(kind) return string.find(quota_kinds, ',' .. kind .. ',', 1, true) ~= nil end

-- unit -> {quota, room}: its quota and the segments it leaves (used and held taken off), read once per call
-- and kept up to date as this call holds segments; false: no quota.
local quotas = {}
local function quota_of(unit, quota_key)
  local q = quotas[unit]
  if q == nil then
    local quota = tonumber(redis.call('GET', quota_key) or '')
    q = false
    if quota then
      local used = tonumber(redis.call('HGET', usage, unit .. '|*') or '0')
      q = {quota = quota, room = quota - used - tonumber(redis.call('HGET', held, unit) or '0')}
    end
    quotas[unit] = q
  end
  return q
end

-- Why the job may not go (or nil), and the quota its segments are to be held against (or nil).
local function suppression(kind, to, unit, tp, has_filing, k, segments, holds)
  local quota = nil
  local cap_key, quota_key, filed, consent = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  if has_filing ~= '' and tp ~= '' and redis.call('HEXISTS', filed, tp) == 1 then return 'filed' end
  if string.find(sub_kinds, ',' .. kind .. ',', 1, true) then
    local sub = redis.call('HGET', sub_state, to)
    if sub == '0' then return 'unsubscribed' end
    if sub == false and unknown_policy == 'suppress' then return 'not subscribed (no subscription record)' end
    if tp ~= '' then
      local record = redis.call('HGET', consent, to) or ''
      local header = string.sub(record, 1, (string.find(record, '\n', 1, true) or 0) - 1)
      if string.find(header, ',' .. tp .. '=0,', 1, true) then return 'unsubscribed (taxpayer)' end
    end
  end
  -- (a job claimed again that holds its segments since the first claim keeps them)
  if unit ~= '' and quota_kind(kind) and not holds then
    if string.find(exhausted, ',' .. unit .. ',', 1, true) then return 'monthly quota reached for ' .. unit end
    local q = quota_of(unit, quota_key)
    if q then
      if segments > q.room then return 'monthly quota of ' .. q.quota .. ' segments reached for ' .. unit end
      quota = q
    end
  end
  local cap = string.match(caps, ',' .. kind .. '=(%d+),')
  if cap then
    local n = redis.call('INCR', cap_key)
    if n == 1 then redis.call('EXPIRE', cap_key, 172800) end
    if n > tonumber(cap) then return 'daily cap of ' .. cap .. ' ' .. kind .. ' per phone reached' end
  end
  return nil, quota
end

return run(function()
local result = {}
local holding = {}  -- unit -> segments this call holds
for k = 7, #KEYS, 7 do
  local a = 11 + (k - 7) / 7 * 9
  local id, stream, entry, kind, to, unit = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local tp, has_filing, segments = ARGV[a + 6], ARGV[a + 7], tonumber(ARGV[a + 8])
  local jobkey = KEYS[k]
  -- nil: pushed straight into a stream by an upstream system, never counted as queued
  local record = adopt(jobkey, KEYS[k + 1], id, 'held', 'attempts')
  local current, holds, attempts = record[1] or nil, record[2], tonumber(record[3] or '0')
  local send = 0
  if current == nil or current == 'queued' or current == 'submitting' or current == 'delayed' then
    local fields = {'kind', kind, 'to', to, 'unit', unit, 'entry', entry}
    local why, quota = suppression(kind, to, unit, tp, has_filing, k, segments, holds)
    local moved
    if why then
      fields[#fields + 1], fields[#fields + 2], fields[#fields + 3], fields[#fields + 4] = 'done_at', CTX.now, 'error', why
      moved = set_state(jobkey, id, current, 'suppressed', why, fields)
      if moved and attempts == 0 then remember(KEYS[k + 6], id) end
      if moved and holds and quota_kind(kind) then give_back(jobkey, holds, unit, {[month] = held}) end
    else
      fields[#fields + 1], fields[#fields + 2], fields[#fields + 3], fields[#fields + 4] = 'submitting_at', CTX.now,
        'attempts', attempts + 1
      if quota then fields[#fields + 1], fields[#fields + 2] = 'held', month .. ' ' .. segments end
      moved = set_state(jobkey, id, current, 'submitting', nil, fields)
      if moved then
        if quota then
          quota.room = quota.room - segments
          holding[unit] = (holding[unit] or 0) + segments
        end
        if attempts == 0 then remember(KEYS[k + 6], id) end
        send = 1
      end
    end
    if not moved then redis.call('HSET', jobkey, 'kind', kind, 'to', to, 'unit', unit, 'entry', entry) end
  end
  if send == 0 then finish_entry(stream, group, entry) end
  result[#result + 1] = send
end
if next(holding) then
  for unit, n in pairs(holding) do redis.call('HINCRBY', held, unit, n) end
  redis.call('EXPIRE', held, HELD_TTL)
end
return result
end)
