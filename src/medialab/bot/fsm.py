"""The conversation's state in Redis (aiogram's RedisStorage) and the per-chat lock across web
processes, with the reads and the lock on the path of every update sent through the batches
of db/redis_pipelining.py: under load one round trip carries them for many updates at once.

The lock is aiogram's RedisEventIsolation's (SET NX with a token and an expiry, released only
by its holder), written against the batches instead of redis-py's Lock, with a short lease
renewed while held instead of aiogram's 60 s expiry. Its scripts are `lua/chat_lock_*.lua`
(db/redis_scripts.py); the keys' prefix is db/redis_keys.py's FSM_PREFIX.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from medialab.db.redis_pipelining import AutoPipeline, auto_pipeline
from medialab.db.redis_scripts import lua_script

# The lock is a short lease, renewed while its holder works: a holder that died (SIGKILL, OOM)
# keeps the chat for this long at most, and its chat answers again within seconds.
LOCK_LEASE_MS = 3_000
RENEW_EVERY_SECONDS = 1.0
# How often a waiting update looks again (redis-py's Lock: 0.1 s).
LOCK_POLL_SECONDS = 0.05
RELEASE = lua_script("medialab.bot", "chat_lock_release")
RENEW = lua_script("medialab.bot", "chat_lock_renew")


def _text(value: Any) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class BatchedRedisStorage(RedisStorage):
    async def get_state(self, key: StorageKey) -> str | None:
        return _text(await auto_pipeline(self.redis).execute("GET", self.key_builder.build(key, "state")))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        value = _text(await auto_pipeline(self.redis).execute("GET", self.key_builder.build(key, "data")))
        return {} if value is None else dict(self.json_loads(value))


class BatchedRedisIsolation(BaseEventIsolation):
    def __init__(self, redis: Redis, key_builder: KeyBuilder) -> None:
        self.redis = redis
        self.key_builder = key_builder

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        pipeline = auto_pipeline(self.redis)
        name = self.key_builder.build(key, "lock")
        token = uuid.uuid4().hex
        while not await pipeline.execute("SET", name, token, "NX", "PX", LOCK_LEASE_MS):
            await asyncio.sleep(LOCK_POLL_SECONDS)
        renewing = asyncio.create_task(_renew(pipeline, name, token))
        try:
            yield
        finally:
            renewing.cancel()
            await pipeline.script(RELEASE, [name], [token])

    async def close(self) -> None:
        pass


async def _renew(pipeline: AutoPipeline, name: str, token: str) -> None:
    """Keeps the lease while the update is handled; a failed renewal is tried again next time
    (the lease outlives two missed renewals)."""
    while True:
        await asyncio.sleep(RENEW_EVERY_SECONDS)
        try:
            await pipeline.script(RENEW, [name], [token, LOCK_LEASE_MS])
        except RedisError:
            pass
