"""Promo codes on both databases, on SQL alone and with the Redis cache in front: a code is
credited once per user, never more than its uses however many redeem at once, and a code that
cannot be redeemed changes nothing. After each test the books balance and the cache agrees."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing import promo
from medialab.billing.audit import check_ledger
from medialab.billing.promo import PromoRefused, Redeemed, Refusal
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged
from medialab.billing.service import BillingService
from medialab.db.models import LedgerEntry, PromoCode
from medialab.settings import Settings

from conftest import REDIS_TEST_URL

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(autouse=True)
async def books_and_cache_agree(billing: BillingService, sessions: Sessions) -> AsyncIterator[None]:
    yield
    assert await check_ledger(sessions) == []
    if billing.cache is not None:
        report = await reconcile(billing, repair=False, pending_grace=0)
        assert report.drifts == [] and report.users_busy == 0


async def users(billing: BillingService, count: int, first: int = 50_000) -> list[int]:
    return [(await billing.get_or_create_user(first + n)).user_id for n in range(count)]


async def attempt(billing: BillingService, user_id: int, code: str) -> Redeemed | Refusal:
    try:
        return await promo.redeem(billing, user_id, code)
    except PromoRefused as refused:
        return refused.refusal


async def promo_entries(sessions: Sessions) -> list[LedgerEntry]:
    async with sessions() as session:
        return list((await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "promo"))).all())


async def uses(sessions: Sessions, code: str) -> int:
    async with sessions() as session:
        return (await session.scalars(select(PromoCode.uses).where(PromoCode.code == code))).one()


async def test_100_users_redeeming_a_10_use_code_at_once_credit_exactly_10(
    billing: BillingService, sessions: Sessions
) -> None:
    await promo.create_code(sessions, "TEN", 5_000, max_uses=10)
    ids = await users(billing, 100)

    answers = await asyncio.gather(*(attempt(billing, user_id, "TEN") for user_id in ids))

    credited = [answer for answer in answers if isinstance(answer, Redeemed)]
    assert len(credited) == 10
    assert Counter(answer for answer in answers if not isinstance(answer, Redeemed)) == {Refusal.USED_UP: 90}
    assert await uses(sessions, "TEN") == 10
    entries = await promo_entries(sessions)
    assert sorted(entry.amount for entry in entries) == [5_000] * 10
    assert {entry.idempotency_key for entry in entries} == {f"promo:TEN:{user_id}" for user_id in
                                                            {entry.user_id for entry in entries}}
    balances = [(await billing.get_user_info(50_000 + n)).balance for n in range(100)]  # type: ignore[union-attr]
    assert sorted(balances) == [0] * 90 + [5_000] * 10


async def test_a_user_is_credited_once_however_often_they_redeem_at_once(
    billing: BillingService, sessions: Sessions
) -> None:
    await promo.create_code(sessions, "ONCE", 1_000, free_operations=2)
    (user_id,) = await users(billing, 1)

    answers = await asyncio.gather(*(attempt(billing, user_id, "ONCE") for _ in range(20)))

    assert sum(isinstance(answer, Redeemed) for answer in answers) == 1
    assert answers.count(Refusal.ALREADY_REDEEMED) == 19
    user = await billing.get_user_info(50_000)
    assert user is not None and (user.balance, user.free_operations_left) == (1_000, 4 + 2)
    assert await uses(sessions, "ONCE") == 1


async def test_free_operations_of_a_code_are_used_before_the_balance(billing: BillingService, sessions: Sessions) -> None:
    await promo.create_code(sessions, "FREE1", 0, free_operations=1)
    (user_id,) = await users(billing, 1)
    for number in range(4):  # the new user's own free operations, used up
        await billing.charge_operation(user_id, "generate", operation_id=f"own-{number}")

    redeemed = await promo.redeem(billing, user_id, "FREE1")

    assert (redeemed.amount, redeemed.free_operations, redeemed.free_operations_left) == (0, 1, 1)
    charged = await billing.charge_operation(user_id, "generate", operation_id="from-the-code")
    assert isinstance(charged, Charged) and charged.paid_with_free
    assert await promo_entries(sessions) == []  # free operations move no money
    for operation in ("own-0", "own-1", "own-2", "own-3", "from-the-code"):
        await billing.settle_operation(operation)


@pytest.mark.parametrize("refusal", [Refusal.UNKNOWN, Refusal.DISABLED, Refusal.EXPIRED, Refusal.USED_UP])
async def test_a_code_that_cannot_be_redeemed_changes_nothing(
    billing: BillingService, sessions: Sessions, refusal: Refusal
) -> None:
    first, second = await users(billing, 2)
    await promo.create_code(sessions, "SOLO", 700, max_uses=1)
    await promo.redeem(billing, first, "SOLO")
    await promo.create_code(sessions, "OFF", 700)
    await promo.disable_code(sessions, "OFF")
    await promo.create_code(sessions, "OLD", 700, valid_until=datetime.now(UTC) - timedelta(seconds=1))
    code = {Refusal.UNKNOWN: "NOPE", Refusal.DISABLED: "OFF", Refusal.EXPIRED: "OLD", Refusal.USED_UP: "SOLO"}[refusal]

    assert await attempt(billing, second, code) is refusal

    user = await billing.get_user_info(50_001)
    assert user is not None and (user.balance, user.free_operations_left) == (0, 4)
    assert [entry.user_id for entry in await promo_entries(sessions)] == [first]


async def test_a_code_works_through_its_last_day(billing: BillingService, sessions: Sessions) -> None:
    today = datetime.now(UTC).date()
    assert promo.end_of(date(2026, 12, 31)) == datetime(2027, 1, 1, tzinfo=UTC)
    await promo.create_code(sessions, "TODAY", 100, valid_until=promo.end_of(today))
    (user_id,) = await users(billing, 1)
    assert isinstance(await attempt(billing, user_id, "TODAY"), Redeemed)


# One process of many: redeems the code for each user id given, all at once, through the same
# Storage (SQL and the Redis cache) the web app opens; prints what each got.
REDEEMER = """
import asyncio, json, sys
from medialab.billing import promo
from medialab.settings import Settings
from medialab.storage import Storage

async def main(code, user_ids):
    storage = await Storage.open(Settings.from_env(env_file=None))
    async def one(user_id):
        try:
            await promo.redeem(storage.billing, user_id, code)
            return "redeemed"
        except promo.PromoRefused as refused:
            return refused.refusal.value
    try:
        print(json.dumps(await asyncio.gather(*(one(user_id) for user_id in user_ids))))
    finally:
        await storage.close()

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""


async def test_two_processes_redeeming_a_10_use_code_for_100_users_credit_exactly_10(
    billing: BillingService, sessions: Sessions, settings: Settings
) -> None:
    if billing.cache is None:
        pytest.skip("the processes run with the Redis cache, as the web app does")
    await promo.create_code(sessions, "PROCS", 2_500, max_uses=10)
    ids = await users(billing, 100)
    environ = {**os.environ, "DATABASE_URL": settings.database.url, "REDIS_URL": REDIS_TEST_URL}

    def run(half: list[int]) -> list[str]:
        done = subprocess.run([sys.executable, "-c", REDEEMER, "PROCS", json.dumps(half)], env=environ,
                              capture_output=True, text=True, timeout=300, check=True)
        return json.loads(done.stdout.splitlines()[-1])

    answers = [answer for got in await asyncio.gather(asyncio.to_thread(run, ids[::2]), asyncio.to_thread(run, ids[1::2]))
               for answer in got]

    assert Counter(answers) == {"redeemed": 10, "used_up": 90}
    assert await uses(sessions, "PROCS") == 10
    assert sorted(entry.amount for entry in await promo_entries(sessions)) == [2_500] * 10
