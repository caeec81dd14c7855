-- Extends a chat's lease while its update is handled, only if the caller still holds it.
-- KEYS: lock
-- ARGV: the holder's token, the lease in ms
-- Answers 1 (renewed) | 0 (not ours)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
