"""`medialab reconcile` and the worker's reconcile cron against real Redis and both databases."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conftest import REDIS_TEST_URL
from medialab_commands import environment, medialab_in_process, medialab_process
from medialab.billing.cache import BalanceCache
from medialab.db.redis_keys import user_keys
from medialab.billing.service import BillingService
from medialab.jobs.worker import reconcile_cache
from medialab.worker_app import WorkerSettings
from medialab.settings import Settings


async def cached_user(billing: BillingService, telegram_id: int) -> int:
    user = await billing.get_or_create_user(telegram_id)
    await billing.add_balance(user.user_id, 3000, f"seed-{telegram_id}")
    return user.user_id


@pytest.mark.slow
async def test_reconcile_command_repairs_the_cache_and_refuses_a_broken_ledger(
    database_url: str, billing: BillingService, redis: Redis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    if billing.cache is None:
        return  # the command reconciles the Redis cache; the SQL-only variant has none
    user_id = await cached_user(billing, 700)
    await redis.hset(user_keys(user_id).acct, mapping={"bal": 999_999, "free": 0})

    environ = environment(database_url=database_url, redis_url=REDIS_TEST_URL)
    done = await medialab_process("reconcile", "--no-repair", environ=environ)  # the command's one real process
    assert done.returncode == 2, done.stderr
    assert f"cache drift: user {user_id} balance: redis 999999, sql 3000" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "medialab: 2 cache drift(s) left unrepaired"

    done = await medialab_in_process("reconcile", environ=environ)
    assert done.returncode == 0, done.stderr
    assert "checked 1 cached user(s): 2 cache drift(s) in 1 user(s), 1 repaired, 0 left unrepaired; ledger: ok" in done.stdout
    assert (await billing.cache.snapshot(user_id)).balance == 3000  # type: ignore[union-attr]

    async with sessions.begin() as session:
        await session.execute(text(f"UPDATE balances SET balance = 1 WHERE user_id = {user_id}"))
    done = await medialab_in_process("reconcile", environ=environ)
    assert done.returncode == 2
    assert "ledger drift: user" in done.stdout and "balance != sum of ledger entries" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("medialab: 2 ledger drift(s)")


async def test_the_worker_cron_reconciles(settings: Settings, redis: Redis, sessions: async_sessionmaker[AsyncSession]) -> None:
    billing = BillingService(sessions, settings, BalanceCache(redis))
    user_id = await cached_user(billing, 701)
    await redis.hset(user_keys(user_id).acct, "free", 40)
    ctx: dict = {"settings": settings.with_overrides(redis={"url": REDIS_TEST_URL})}
    await WorkerSettings.on_startup(ctx)
    try:
        assert await reconcile_cache(ctx) == {"checked": 1, "drifts": 1, "repaired": 1}
        assert await reconcile_cache(ctx) == {"checked": 1, "drifts": 0, "repaired": 0}
    finally:
        await WorkerSettings.on_shutdown(ctx)
    assert (await billing.cache.snapshot(user_id)).free == 4  # type: ignore[union-attr]


async def test_worker_needs_a_shared_redis() -> None:
    # In this process: `medialab worker` loads the job queue and the bot (~3 s in a process of its own).
    done = await medialab_in_process("worker", environ=environment())
    assert done.returncode == 2
    assert done.stderr.strip() == ("medialab: REDIS_URL must be set for the worker: the web app and the worker share one Redis "
                                   "(`medialab run` runs both in one process on an embedded one)")
