"""bot/fsm.py against the real Redis: the per-chat lock holds across web processes (here two
clients, each with its own connections and batches), and the state reads see what was written."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from redis.asyncio import Redis

from conftest import REDIS_TEST_URL
from medialab.bot.fsm import BatchedRedisIsolation, BatchedRedisStorage
from medialab.db.redis import redis_client

KEYS = DefaultKeyBuilder(prefix="medialab:fsm")


def chat(chat_id: int) -> StorageKey:
    return StorageKey(bot_id=42, chat_id=chat_id, user_id=chat_id)


async def test_one_update_of_a_chat_at_a_time_across_processes(redis: Redis) -> None:
    other = redis_client(REDIS_TEST_URL)  # a second web process
    try:
        isolations = [BatchedRedisIsolation(redis, KEYS), BatchedRedisIsolation(other, KEYS)]
        holders: dict[int, int] = {1: 0, 2: 0}
        most: dict[int, int] = {1: 0, 2: 0}
        handled: dict[int, int] = {1: 0, 2: 0}

        async def update(n: int) -> None:
            chat_id = 1 + n % 2
            async with isolations[n % 3 % 2].lock(chat(chat_id)):
                holders[chat_id] += 1
                most[chat_id] = max(most[chat_id], holders[chat_id])
                count = handled[chat_id]
                await asyncio.sleep(0.002)  # a handler's awaits, where another update could slip in
                handled[chat_id] = count + 1
                holders[chat_id] -= 1

        await asyncio.gather(*(update(n) for n in range(60)))
        assert handled == {1: 30, 2: 30}  # no read-modify-write lost
        assert most == {1: 1, 2: 1}
        assert await redis.keys("medialab:fsm:*:lock") == []  # every lock given back
    finally:
        await other.aclose()


async def test_a_lock_is_released_only_by_its_holder(redis: Redis) -> None:
    isolation = BatchedRedisIsolation(redis, KEYS)
    name = KEYS.build(chat(7), "lock")
    async with isolation.lock(chat(7)):
        token = await redis.get(name)
        await redis.set(name, b"someone-else")  # expired and taken by another process meanwhile
    assert await redis.get(name) == b"someone-else"
    assert token is not None and token != b"someone-else"


async def test_state_and_data_read_back(redis: Redis) -> None:
    storage = BatchedRedisStorage(redis, key_builder=KEYS)
    assert await storage.get_state(chat(3)) is None
    assert await storage.get_data(chat(3)) == {}
    await storage.set_state(chat(3), "GenerateStates:prompt")
    await storage.set_data(chat(3), {"photos": ["a", "b"]})
    assert await storage.get_state(chat(3)) == "GenerateStates:prompt"
    assert await storage.get_data(chat(3)) == {"photos": ["a", "b"]}
