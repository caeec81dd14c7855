"""SQL behind the cache: a backup restored (or a replica promoted) under a Redis that still holds
the newer numbers. SQL is the system of record: the cache is rebuilt from it, charges answer
normally and the reconciler repairs instead of failing every pass."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from medialab.billing import transactions as tx
from medialab.billing.cache import BalanceCache
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.settings import Settings
from conftest import drop_pg_database

PRICE = 1000


class Database:
    """One database of the test's, with its engine; `backup()` copies it as a dump would."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url, self._tmp = url, tmp_path
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)

    async def backup(self) -> str:
        await self.engine.dispose()  # PostgreSQL copies a template only with no one connected
        if self.url.startswith("sqlite"):
            copy = self._tmp / f"backup-{uuid.uuid4().hex[:6]}.db"
            shutil.copyfile(self.url.split("///", 1)[1], copy)
            return f"sqlite+aiosqlite:///{copy}"
        base, _, name = self.url.rpartition("/")
        copy = f"{name}_backup_{uuid.uuid4().hex[:6]}"
        conn = await asyncpg.connect(f"{base}/{name}".replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
        finally:
            await conn.close()
        return f"{base}/{copy}"


@pytest.fixture
async def databases(database_url: str, tmp_path: Path) -> AsyncIterator[list[Database]]:
    """The test's live database first; backups restored from it are appended, and dropped after."""
    made: list[Database] = [Database(database_url, tmp_path)]
    yield made
    for db in made:
        await db.engine.dispose()
        if not db.url.startswith("sqlite") and db.url != database_url:
            await drop_pg_database(db.url.rpartition("/")[2])


def billing_on(db: Database, settings: Settings, redis: Redis) -> BillingService:
    return BillingService(db.sessions, settings.with_overrides(
        billing={"free_operations_count": 0},
        jobs={"max_in_flight": 100}),
                          BalanceCache(redis))


async def test_a_restored_backup_wins_over_the_newer_cache(
    database_url: str, tmp_path: Path, settings: Settings, redis: Redis, databases: list[Database]
) -> None:
    live = databases[0]
    before = billing_on(live, settings, redis)
    user = await before.get_or_create_user(7)
    await before.add_balance(user.user_id, 5 * PRICE, "topup-1")
    first = await before.charge_operation(user.user_id, "generate")
    assert isinstance(first, Charged)

    restored = Database(await live.backup(), tmp_path)  # the backup: 4 prices, one job in flight
    databases.append(restored)
    later = billing_on(live, settings, redis)
    await later.add_balance(user.user_id, 10 * PRICE, "topup-2")
    for _ in range(6):
        assert isinstance(await later.charge_operation(user.user_id, "generate"), Charged)
    await later.settle_operation(first.operation_id)
    await later.resync(user.user_id)  # a reconciler's pass: the cache is at SQL's newest version
    cached = await redis_snapshot(later, user.user_id)
    assert (cached.balance, len(cached.in_flight)) == (8 * PRICE, 6)  # the cache is far ahead

    # The live database is lost; the backup is restored and the product starts on it.
    after = billing_on(restored, settings, redis)
    charged = await after.charge_operation(user.user_id, "generate")

    assert isinstance(charged, Charged) and charged.balance == 3 * PRICE  # SQL's numbers, not the cache's
    # The money the cache promised from the lost top-up is not spendable: the first charge SQL
    # refuses rebuilds the cache from SQL instead of failing on the cache's newer version.
    for left in (2, 1, 0):
        more = await after.charge_operation(user.user_id, "generate")
        assert isinstance(more, Charged) and more.balance == left * PRICE
    refused = await after.charge_operation(user.user_id, "generate")
    assert isinstance(refused, InsufficientFunds) and refused.balance == 0
    await assert_cache_is_sql(after, restored, user.user_id)

    report = await reconcile(after, pending_grace=0)
    assert (report.drifts, report.failed) == ([], [])


async def test_the_reconciler_repairs_a_cache_ahead_of_a_restored_backup(
    database_url: str, tmp_path: Path, settings: Settings, redis: Redis, databases: list[Database]
) -> None:
    live = databases[0]
    before = billing_on(live, settings, redis)
    users = [(await before.get_or_create_user(100 + n)).user_id for n in range(3)]
    for n, user_id in enumerate(users):
        await before.add_balance(user_id, 2 * PRICE, f"topup-{n}")
    restored = Database(await live.backup(), tmp_path)
    databases.append(restored)
    later = billing_on(live, settings, redis)
    for n, user_id in enumerate(users):
        await later.add_balance(user_id, PRICE, f"topup-late-{n}")
    await redis.flushdb()  # a Redis restart: each user's next call loads SQL's newest version
    for user_id in users:
        assert isinstance(await later.charge_operation(user_id, "generate"), Charged)

    after = billing_on(restored, settings, redis)
    report = await reconcile(after, pending_grace=0)

    assert report.failed == [] and report.repaired == len(users)
    assert {d.user_id for d in report.drifts} == set(users)
    again = await reconcile(after, pending_grace=0)
    assert (again.drifts, again.failed) == ([], [])
    for user_id in users:
        cached = await redis_snapshot(after, user_id)
        assert (cached.balance, cached.in_flight) == (2 * PRICE, frozenset())


async def assert_cache_is_sql(billing: BillingService, db: Database, user_id: int) -> None:
    async with db.sessions() as session:
        balance, free, _, in_flight = await tx.snapshot(session, user_id)
    cached = await redis_snapshot(billing, user_id)
    assert (cached.balance, cached.free, cached.in_flight, cached.pending) == (
        balance, free, frozenset(in_flight), ())


async def redis_snapshot(billing: BillingService, user_id: int):  # type: ignore[no-untyped-def]
    assert billing.cache is not None
    cached = await billing.cache.snapshot(user_id)
    assert cached is not None
    return cached
