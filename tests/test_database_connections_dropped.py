"""Without a pre-ping, a pooled connection the server dropped (a restart, a proxy's idle cut)
is found by its first statement. SQLAlchemy then discards every connection as old as it, and
the charge (on the path of every paid prompt) tries once more: no prompt is lost to it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from conftest import POSTGRES_ADMIN_URL
from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.results import Charged
from medialab.billing.service import BillingService
from medialab.db.engine import create_engine, session_factory
from medialab.domain.ledger import LedgerKind
from medialab.settings import Settings


async def drop_connections(database: str) -> int:
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        return len(await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database))
    finally:
        await admin.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_charges_go_on_after_the_server_dropped_every_connection(
    database_url: str, settings: Settings, redis: Redis,
) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    billing = BillingService(sessions, settings.with_overrides(
        billing={"free_operations_count": 0},
        jobs={"max_in_flight": 100}), BalanceCache(redis))
    try:
        user = await billing.get_or_create_user(777)
        await billing.add_balance(user.user_id, 100_000, "seed:777", LedgerKind.TOPUP)
        # Fill the pool with open connections, then have the server drop them all.
        await asyncio.gather(*(billing.charge_operation(user.user_id, "generate") for _ in range(8)))
        dropped = await drop_connections(engine.url.database)
        assert dropped >= 1
        for _ in range(6):
            result = await billing.charge_operation(user.user_id, "generate")
            assert isinstance(result, Charged) and not result.replayed
        info = await billing.get_user_info(777)
        assert info is not None and info.balance == 100_000 - 14 * settings.billing.price_per_operation
        assert await check_ledger(sessions) == []
    finally:
        await engine.dispose()
