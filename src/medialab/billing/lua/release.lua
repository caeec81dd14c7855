-- The compensating refund of an operation: give back its price or its free operation, free its
-- in-flight slot. Once only.
-- KEYS: acct, inflight, pending, marker
-- ARGV: operation_id, kind ("free" | "paid", from SQL), price, marker_ttl
-- Answers {"released", balance, free} | {"already", balance, free} | {"cache_missing"}
local acct, inflight, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, kind, price = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', acct) == 0 then return {'cache_missing'} end
local state = redis.call('HGET', marker, 'state')
if state == 'released' then
  return {'already', tonumber(redis.call('HGET', acct, 'bal')), tonumber(redis.call('HGET', acct, 'free'))}
end
if not state then
  -- The reservation's marker is gone (expired or Redis was flushed and reloaded from SQL,
  -- whose snapshot holds the charge): the cache has the charge in it, so give it back.
  state = redis.call('SISMEMBER', inflight, op) == 1 and 'reserved' or 'settled'
end
if kind == 'free' then redis.call('HINCRBY', acct, 'free', 1) else redis.call('HINCRBY', acct, 'bal', price) end
redis.call('HINCRBY', acct, 'seq', 1)
redis.call('SREM', inflight, op)
redis.call('ZADD', pending, redis.call('TIME')[1], 'rel:' .. op)
redis.call('HSET', marker, 'state', 'released', 'prev', state, 'kind', kind, 'price', price)
redis.call('EXPIRE', marker, ARGV[4])
return {'released', tonumber(redis.call('HGET', acct, 'bal')), tonumber(redis.call('HGET', acct, 'free'))}
