-- The SQL commit of a step failed: take the step back out of the cache. Only a step still
-- pending is in the cache; after a flush or reload the snapshot never held it.
-- KEYS: acct, inflight, pending, marker
-- ARGV: member ("op:<id>" | "rel:<id>" | "cr:<key>"), balance_delta, free_delta,
--       in_flight ("add" | "remove" | "restore": back in flight if it was before a release | ""),
--       operation_id
-- Answers {"undone"} | {"not_pending"}
local acct, inflight, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('ZREM', pending, ARGV[1]) == 0 then
  redis.call('DEL', marker)
  return {'not_pending'}
end
redis.call('HINCRBY', acct, 'bal', ARGV[2])
redis.call('HINCRBY', acct, 'free', ARGV[3])
redis.call('HINCRBY', acct, 'seq', 1)
if ARGV[4] == 'add' then redis.call('SADD', inflight, ARGV[5]) end
if ARGV[4] == 'remove' then redis.call('SREM', inflight, ARGV[5]) end
local prev = redis.call('HGET', marker, 'prev')
if ARGV[4] == 'restore' and prev == 'reserved' then redis.call('SADD', inflight, ARGV[5]) end
if prev then
  -- Undoing a release: the reservation is back in the state it had.
  redis.call('HSET', marker, 'state', prev)
  redis.call('HDEL', marker, 'prev')
else
  redis.call('DEL', marker)
end
return {'undone'}
