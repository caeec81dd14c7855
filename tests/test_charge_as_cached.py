"""The charge the Redis cache admitted: four statements on SQLite, one function call on
PostgreSQL (billing/charge_rule/medialab_charge_as_cached.0005.sql). Both must answer alike and change alike, outcome by outcome."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.charge_rule import sqlite
from medialab.billing.charge_rule.as_cached import OperationExists, charge_as_cached
from medialab.billing.audit import check_ledger
from medialab.billing.results import Charged, InsufficientFunds
from medialab.billing.service import BillingService
from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationType
from medialab.settings import Settings

PRICE = 1000


async def account(sessions: async_sessionmaker[AsyncSession], user_id: int) -> tuple[int, int, int, int, int]:
    """(balance, free left, version, operations, ledger entries) of the user."""
    async with sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None
        balance = await session.scalar(select(Balance.balance).where(Balance.user_id == user_id))
        operations = await session.scalar(select(func.count()).select_from(Operation).where(Operation.user_id == user_id))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == user_id))
        return balance, user.free_operations_left, user.version, operations, entries


@pytest.fixture
async def user(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """A user with one free operation left and 15 ₽: enough for one paid charge, not two."""
    billing = BillingService(sessions, settings.with_overrides(billing={"free_operations_count": 1}))
    info = await billing.get_or_create_user(555)
    await billing.add_balance(info.user_id, 1500, "seed:555", LedgerKind.TOPUP)
    return info.user_id


def engine_of(sessions: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    return sessions.kw["bind"]


async def charge(sessions: async_sessionmaker[AsyncSession], user_id: int, op: str, free: bool):  # type: ignore[no-untyped-def]
    return await charge_as_cached(engine_of(sessions), user_id, OperationType.GENERATE, op, PRICE, None, free)


async def test_free_then_paid_then_refused(sessions: async_sessionmaker[AsyncSession], user: int) -> None:
    before = await account(sessions, user)
    free = await charge(sessions, user, "op-free", free=True)
    assert free is not None
    result, version = free
    assert result == Charged("op-free", user, "generate", True, 0, 1500, 0)
    assert version == before[2] + 1
    assert await account(sessions, user) == (1500, 0, before[2] + 1, 1, before[4])

    paid = await charge(sessions, user, "op-paid", free=False)
    assert paid is not None
    assert paid[0] == Charged("op-paid", user, "generate", False, PRICE, 500, 0)
    assert await account(sessions, user) == (500, 0, before[2] + 2, 2, before[4] + 1)

    refused = await charge(sessions, user, "op-broke", free=False)
    assert refused is not None
    assert refused[0] == InsufficientFunds(user, 500, PRICE)
    # Only the version moved: no operation, no entry, the same money.
    assert await account(sessions, user) == (500, 0, before[2] + 3, 2, before[4] + 1)
    assert await check_ledger(sessions) == []


async def test_a_cache_wrong_about_free_operations_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], user: int,
) -> None:
    before = await account(sessions, user)
    # The user has a free operation, the cache believed none was left (and the reverse).
    assert await charge(sessions, user, "op-1", free=False) is None
    assert await account(sessions, user) == before
    assert await charge(sessions, user, "op-2", free=True) is not None
    assert await charge(sessions, user, "op-3", free=True) is None
    after_free = await account(sessions, user)
    assert after_free[1] == 0 and after_free[3] == before[3] + 1


async def test_an_operation_id_charged_before_is_undone_whole(
    sessions: async_sessionmaker[AsyncSession], user: int,
) -> None:
    assert await charge(sessions, user, "op-x", free=True) is not None
    before = await account(sessions, user)
    with pytest.raises(OperationExists):
        await charge(sessions, user, "op-x", free=False)
    # The version bump and the balance move of the second call were rolled back with it.
    assert await account(sessions, user) == before
    assert await check_ledger(sessions) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_waits_for_another_writer_without_blocking_the_event_loop(
    sessions: async_sessionmaker[AsyncSession], user: int, database_url: str,
) -> None:
    """With the write lock free a charge runs on the loop's thread; held by another connection
    (another process writing), the charge waits for it in the charge thread while the loop goes on."""
    engine = engine_of(sessions)
    assert await charge(sessions, user, "op-1", free=True) is not None
    chargers = sqlite.charger(engine)
    assert (chargers.charged_here, chargers.charged_in_thread) == (1, 0)
    other = sqlite3.connect(engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        waiting = asyncio.ensure_future(charge(sessions, user, "op-2", free=False))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the charge waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done() and ticks == 20
    finally:
        other.execute("COMMIT")
        other.close()
    result = await asyncio.wait_for(waiting, 10)
    assert result is not None and isinstance(result[0], Charged) and result[0].balance == 500
    assert (chargers.charged_here, chargers.charged_in_thread) == (1, 1)
    assert await check_ledger(sessions) == []
