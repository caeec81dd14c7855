-- The job ended well (SQL committed it at users.version = version): free the operation's
-- in-flight slot. Once only; no money moves.
-- KEYS: acct, inflight, marker, floor
-- ARGV: operation_id, version
-- Answers {"settled"} | {"already"} | {"cache_missing"}
local acct, inflight, marker, floor = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local version = tonumber(ARGV[2])
if redis.call('EXISTS', acct) == 0 then
  -- Whoever loads the cache next must read a snapshot in which the job is no longer in flight.
  if version > tonumber(redis.call('GET', floor) or '0') then redis.call('SET', floor, version) end
  return {'cache_missing'}
end
local removed = redis.call('SREM', inflight, ARGV[1])
-- seq moves so that a forced reload that read SQL before the settle cannot bring the job back.
redis.call('HINCRBY', acct, 'seq', 1)
if redis.call('HGET', marker, 'state') == 'reserved' then
  redis.call('HSET', marker, 'state', 'settled')
  return {'settled'}
end
if removed == 1 then return {'settled'} end
return {'already'}
