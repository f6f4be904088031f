-- Shared helpers, prepended to every taxsms script.
local FINAL = {delivered = true, undelivered = true, failed = true, dead_lettered = true}

-- Move job `jobkey` from its current state to `to`, keeping the per-state counts right.
local function set_state(counts, jobkey, current, to)
  if current == to then return end
  redis.call('HSET', jobkey, 'state', to)
  if current then redis.call('HINCRBY', counts, current, -1) end
  redis.call('HINCRBY', counts, to, 1)
end

-- Apply one delivery receipt to part `part` of a job. outcome: 'delivered' or 'undelivered'.
local function apply_receipt(counts, jobkey, part, outcome, stat, err, now)
  if redis.call('HSETNX', jobkey, 'r' .. part, stat) == 0 then
    return 'duplicate'
  end
  local current = redis.call('HGET', jobkey, 'state')
  if FINAL[current] then return 'late' end
  if outcome == 'undelivered' then
    redis.call('HSET', jobkey, 'done_at', now, 'error', 'part ' .. part .. ': ' .. stat .. ' err:' .. err)
    set_state(counts, jobkey, current, 'undelivered')
    return 'undelivered'
  end
  local done = redis.call('HINCRBY', jobkey, 'delivered_parts', 1)
  if done >= tonumber(redis.call('HGET', jobkey, 'parts') or '1') then
    redis.call('HSET', jobkey, 'done_at', now)
    set_state(counts, jobkey, current, 'delivered')
    return 'delivered'
  end
  return 'partial'
end
