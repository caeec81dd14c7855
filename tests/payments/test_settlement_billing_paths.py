"""Settlement on both billing paths (SQL alone, and Redis reservations in front of SQL) and both
databases: 100 concurrent settlements of one payment, and of one refund, move money once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.service import BillingService
from medialab.bot.notifier import LogNotifier
from medialab.payments.service import PaymentService
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings

from .conftest import RETURN_URL, ClientFactory

pytestmark = pytest.mark.slow  # long concurrency runs

USER = 910_001


async def test_100_concurrent_settlements_move_money_once(
    billing: BillingService, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    make_client: ClientFactory, yookassa: YooKassaSandbox,
) -> None:
    payments = PaymentService(
        sessions, settings.with_overrides(yookassa={"return_url": RETURN_URL}), billing, LogNotifier(), make_client()
    )
    link = await payments.create_payment(USER, 500)
    provider_id = link.confirmation_url.rsplit("/", 1)[-1]
    yookassa.succeed(provider_id)

    credits = await asyncio.gather(*(payments.settlement.settle_payment(provider_id) for _ in range(100)))

    assert Counter(credits) == {"credited": 1, "done_before": 99}
    user = await billing.get_user_info(USER)
    assert user is not None and user.balance == 50_000

    refund = await payments.client.create_refund(provider_id, 50_000, "RUB", "refund-all")  # type: ignore[union-attr]
    debits = await asyncio.gather(*(payments.settlement.settle_refund(refund.id) for _ in range(100)))

    assert Counter(debits) == {"debited": 1, "done_before": 99}
    user = await billing.get_user_info(USER)
    assert user is not None and user.balance == 0
    assert await payments.get_payment_status(link.payment_id) == "refunded"
    assert await check_ledger(sessions) == []
    if billing.cache is not None:  # the Redis counters agree with SQL
        cached = await billing.cache.snapshot(user.user_id)
        assert cached is not None and cached.balance == 0
