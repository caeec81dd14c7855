-- After the SQL commit of a step (at users.version = version): the step is no longer pending.
-- If Redis lost the step in between (flush, restart) and the cache was rebuilt from a snapshot
-- older than the commit, the step's effect is applied now; otherwise it is already counted.
-- KEYS: acct, inflight, pending, floor
-- ARGV: member ("op:<id>" | "rel:<id>" | "cr:<key>"), version, balance_delta, free_delta,
--       in_flight ("add" | "remove" | ""), operation_id
-- Answers {"confirmed"} | {"included"} | {"applied"} | {"cache_missing"}
local acct, inflight, pending, floor = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local version = tonumber(ARGV[2])
if redis.call('ZREM', pending, ARGV[1]) == 1 then
  -- seq moves so that a forced reload that read SQL before this commit cannot overwrite it.
  redis.call('HINCRBY', acct, 'seq', 1)
  return {'confirmed'}
end
if redis.call('EXISTS', acct) == 0 then
  -- Whoever loads the cache next must read a snapshot that holds this commit.
  if version > tonumber(redis.call('GET', floor) or '0') then redis.call('SET', floor, version) end
  return {'cache_missing'}
end
if tonumber(redis.call('HGET', acct, 'ver')) >= version then return {'included'} end
redis.call('HINCRBY', acct, 'bal', ARGV[3])
redis.call('HINCRBY', acct, 'free', ARGV[4])
redis.call('HINCRBY', acct, 'seq', 1)
if ARGV[5] == 'add' then redis.call('SADD', inflight, ARGV[6]) end
if ARGV[5] == 'remove' then redis.call('SREM', inflight, ARGV[6]) end
return {'applied'}
