-- Admit one operation: in-flight limit, then a free operation, then the price. An unbilled
-- type (add_text) only takes its in-flight slot: no free operation, no money, whatever the balance.
-- KEYS: acct, inflight, pending, marker (of this operation)
-- ARGV: operation_id, price, max_in_flight, marker_ttl, acct_ttl, billed ("1" | "0")
-- Answers {"reserved", kind, balance, free} | {"replayed", kind, balance, free, state}
--       | {"busy", balance, free, in_flight} | {"insufficient", balance, free} | {"cache_missing"}
local acct, inflight, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, price = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', marker) == 1 then
  local m = redis.call('HMGET', marker, 'kind', 'bal', 'free', 'state')
  return {'replayed', m[1], tonumber(m[2]), tonumber(m[3]), m[4]}
end
if redis.call('EXISTS', acct) == 0 then return {'cache_missing'} end
local bal = tonumber(redis.call('HGET', acct, 'bal'))
local free = tonumber(redis.call('HGET', acct, 'free'))
local running = redis.call('SCARD', inflight)
if running >= tonumber(ARGV[3]) then return {'busy', bal, free, running} end
local kind
if ARGV[6] == '0' then
  kind, price = 'unbilled', 0
elseif free > 0 then
  kind, price = 'free', 0
  free = redis.call('HINCRBY', acct, 'free', -1)
elseif bal >= price then
  kind = 'paid'
  bal = redis.call('HINCRBY', acct, 'bal', -price)
else
  return {'insufficient', bal, free}
end
redis.call('HINCRBY', acct, 'seq', 1)
redis.call('SADD', inflight, op)
redis.call('ZADD', pending, redis.call('TIME')[1], 'op:' .. op)
redis.call('HSET', marker, 'state', 'reserved', 'kind', kind, 'price', price, 'bal', bal, 'free', free)
redis.call('EXPIRE', marker, ARGV[4])
redis.call('EXPIRE', acct, ARGV[5])
redis.call('EXPIRE', inflight, ARGV[5])
return {'reserved', kind, bal, free}
