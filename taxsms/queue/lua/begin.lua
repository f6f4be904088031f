-- Claim a batch of jobs for submission. Skips those an earlier attempt already took past submission (dedupe
-- after a crash); suppresses those the rules forbid (unsubscribed phone or taxpayer, a return already filed,
-- per-recipient daily cap, the unit's monthly quota), recording why and acking (deleting) their entries.
-- The first time it handles a job (claimed or suppressed), it adds the job's id to its phone's list of recent
-- messages (Keys.phone_messages: newest first, capped, expiring with the records).
-- KEYS: counts hash, events stream, stats hash, subscription state hash, this month's usage hash, then per
--   job: job hash key, queued-index bucket, its recipient-cap counter (kind, day, phone), its unit's quota,
--   the filed hash of its return (Keys.filed), its phone's consent bucket (Keys.consent), its phone's
--   recent-messages list (Keys.phone_messages); for a check that does not apply to the job (no cap for its
--   kind, no unit, ...) the shard's counts key, never read as such.
-- ARGV: now, group, subscription kinds (',k1,k2,'), unknown-subscription policy ('send' | 'suppress'),
--   caps (',kind=n,...,'), quota kinds (',k1,'), units whose quota is used up over every shard (',u1,'),
--   record ttl (s), messages kept per phone, then per job: id, stream, entry id, kind, to, unit, taxpayer
--   id ('' for none), whether the job names a return ('1' or '').
-- Returns one flag per job: 1 = send it, 0 = handled here (skipped or suppressed; the entry is acked).
header()
local sub_state, usage = KEYS[4], KEYS[5]
local group, sub_kinds, unknown_policy, caps, quota_kinds, exhausted = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
  ARGV[7]
CTX.record_ttl = tonumber(ARGV[8])
local per_phone = tonumber(ARGV[9])

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

local function suppression(kind, to, unit, tp, has_filing, k)
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
  if unit ~= '' and string.find(quota_kinds, ',' .. kind .. ',', 1, true) then
    if string.find(exhausted, ',' .. unit .. ',', 1, true) then return 'monthly quota reached for ' .. unit end
    local quota = tonumber(redis.call('GET', quota_key) or '')
    if quota then
      local used = tonumber(redis.call('HGET', usage, unit .. '|*') or '0')
      if used >= quota then return 'monthly quota of ' .. quota .. ' segments reached for ' .. unit end
    end
  end
  local cap = string.match(caps, ',' .. kind .. '=(%d+),')
  if cap then
    local n = redis.call('INCR', cap_key)
    if n == 1 then redis.call('EXPIRE', cap_key, 172800) end
    if n > tonumber(cap) then return 'daily cap of ' .. cap .. ' ' .. kind .. ' per phone reached' end
  end
  return nil
end

return run(function()
local result = {}
for k = 6, #KEYS, 7 do
  local a = 10 + (k - 6) / 7 * 8
  local id, stream, entry, kind, to, unit = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local tp, has_filing = ARGV[a + 6], ARGV[a + 7]
  local jobkey = KEYS[k]
  -- nil: pushed straight into a stream by an upstream system, never counted as queued
  local current = adopt(jobkey, KEYS[k + 1], id)
  local send = 0
  if current == nil or current == 'queued' or current == 'submitting' or current == 'delayed' then
    local fields = {'kind', kind, 'to', to, 'unit', unit, 'entry', entry}
    local why = suppression(kind, to, unit, tp, has_filing, k)
    local moved
    if why then
      fields[#fields + 1], fields[#fields + 2], fields[#fields + 3], fields[#fields + 4] = 'done_at', CTX.now, 'error', why
      moved = set_state(jobkey, id, current, 'suppressed', why, fields)
      if moved and redis.call('HEXISTS', jobkey, 'attempts') == 0 then remember(KEYS[k + 6], id) end
    else
      fields[#fields + 1], fields[#fields + 2] = 'submitting_at', CTX.now
      moved = set_state(jobkey, id, current, 'submitting', nil, fields)
      if moved then
        if redis.call('HINCRBY', jobkey, 'attempts', 1) == 1 then remember(KEYS[k + 6], id) end
        send = 1
      end
    end
    if not moved then redis.call('HSET', jobkey, 'kind', kind, 'to', to, 'unit', unit, 'entry', entry) end
  end
  if send == 0 then finish_entry(stream, group, entry) end
  result[#result + 1] = send
end
return result
end)
