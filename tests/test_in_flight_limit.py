"""MAX_JOBS_IN_FLIGHT counts every job of a user, the free add_text included: a flood of add_text
from many coroutines at once takes the user's slots and no more, refused like a paid operation
past the limit, while another user's paid operation is admitted; a slot comes back when its job
ends (delivered or failed), and a cache rebuilt from SQL still counts the add_text in flight."""

from __future__ import annotations

import asyncio
from collections import Counter

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.reconcile import reconcile
from medialab.billing.results import Charged, TooManyInFlight
from medialab.billing.service import BillingService
from medialab.settings import Settings

FLOODER, OTHER = 61_001, 61_002
FLOOD = 60
LIMIT = 2


async def test_a_flood_of_add_text_takes_the_users_slots_and_no_more(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    billing = BillingService(sessions, settings.with_overrides(
        jobs={"max_in_flight": LIMIT},
        billing={"free_operations_count": 0}),
                             BalanceCache(redis))
    flooder = await billing.get_or_create_user(FLOODER)
    other = await billing.get_or_create_user(OTHER)
    await billing.add_balance(other.user_id, 1000, "seed-other")

    results = await asyncio.gather(
        *(billing.charge_operation(flooder.user_id, "add_text", operation_id=f"text-{n}") for n in range(FLOOD)),
        billing.charge_operation(other.user_id, "generate", operation_id="paid-other"))
    *flood, paid = results

    assert Counter(type(r).__name__ for r in flood) == {"Charged": LIMIT, "TooManyInFlight": FLOOD - LIMIT}
    admitted = [r for r in flood if isinstance(r, Charged)]
    assert all(r.price == 0 and not r.paid_with_free for r in admitted)
    assert {r for r in flood if isinstance(r, TooManyInFlight)} == {TooManyInFlight(flooder.user_id, LIMIT, LIMIT)}
    assert isinstance(paid, Charged) and (paid.price, paid.balance) == (1000, 0)

    # A paid operation of the flooder waits for a slot like another add_text does.
    await billing.add_balance(flooder.user_id, 1000, "seed-flooder")
    assert isinstance(await billing.charge_operation(flooder.user_id, "generate"), TooManyInFlight)

    # A delivered job and a failed one each give their slot back.
    first, second = (r.operation_id for r in admitted)
    assert await billing.settle_operation(first)
    assert isinstance(await billing.charge_operation(flooder.user_id, "generate", operation_id="paid-1"), Charged)
    assert not (await billing.refund_operation(second, reason="job failed")).refunded
    assert isinstance(await billing.charge_operation(flooder.user_id, "add_text", operation_id="text-again"), Charged)
    assert isinstance(await billing.charge_operation(flooder.user_id, "add_text"), TooManyInFlight)

    # Redis loses everything: the cache rebuilt from SQL counts the add_text still in flight.
    await redis.flushdb()
    assert isinstance(await billing.charge_operation(flooder.user_id, "add_text"), TooManyInFlight)
    cached = await billing.cache.snapshot(flooder.user_id)  # type: ignore[union-attr]
    assert cached is not None and cached.in_flight == {"paid-1", "text-again"}
    report = await reconcile(billing, repair=False, pending_grace=0)
    assert report.drifts == [] and report.users_busy == 0
    assert await check_ledger(sessions) == []
