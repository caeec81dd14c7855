-- Gives a chat's lock back, only if the caller still holds it (its lease may have expired and
-- another process taken the chat meanwhile).
-- KEYS: lock
-- ARGV: the holder's token
-- Answers 1 (released) | 0 (not ours)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
