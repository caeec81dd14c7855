-- arq's enqueue_job in one call: refuse a job id already queued, running or finished (its job
-- or result key exists), else store the job as arq does and put it on the queue.
-- KEYS: job, result, queue (arq's names: arq:job:<id>, arq:result:<id>, arq:queue)
-- ARGV: serialized job, expiry in ms, job id, score (enqueue time in ms)
-- Answers 1 (queued) | 0 (the id is taken)
local job, result, queue = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', job, result) > 0 then return 0 end
redis.call('PSETEX', job, ARGV[2], ARGV[1])
redis.call('ZADD', queue, ARGV[4], ARGV[3])
return 1
