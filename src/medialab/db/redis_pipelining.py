"""Commands on the hot path, sent to Redis together: what coroutines ask in the same turn of the
event loop leaves in one pipeline, one write and one read for all of them.

Under load many updates are handled at once, and each makes a few short Redis calls (the
conversation lock and state, billing's scripts, the job). One round trip each cost more than
the commands themselves (bench/webhook.py: 52 µs of CPU a call alone, 11 µs in a batch). A
coroutine still awaits its own answer before its next command, so its commands keep their
order; each command (a Lua script included) stays atomic; the pipeline is not a transaction.
A lost connection fails every command of its batch, as it would have failed each alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from medialab.db.redis_scripts import LuaScript

# One per connection pool, kept on the pool (so it lives and goes with it): the clients of one
# pool (the bot's storage, billing, the job queue's ArqRedis) share their batches.
_ATTRIBUTE = "_medialab_auto_pipeline"


class AutoPipeline:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        # How well batching works: commands sent, and the round trips they took.
        self.commands_sent = 0
        self.batches_sent = 0

    def execute(self, *command: Any) -> asyncio.Future[Any]:
        """The command's answer (as `Redis.execute_command` gives it), once its batch is back."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        self._waiting.append((command, answer))
        return answer

    async def script(self, script: LuaScript, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA of the script; loads it if the server does not have it (first use, a
        restart, SCRIPT FLUSH), twice, since a flush may land between the load and the call."""
        for attempt in range(3):
            try:
                return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                if attempt == 2:
                    raise
                await self.execute("SCRIPT", "LOAD", script.source)
        raise AssertionError("unreachable")

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        self.batches_sent += 1
        self.commands_sent += len(batch)
        pipe = self._redis.pipeline(transaction=False)
        for command, _ in batch:
            pipe.execute_command(*command)
        try:
            answers = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            await pipe.reset()
        for (_, answer), result in zip(batch, answers, strict=True):
            if answer.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)


def auto_pipeline(redis: Redis) -> AutoPipeline:
    """The batches of the client's connection pool."""
    pool = redis.connection_pool
    pipeline: AutoPipeline | None = getattr(pool, _ATTRIBUTE, None)
    if pipeline is None:
        pipeline = AutoPipeline(Redis(connection_pool=pool))
        setattr(pool, _ATTRIBUTE, pipeline)
    return pipeline
