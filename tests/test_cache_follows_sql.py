"""The cache follows SQL after the two things that set it apart in the flush-under-load runs
(tests/test_reservations_processes.py, scripts/flush_drift.py):

- a Redis call that timed out (its answer lost, or never run) while SQL charged alone: the
  cache had the charge missing until the reconciler's next pass;
- a refusal while the user's other reservations were on their way to SQL: it reloaded the cache
  (dropping their pending steps) and charged again, a storm of reloads under a user's burst;
- a forced reload that began while the cache was missing (just flushed): with no seq to guard
  it, it wrote its snapshot over what other processes had loaded and confirmed meanwhile (found
  by tracing every script of a failing flush run: the snapshot had waited for a pooled
  connection while another process's charge was confirmed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.connection import parse_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from medialab.billing import transactions as tx
from medialab.billing.cache import BalanceCache, Step
from medialab.billing.charge_rule.as_cached import charge_as_cached
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.redis import redis_client
from medialab.domain.operations import OperationType
from medialab.settings import Settings

PRICE = 1000
TIMEOUT = 0.3


class PausableRedis:
    """A TCP proxy to the test Redis that can stop answering: while paused, what clients send
    is read and dropped and nothing comes back (a stalled server); connections made after
    `resume()` are forwarded again (redis-py drops a connection whose call timed out)."""

    def __init__(self, upstream: str) -> None:
        self._upstream = parse_url(upstream)  # host and port, or the unix socket's path; and db
        self.paused = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/{self._upstream.get('db', 0)}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.paused:
            while await reader.read(65536):
                pass
            writer.close()
            return
        if "path" in self._upstream:  # an embedded Redis (tests/suite_servers.py)
            up_reader, up_writer = await asyncio.open_unix_connection(self._upstream["path"])
        else:
            up_reader, up_writer = await asyncio.open_connection(self._upstream["host"], self._upstream.get("port", 6379))
        both = [asyncio.ensure_future(self._pipe(reader, up_writer, upstream=True)),
                asyncio.ensure_future(self._pipe(up_reader, writer, upstream=False))]
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        for task in both:
            task.cancel()
        writer.close()
        up_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        while chunk := await reader.read(65536):
            if not upstream and self.paused:
                continue  # the answer is lost on its way back
            writer.write(chunk)
            await writer.drain()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def pausable() -> AsyncIterator[PausableRedis]:
    proxy = PausableRedis(REDIS_TEST_URL)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def sql_numbers(sessions: async_sessionmaker[AsyncSession], user_id: int) -> tuple[int, int, frozenset[str]]:
    async with sessions() as session:
        balance, free, _, in_flight = await tx.snapshot(session, user_id)
    return balance, free, frozenset(in_flight)


async def cache_numbers(redis: Redis, user_id: int) -> tuple[int, int, frozenset[str]]:
    cached = await BalanceCache(redis).snapshot(user_id)
    assert cached is not None and cached.pending == ()
    return cached.balance, cached.free, cached.in_flight


@pytest.mark.parametrize("lost", ["answer", "call"])
async def test_a_charge_made_on_sql_alone_reaches_the_cache_when_redis_answers_again(
    lost: str, sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis,
    pausable: PausableRedis,
) -> None:
    client = redis_client(pausable.url, timeout=TIMEOUT)
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0},
        jobs={"max_in_flight": 10}), BalanceCache(client))
    try:
        user = await billing.get_or_create_user(1)
        await billing.add_balance(user.user_id, 3 * PRICE, "topup-1")
        pausable.paused = True
        if lost == "call":  # the connection is taken while paused: the script never runs
            await client.connection_pool.disconnect()
        alone = await billing.charge_operation(user.user_id, "generate")
        pausable.paused = False

        assert isinstance(alone, Charged) and alone.balance == 2 * PRICE  # SQL decided alone
        after = await billing.charge_operation(user.user_id, "generate")
        assert isinstance(after, Charged) and after.balance == PRICE
        assert await cache_numbers(redis, user.user_id) == await sql_numbers(sessions, user.user_id)
        assert (await cache_numbers(redis, user.user_id))[2] == {alone.operation_id, after.operation_id}
        last = await billing.charge_operation(user.user_id, "generate")
        assert isinstance(last, Charged) and last.balance == 0
        assert isinstance(await billing.charge_operation(user.user_id, "generate"), InsufficientFunds)
    finally:
        await client.aclose()


async def test_a_refusal_behind_reservations_on_their_way_to_sql_leaves_them_alone(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis,
) -> None:
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0}), BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, PRICE, "topup-1")
    assert billing.cache is not None
    # Another process reserved the last price in Redis; its SQL commit is still on its way.
    taken = await billing.cache.reserve(user.user_id, "on-its-way", PRICE, 10)
    assert taken.status == "reserved"

    refused = await billing.charge_operation(user.user_id, "generate")

    assert isinstance(refused, InsufficientFunds) and refused.balance == 0
    cached = await billing.cache.snapshot(user.user_id)
    assert cached is not None
    # Not reloaded: the reservation's pending step and its money are still in the cache...
    assert [m for m, _ in cached.pending] == ["op:on-its-way"] and cached.balance == 0
    # ...so its commit is confirmed as the cache already counted it.
    charged, version = await charge_as_cached(
        billing._engine, user.user_id, OperationType.GENERATE, "on-its-way", PRICE, None, False)  # noqa: SLF001
    assert isinstance(charged, Charged)
    assert (await billing.cache.confirm(user.user_id, Step.reservation(user.user_id, "on-its-way", False, PRICE),
                                        version)).status == "confirmed"
    assert await cache_numbers(redis, user.user_id) == await sql_numbers(sessions, user.user_id)


async def test_a_cache_behind_sql_admits_the_type_sql_can_pay_at_its_own_price(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis,
) -> None:
    """OPERATION_PRICES: whether the cache lags is judged by the price of the type asked for."""
    priced = settings.with_overrides(
        billing={"free_operations_count": 0, "operation_prices": (("upscale", 500), ("generate", 1200))},
        jobs={"max_in_flight": 10})
    billing = BillingService(sessions, priced, BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, 500, "topup-1")
    # A top-up that never reached Redis (made on SQL alone): the cache holds 5 ₽ less than SQL.
    await BillingService(sessions, priced).add_balance(user.user_id, 500, "topup-2")

    upscale = await billing.charge_operation(user.user_id, "upscale")
    assert isinstance(upscale, Charged) and (upscale.price, upscale.balance) == (500, 500)
    upscale = await billing.charge_operation(user.user_id, "upscale")
    assert isinstance(upscale, Charged) and (upscale.price, upscale.balance) == (500, 0)
    assert await billing.charge_operation(user.user_id, "generate") == InsufficientFunds(user.user_id, 0, 1200)
    assert await cache_numbers(redis, user.user_id) == await sql_numbers(sessions, user.user_id)


class ReadThenWait(AsyncSession):
    """A session whose first statement, once `armed`, returns only when `go` is set: a read that
    finished long before its caller could use it (it waited for the event loop, a connection)."""

    armed = False
    read = asyncio.Event()
    go = asyncio.Event()

    async def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        result = await super().execute(*args, **kwargs)
        if not ReadThenWait.armed:
            return result
        ReadThenWait.armed = False
        rows = result.freeze()
        await self.rollback()  # SQLite: no transaction held while waiting (it would lock writers)
        ReadThenWait.read.set()
        await ReadThenWait.go.wait()
        return rows()


async def test_a_resync_begun_on_a_missing_cache_cannot_write_over_what_was_confirmed_since(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis,
) -> None:
    settings = settings.with_overrides(billing={"free_operations_count": 0}, jobs={"max_in_flight": 10})
    slow = async_sessionmaker(sessions.kw["bind"], class_=ReadThenWait, expire_on_commit=False)
    resyncing = BillingService(slow, settings, BalanceCache(redis))
    other_process = BillingService(sessions, settings, BalanceCache(redis))
    user = await other_process.get_or_create_user(1)
    await other_process.add_balance(user.user_id, 3 * PRICE, "topup-1")
    await redis.flushdb()
    ReadThenWait.read, ReadThenWait.go = asyncio.Event(), asyncio.Event()

    ReadThenWait.armed = True
    resync = asyncio.create_task(resyncing.resync(user.user_id))  # notes: no cache; reads SQL
    await asyncio.wait_for(ReadThenWait.read.wait(), 10)
    charged = await other_process.charge_operation(user.user_id, "generate")  # load, reserve, commit, confirm
    assert isinstance(charged, Charged) and charged.balance == 2 * PRICE
    ReadThenWait.go.set()
    await asyncio.wait_for(resync, 10)

    assert await cache_numbers(redis, user.user_id) == await sql_numbers(sessions, user.user_id)
    assert (await cache_numbers(redis, user.user_id))[0] == 2 * PRICE
