-- A top-up, grant or chargeback: move the balance by amount, once per key.
-- KEYS: acct, pending, marker (of this key)
-- ARGV: key, amount, marker_ttl
-- Answers {"credited", balance} | {"duplicate", balance} | {"cache_missing"}
local acct, pending, marker = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', acct) == 0 then return {'cache_missing'} end
if redis.call('EXISTS', marker) == 1 then
  return {'duplicate', tonumber(redis.call('HGET', acct, 'bal'))}
end
local bal = redis.call('HINCRBY', acct, 'bal', ARGV[2])
redis.call('HINCRBY', acct, 'seq', 1)
redis.call('ZADD', pending, redis.call('TIME')[1], 'cr:' .. ARGV[1])
redis.call('HSET', marker, 'state', 'credited', 'amount', ARGV[2])
redis.call('EXPIRE', marker, ARGV[3])
return {'credited', bal}
