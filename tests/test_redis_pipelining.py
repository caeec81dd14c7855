"""db/redis_pipelining.py against the real Redis: commands of one turn of the event loop leave
together, each caller gets its own answer (or its own error), in its own order."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from conftest import REDIS_TEST_URL
from medialab.db.redis import redis_client
from medialab.db.redis_pipelining import AutoPipeline, auto_pipeline
from medialab.db.redis_scripts import LuaScript

INCR_BY = LuaScript.of("return redis.call('INCRBY', KEYS[1], ARGV[1])")


async def test_commands_of_many_coroutines_share_round_trips(redis: Redis) -> None:
    pipeline = AutoPipeline(redis)
    answers = await asyncio.gather(*(pipeline.execute("INCRBY", f"n:{i % 10}", i) for i in range(200)))
    assert answers == [sum(range(i % 10, i + 1, 10)) for i in range(200)]
    assert pipeline.commands_sent == 200
    assert pipeline.batches_sent <= 5


async def test_each_coroutine_keeps_its_order(redis: Redis) -> None:
    pipeline = auto_pipeline(redis)

    async def push(name: str) -> None:
        for n in range(20):
            await pipeline.execute("RPUSH", name, n)

    await asyncio.gather(*(push(f"list:{i}") for i in range(30)))
    for i in range(30):
        assert [int(v) for v in await redis.lrange(f"list:{i}", 0, -1)] == list(range(20))


async def test_an_error_is_its_own_callers_only(redis: Redis) -> None:
    await redis.set("text", "not a number")
    pipeline = AutoPipeline(redis)
    results = await asyncio.gather(pipeline.execute("INCR", "text"), pipeline.execute("INCR", "counter"),
                                   return_exceptions=True)
    assert isinstance(results[0], ResponseError)
    assert results[1] == 1
    assert pipeline.batches_sent == 1


async def test_scripts_are_loaded_again_after_a_flush(redis: Redis) -> None:
    pipeline = AutoPipeline(redis)
    assert await pipeline.script(INCR_BY, ["s"], [5]) == 5
    await redis.script_flush()
    answers = await asyncio.gather(*(pipeline.script(INCR_BY, ["s"], [1]) for _ in range(50)))
    assert sorted(answers) == list(range(6, 56))
    assert await redis.script_exists(INCR_BY.sha) == [True]


async def test_without_redis_every_caller_of_the_batch_fails(refused_port: int) -> None:
    port = refused_port
    client = redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        pipeline = AutoPipeline(client)
        results = await asyncio.gather(*(pipeline.execute("GET", f"k{i}") for i in range(5)), return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) for r in results)
        with pytest.raises(RedisConnectionError):
            await pipeline.script(INCR_BY, ["s"], [1])
    finally:
        await client.aclose()


def test_a_batch_cut_off_by_its_event_loop_ending_leaves_the_next_loop_working() -> None:
    """A CLI command may run one asyncio.run after another on the same connection pool."""
    client = redis_client(REDIS_TEST_URL)
    pipeline = auto_pipeline(client)

    async def abandon() -> None:
        pipeline.execute("PING")  # queued; the loop ends before its turn comes

    asyncio.run(abandon())

    async def ping() -> object:
        try:
            return await asyncio.wait_for(pipeline.execute("PING"), 5)
        finally:
            await client.aclose()

    assert asyncio.run(ping()) is True
