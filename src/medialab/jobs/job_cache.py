"""What a generation job keeps in Redis between its tries.

The image, once made: when Telegram is down after the provider finished, the job is tried again
later and finds its image here instead of paying the provider twice for one operation. And the
fact that the result was delivered, so a second run of the job sends nothing (a job that died
between delivery and settling, or an add_text job queued before add_text had an operation row).
"""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from medialab.db.redis_keys import job_delivered, job_image
from medialab.jobs.providers import ImageResult

# A second run of a job comes within arq's result retention (an hour by default); a day is ample.
DELIVERED_TTL_SECONDS = 24 * 3600


async def keep_image(redis: Redis, operation_id: str, image: ImageResult, ttl_seconds: int) -> None:
    await redis.set(job_image(operation_id), msgspec.msgpack.encode(image), ex=ttl_seconds)


async def kept_image(redis: Redis, operation_id: str) -> ImageResult | None:
    raw = await redis.get(job_image(operation_id))
    return None if raw is None else msgspec.msgpack.decode(raw, type=ImageResult)


async def forget_image(redis: Redis, operation_id: str) -> None:
    await redis.delete(job_image(operation_id))


async def mark_delivered(redis: Redis, operation_id: str) -> None:
    await redis.set(job_delivered(operation_id), b"1", ex=DELIVERED_TTL_SECONDS)


async def was_delivered(redis: Redis, operation_id: str) -> bool:
    return bool(await redis.exists(job_delivered(operation_id)))
