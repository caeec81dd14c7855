-- Fill a user's cache from an SQL snapshot.
-- KEYS: acct, inflight, pending, floor
-- ARGV: balance, free, version, force ("1" replaces an existing cache), expected_seq ("" = any),
--       ttl, sql_behind ("1": the caller proved SQL lost commits the cache holds, a backup restored
--       or a replica promoted; SQL is the system of record, so its older version replaces the
--       cache and its floor), then the ids of the operations in flight.
-- Answers {"loaded"} | {"exists"} | {"stale", floor} | {"moved"}.
local acct, inflight, pending, floor = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local version = tonumber(ARGV[3])
local sql_behind = ARGV[7] == '1'
if redis.call('EXISTS', acct) == 1 then
  if ARGV[4] ~= '1' then return {'exists'} end
  -- A repair: refuse when a reservation happened since the caller looked (seq moved on).
  if ARGV[5] ~= '' and redis.call('HGET', acct, 'seq') ~= ARGV[5] then return {'moved'} end
  -- seq restarts at 0 on each load, so it can match by chance: never go back to an older version.
  local cached = tonumber(redis.call('HGET', acct, 'ver') or '0')
  if version < cached and not sql_behind then return {'stale', cached} end
end
-- A committed SQL change that could not reach the cache (it was missing) raised the floor;
-- a snapshot older than that would silently drop it.
local f = tonumber(redis.call('GET', floor) or '0')
if version < f and not sql_behind then return {'stale', f} end
redis.call('DEL', acct, inflight, pending)
if sql_behind then redis.call('DEL', floor) end
-- seq starts at Redis's clock in microseconds, not 0: a reloader that noted the seq of an
-- earlier cache (flushed and loaded again since) can never find it again by chance, since no
-- more steps than microseconds fit between two loads.
local now = redis.call('TIME')
redis.call('HSET', acct, 'bal', ARGV[1], 'free', ARGV[2], 'ver', version,
           'seq', now[1] .. string.format('%06d', tonumber(now[2])))
for i = 8, #ARGV do redis.call('SADD', inflight, ARGV[i]) end
redis.call('EXPIRE', acct, ARGV[6])
redis.call('EXPIRE', inflight, ARGV[6])
return {'loaded'}
