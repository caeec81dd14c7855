"""A Redis that accepts connections and never answers (a partition, a stalled server) fails each
call within REDIS_TIMEOUT as a refused connection does: money is charged, replayed and refunded
on SQL alone within seconds, and the worker's queue client raises instead of hanging.
(test_redis_loss.py has Redis refusing connections; here every connection is accepted.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.results import Charged, ChargeResult
from medialab.billing.service import BillingService
from medialab.db.models import LedgerEntry
from medialab.db.redis import redis_client
from medialab.jobs.queue import job_queue
from medialab.settings import Settings

PRICE = 1000
TIMEOUT = 0.5  # the clients' REDIS_TIMEOUT here
# A call that meets the stalled Redis finishes on SQL within this. What it tells apart: a call
# without a deadline never ends, and twenty calls that each waited out the deadlines of those
# before them would take 20 x TIMEOUT = 10 s; the rest is SQL's own time, which on a loaded
# machine (twenty SQLite writes one after another, beside other tests) went past 3 s.
WITHIN = 7.0


class StalledRedis:
    """A TCP server on 127.0.0.1 that accepts every connection and reads what it is sent,
    and never writes a byte back."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while chunk := await reader.read(65536):  # until the client (or stop()) closes it
                self.received += len(chunk)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


@pytest.fixture
async def stalled_redis() -> AsyncIterator[StalledRedis]:
    server = StalledRedis()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def stalled_client(stalled_redis: StalledRedis) -> AsyncIterator[Redis]:
    client = redis_client(stalled_redis.url, timeout=TIMEOUT)
    yield client
    await client.aclose()


@pytest.fixture
def seeding(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> BillingService:
    """The same books on SQL alone: to seed users without waiting on the stalled Redis."""
    return BillingService(sessions, settings.with_overrides(billing={"free_operations_count": 0}))


@pytest.fixture
def stalled_billing(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, stalled_client: Redis
) -> BillingService:
    return BillingService(sessions, settings.with_overrides(
        jobs={"max_in_flight": 10_000},
        billing={"free_operations_count": 0}),
                          BalanceCache(stalled_client))


async def funded_user(seeding: BillingService, telegram_id: int, charges: int) -> int:
    user = await seeding.get_or_create_user(telegram_id)
    await seeding.add_balance(user.user_id, charges * PRICE, f"seed-{telegram_id}")
    return user.user_id


async def balance_of(billing: BillingService, telegram_id: int) -> int:
    info = await billing.get_user_info(telegram_id)
    assert info is not None
    return info.balance


async def charges_of(sessions: async_sessionmaker[AsyncSession], operation_id: str) -> list[int]:
    """The amounts of the ledger's charge entries of one operation."""
    async with sessions() as session:
        query = select(LedgerEntry.amount).where(LedgerEntry.operation_id == operation_id,
                                                 LedgerEntry.kind == "charge")
        return list((await session.execute(query)).scalars())


def elapsed_since(started: float) -> float:
    return asyncio.get_running_loop().time() - started


async def test_a_charge_completes_on_sql_while_redis_never_answers(
    sessions: async_sessionmaker[AsyncSession], seeding: BillingService, stalled_billing: BillingService,
    stalled_redis: StalledRedis,
) -> None:
    user_id = await funded_user(seeding, 1, charges=3)
    started = asyncio.get_running_loop().time()
    charged = await stalled_billing.charge_operation(user_id, "generate", operation_id="op-stalled")
    took = elapsed_since(started)

    assert took < WITHIN, took
    assert isinstance(charged, Charged) and not charged.replayed and not charged.paid_with_free
    assert (charged.operation_id, charged.balance) == ("op-stalled", 2 * PRICE)
    assert await charges_of(sessions, "op-stalled") == [-PRICE]
    assert await balance_of(seeding, 1) == 2 * PRICE
    # The call did reach the stalled server (it was not refused): it was the deadline that ended it.
    assert stalled_redis.connections >= 1 and stalled_redis.received > 0

    # The same operation again: answered as the first charge, taken once.
    started = asyncio.get_running_loop().time()
    again = await stalled_billing.charge_operation(user_id, "generate", operation_id="op-stalled")
    assert elapsed_since(started) < WITHIN
    assert isinstance(again, Charged) and again.replayed and again.operation_id == "op-stalled"
    assert again.balance == 2 * PRICE
    assert await charges_of(sessions, "op-stalled") == [-PRICE]
    assert await balance_of(seeding, 1) == 2 * PRICE

    # And back: the refund too is made on SQL alone.
    started = asyncio.get_running_loop().time()
    refund = await stalled_billing.refund_operation("op-stalled", reason="test")
    assert elapsed_since(started) < WITHIN
    assert refund.refunded and (refund.amount, refund.balance) == (PRICE, 3 * PRICE)
    assert not (await stalled_billing.refund_operation("op-stalled")).refunded
    assert await balance_of(seeding, 1) == 3 * PRICE
    assert await check_ledger(sessions) == []


async def test_twenty_concurrent_charges_complete_on_sql_within_the_bound(
    sessions: async_sessionmaker[AsyncSession], seeding: BillingService, stalled_billing: BillingService,
) -> None:
    users = [await funded_user(seeding, 10 + n, charges=2) for n in range(10)]
    operations = [(users[n % 10], f"op-{n}") for n in range(20)]  # two for each of 10 users

    async def charge_all() -> list[ChargeResult]:
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(
            stalled_billing.charge_operation(user_id, "generate", operation_id=operation_id)
            for user_id, operation_id in operations))
        took = elapsed_since(started)
        assert took < WITHIN, took  # every one of them
        return results

    charged = await charge_all()
    assert all(isinstance(result, Charged) and not result.replayed for result in charged), charged
    assert sorted(result.operation_id for result in charged) == sorted(op for _, op in operations)
    # The same twenty again at once (a retry of each): answered as before, nothing taken twice.
    replayed = await charge_all()
    assert all(isinstance(result, Charged) and result.replayed for result in replayed), replayed
    for _, operation_id in operations:
        assert await charges_of(sessions, operation_id) == [-PRICE]
    for n in range(10):
        assert await balance_of(seeding, 10 + n) == 0
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerEntry)
                                    .where(LedgerEntry.kind == "charge")) == 20

    # Twenty refunds at once, the same way. Each reads its operation from SQL first, so
    # their Redis calls go out in several batches, on connections of their own.
    started = asyncio.get_running_loop().time()
    refunds = await asyncio.gather(*(stalled_billing.refund_operation(op) for _, op in operations))
    took = elapsed_since(started)
    assert took < WITHIN, took
    assert all(refund.refunded and refund.amount == PRICE for refund in refunds)
    for n in range(10):
        assert await balance_of(seeding, 10 + n) == 2 * PRICE
    assert await check_ledger(sessions) == []


async def test_concurrent_calls_each_fail_within_their_own_deadline(stalled_client: Redis) -> None:
    """Each call waits for its own connection's deadline, not for those opened before it."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def ping() -> float:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(stalled_client.ping(), 30.0)  # only a guard
        return loop.time() - started

    took = await asyncio.gather(*(ping() for _ in range(20)))
    assert max(took) < 4 * TIMEOUT, took


async def test_the_workers_queue_client_fails_instead_of_hanging(
    settings: Settings, stalled_redis: StalledRedis
) -> None:
    queue = job_queue(settings.with_overrides(redis={"url": stalled_redis.url, "timeout": TIMEOUT}))
    try:
        for call in (queue.ping, queue.queued_jobs, lambda: queue.enqueue_job("generate_image", {})):
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(call(), 10.0)  # only a guard: the deadline must end it
            assert elapsed_since(started) < 2.0
        assert stalled_redis.connections >= 1
    finally:
        await queue.aclose()
