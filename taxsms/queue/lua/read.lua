-- Read up to ARGV[3] new entries in all from the streams in KEYS (one shard's, most urgent first) for consumer
-- ARGV[2] of group ARGV[1]: each stream gets the count the ones before it left, so a batch is as large as the
-- room asked for, whichever lanes hold the entries, and never larger. Never blocks (the caller blocks with
-- XREADGROUP when this finds nothing). Returns what XREADGROUP would: {{stream, {{id, {field, value...}}...}}...}.
local group, consumer, left = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for _, stream in ipairs(KEYS) do
  if left <= 0 then break end
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', left, 'STREAMS', stream, '>')
  if reply then
    out[#out + 1] = reply[1]
    left = left - #reply[1][2]
  end
end
return out
