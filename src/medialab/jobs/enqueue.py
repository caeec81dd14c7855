"""arq's enqueue in one Redis round trip.

`ArqRedis.enqueue_job` checks that the job id is free under WATCH, then writes the job in a
MULTI: three round trips on the path of every paid update. `lua/enqueue.lua` does the same check
and the same two writes atomically in one, storing the job exactly as arq does (its serializer,
its keys, its default expiry), so arq's worker runs it unchanged; a job id already queued,
running or finished is refused the same way (False).
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from medialab.db import redis_keys
from medialab.db.redis_pipelining import auto_pipeline
from medialab.db.redis_scripts import lua_script


async def enqueue_once(arq: ArqRedis, function: str, job_id: str, *args: Any) -> bool:
    """True when queued now; False when a job with this id exists (queued, running or done)."""
    now = timestamp_ms()
    job = serialize_job(function, args, {}, None, now, serializer=arq.job_serializer)
    keys = redis_keys.arq_job(job_id, arq.default_queue_name)
    # Batched with the other commands of this turn of the event loop (db/redis_pipelining.py).
    script = lua_script("medialab.jobs", "enqueue")
    return bool(await auto_pipeline(arq).script(script, keys, [job, arq.expires_extra_ms, job_id, now]))
