-- Claim a batch of jobs for submission. Skips those an earlier attempt already took past submission (dedupe
-- after a crash); suppresses those the rules forbid (unsubscribed phone or taxpayer, a return already filed,
-- per-recipient daily cap, the unit's monthly quota), recording why and acking (deleting) their entries.
-- KEYS: counts hash, events stream, then per job: job hash key, queued-index bucket.
-- ARGV: now, shard key prefix (its hash tag), group, day (YYYYMMDD, China time), month (YYYY-MM),
--   subscription kinds (',k1,k2,'), unknown-subscription policy ('send' | 'suppress'),
--   caps (',kind=n,...,'), quota kinds (',k1,'), units whose quota is used up over every shard (',u1,'),
--   record ttl (s), then per job: stream, entry id, kind, to, unit, taxpayer id, the filed hash of the job's
--   return ('' for none) and the phone's consent bucket (both in this shard: Keys.filed, Keys.consent).
-- Returns one flag per job: 1 = send it, 0 = handled here (skipped or suppressed; the entry is acked).
CTX.counts, CTX.events, CTX.prefix, CTX.now = KEYS[1], KEYS[2], ARGV[2], ARGV[1]
local group, day, month = ARGV[3], ARGV[4], ARGV[5]
local sub_kinds, unknown_policy, caps, quota_kinds, exhausted = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
CTX.record_ttl = tonumber(ARGV[11])
local prefix = CTX.prefix

local function suppression(kind, to, unit, tp, filed, consent)
  if filed ~= '' and tp ~= '' and redis.call('HEXISTS', filed, tp) == 1 then return 'filed' end
  if string.find(sub_kinds, ',' .. kind .. ',', 1, true) then
    local sub = redis.call('HGET', prefix .. ':sub:state', to)
    if sub == '0' then return 'unsubscribed' end
    if sub == false and unknown_policy == 'suppress' then return 'not subscribed (no subscription record)' end
    if tp ~= '' and consent ~= '' then
      local record = redis.call('HGET', consent, to) or ''
      local header = string.sub(record, 1, (string.find(record, '\n', 1, true) or 0) - 1)
      if string.find(header, ',' .. tp .. '=0,', 1, true) then return 'unsubscribed (taxpayer)' end
    end
  end
  if unit ~= '' and string.find(quota_kinds, ',' .. kind .. ',', 1, true) then
    if string.find(exhausted, ',' .. unit .. ',', 1, true) then return 'monthly quota reached for ' .. unit end
    local quota = tonumber(redis.call('GET', prefix .. ':quota:' .. unit) or '')
    if quota then
      local used = tonumber(redis.call('HGET', prefix .. ':usage:' .. month, unit .. '|*') or '0')
      if used >= quota then return 'monthly quota of ' .. quota .. ' segments reached for ' .. unit end
    end
  end
  local cap = string.match(caps, ',' .. kind .. '=(%d+),')
  if cap then
    local key = prefix .. ':cap:' .. kind .. ':' .. day .. ':' .. to
    local n = redis.call('INCR', key)
    if n == 1 then redis.call('EXPIRE', key, 172800) end
    if n > tonumber(cap) then return 'daily cap of ' .. cap .. ' ' .. kind .. ' per phone reached' end
  end
  return nil
end

local result = {}
for i = 3, #KEYS, 2 do
  local a = 12 + (i - 3) / 2 * 8
  local stream, entry, kind, to, unit = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local tp, filed, consent = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local jobkey = KEYS[i]
  -- nil: pushed straight into a stream by an upstream system, never counted as queued
  local current = adopt(jobkey, KEYS[i + 1], job_id_of(jobkey))
  if current == nil or current == 'queued' or current == 'submitting' or current == 'delayed' then
    redis.call('HSET', jobkey, 'kind', kind, 'to', to, 'unit', unit, 'entry', entry)
    local why = suppression(kind, to, unit, tp, filed, consent)
    if why then
      redis.call('HSET', jobkey, 'done_at', CTX.now, 'error', why)
      set_state(jobkey, current, 'suppressed', why)
      finish_entry(stream, group, entry)
      result[#result + 1] = 0
    else
      redis.call('HSET', jobkey, 'submitting_at', CTX.now)
      redis.call('HINCRBY', jobkey, 'attempts', 1)
      set_state(jobkey, current, 'submitting')
      result[#result + 1] = 1
    end
  else
    finish_entry(stream, group, entry)
    result[#result + 1] = 0
  end
end
return result
