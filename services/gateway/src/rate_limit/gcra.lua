-- One check of a GCRA bucket (Generic Cell Rate Algorithm: the token bucket kept as a single
-- "theoretical arrival time"), atomic because Redis runs a script alone.
-- KEYS[1]: the bucket. KEYS[2] (optional): the tenant's limit override, JSON
--          {"per_second": <rate>, "burst": <n>}, which replaces the limit passed in ARGV.
-- ARGV[1]: microseconds per token (1 / rate). ARGV[2]: burst.
-- Returns {allowed (0/1), burst, remaining, retry_after_us, reset_us, interval_us}.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if KEYS[2] then
  local raw = redis.call('GET', KEYS[2])
  if raw then
    local ok, limit = pcall(cjson.decode, raw)
    if ok and type(limit) == 'table' then
      local rate = tonumber(limit.per_second)
      local size = tonumber(limit.burst)
      if rate and size and rate > 0 and size >= 1 then
        interval = 1000000 / rate
        burst = math.floor(size)
      end
    end
  end
end
-- The server's clock, so replicas with skewed clocks still agree.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local next_tat = tat + interval
local allow_at = next_tat - interval * burst
if allow_at > now then
  return {0, burst, 0, math.ceil(allow_at - now), math.ceil(allow_at - now), math.ceil(interval)}
end
-- The key lives until the bucket is full again: an idle bucket costs no memory.
redis.call('SET', KEYS[1], string.format('%d', math.ceil(next_tat)), 'PX',
  math.max(1, math.ceil((next_tat - now) / 1000)))
-- (+1 µs: the stored time was rounded up.)
return {1, burst, math.floor((now - allow_at + 1) / interval), 0, math.ceil(next_tat - now),
  math.ceil(interval)}
