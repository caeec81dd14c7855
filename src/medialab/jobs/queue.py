"""The worker's connection to the job queue: light to import, so that `medialab worker` refuses a
missing or unreachable Redis before it loads the jobs (they import aiogram, seconds of CPU)."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings

from medialab.db.redis import redis_client
from medialab.settings import Settings


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis.url is None:
        raise ValueError("REDIS_URL must be set for the worker: the web app and the worker share one Redis "
                         "(`medialab run` runs both in one process on an embedded one)")
    return RedisSettings.from_dsn(settings.redis.url)


def job_queue(settings: Settings) -> ArqRedis:
    """The worker's own queue client. arq's RedisSettings has a connect deadline but none for
    reads, so a stalled Redis would hang the worker's polling: this pool has both."""
    redis_settings(settings)  # the same refusal when REDIS_URL is unset
    return ArqRedis(pool_or_conn=redis_client(settings.redis.url, settings.redis.timeout).connection_pool)  # type: ignore[arg-type]
