-- End submitted jobs whose delivery receipt did not come by their deadline: state 'unconfirmed' (final, but
-- a late receipt still decides it). The caller read the due ids (ZRANGEBYSCORE); each is checked again.
-- KEYS: counts hash, events stream, stats hash, the receipt-deadline set, then per job: job hash key.
-- ARGV: now, record ttl (s), then per job: id, detail (why, for the record and the event).
-- Returns the number of jobs that became unconfirmed.
header()
CTX.record_ttl = tonumber(ARGV[2])
local deadlines, now = KEYS[4], tonumber(CTX.now)
return run(function()
local ended = 0
for i = 5, #KEYS do
  local a = 3 + (i - 5) * 2
  local id, detail, jobkey = ARGV[a], ARGV[a + 1], KEYS[i]
  local due = tonumber(redis.call('ZSCORE', deadlines, id) or '')
  if due and due <= now then
    if redis.call('HGET', jobkey, 'state') == 'submitted' then
      if set_state(jobkey, id, 'submitted', 'unconfirmed', detail, {'done_at', CTX.now, 'error', detail}) then
        ended = ended + 1
      end
    end
    zrem_later(deadlines, id)
  end
end
if ended > 0 then redis.call('HINCRBY', CTX.stats, 'receipt_timeouts', ended) end
return ended
end)
