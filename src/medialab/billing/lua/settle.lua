-- The job ended well: free the operation's in-flight slot. Once only; no money moves.
-- KEYS: acct, inflight, marker
-- ARGV: operation_id
-- Answers {"settled"} | {"already"} | {"cache_missing"}
local acct, inflight, marker = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', acct) == 0 then return {'cache_missing'} end
local removed = redis.call('SREM', inflight, ARGV[1])
-- seq moves so that a forced reload that read SQL before the settle cannot bring the job back.
redis.call('HINCRBY', acct, 'seq', 1)
if redis.call('HGET', marker, 'state') == 'reserved' then
  redis.call('HSET', marker, 'state', 'settled')
  return {'settled'}
end
if removed == 1 then return {'settled'} end
return {'already'}
