"""POST /yookassa/webhook over real HTTP: a succeeded payment is credited exactly once, whatever
the deliveries (duplicates, order, a down API, a capture) and the user is told the new balance."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from medialab.billing.audit import check_ledger
from medialab.db.models import PaymentNotification
from medialab.domain.ledger import PaymentStatus
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings

from .conftest import Shop, root_capture, serve_shop

USER = 700_001


async def test_succeeded_is_credited_once_under_100_concurrent_deliveries(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)

    statuses = await asyncio.gather(*(shop.notify(provider_id) for _ in range(100)))

    assert statuses == [200] * 100
    assert await shop.balance(USER) == 10_000
    (entry,) = await shop.ledger()
    assert (entry.kind, entry.amount, entry.idempotency_key) == ("topup", 10_000, provider_id)
    assert entry.payment_id == link.payment_id and entry.balance_after == 10_000
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.SUCCEEDED
    assert shop.balance_messages(USER) == ["Оплата получена: 100 ₽ зачислено на баланс.\nБаланс: 100 ₽"]
    async with shop.services.sessions() as session:
        outcomes = dict((await session.execute(
            select(PaymentNotification.outcome, func.count()).group_by(PaymentNotification.outcome)
        )).all())
    assert outcomes == {"credited": 1, "done_before": 99}
    assert await check_ledger(shop.services.sessions) == []


async def test_a_canceled_hint_after_success_changes_nothing(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 150)
    assert await shop.notify(provider_id) == 200
    # Late or forged: the body says canceled, the API says succeeded.
    assert await shop.notify(provider_id, "payment.canceled") == 200
    assert await shop.notify(provider_id, "payment.waiting_for_capture") == 200
    assert await shop.balance(USER) == 15_000
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.SUCCEEDED
    assert len(shop.balance_messages(USER)) == 1
    assert await check_ledger(shop.services.sessions) == []


async def test_whatever_event_arrives_first_the_api_decides(shop: Shop) -> None:
    # A payment.canceled body arrives first for a payment the user did pay: it is credited.
    link, provider_id = await shop.paid_topup(USER, 200)
    assert await shop.notify(provider_id, "payment.canceled") == 200
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 20_000
    assert len(await shop.ledger()) == 1


async def test_a_canceled_payment_is_closed_and_never_credited(shop: Shop) -> None:
    link, provider_id = await shop.topup(USER, 100)
    shop.yookassa.cancel(provider_id)
    # The canceled notification, then a forged "succeeded" one: the API still says canceled.
    assert await shop.notify(provider_id, "payment.canceled") == 200
    assert await shop.notify(provider_id, "payment.succeeded") == 200
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.CANCELED
    assert await shop.balance(USER) == 0 and await shop.ledger() == []
    assert shop.balance_messages(USER) == []


async def test_an_api_that_cannot_be_asked_gets_5xx_and_the_redelivery_credits(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    shop.yookassa.fail_next(2, status=503)  # both attempts of the check fail
    assert await shop.notify(provider_id) == 503
    assert await shop.balance(USER) == 0
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.PENDING

    assert await shop.notify(provider_id) == 200
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 10_000
    assert len(await shop.ledger()) == 1
    assert await check_ledger(shop.services.sessions) == []


async def test_waiting_for_capture_is_captured_and_credited(shop: Shop) -> None:
    link, provider_id = await shop.topup(USER, 300)
    shop.yookassa.wait_for_capture(provider_id)

    results = await asyncio.gather(*(shop.notify(provider_id, "payment.waiting_for_capture") for _ in range(5)))

    assert results == [200] * 5
    assert shop.yookassa.payments[provider_id]["status"] == "succeeded"
    captures = [r for r in shop.yookassa.requests if r.path.endswith("/capture")]
    assert captures and {r.idempotence_key for r in captures} == {f"capture-{provider_id}"}
    assert await shop.balance(USER) == 30_000
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.SUCCEEDED
    assert len(shop.balance_messages(USER)) == 1
    assert await check_ledger(shop.services.sessions) == []


async def test_a_user_who_blocked_the_bot_is_still_credited(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    shop.telegram.block_chat(USER)
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 10_000
    assert [c.error_code for c in shop.telegram.calls("sendMessage", chat_id=USER)] == [403]
    assert await check_ledger(shop.services.sessions) == []


async def test_telegram_down_does_not_fail_the_credit(
    app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox, redis: Redis,
    caplog: pytest.LogCaptureFixture, refused_port: int,
) -> None:
    nowhere = f"http://127.0.0.1:{refused_port}"
    async with serve_shop(app_settings.with_overrides(telegram={"api_url": nowhere}), yookassa, telegram) as shop:
        with root_capture(caplog):
            link, provider_id = await shop.paid_topup(USER, 100)
            assert await shop.notify(provider_id) == 200
            assert await shop.balance(USER) == 10_000
            assert await shop.notify(provider_id) == 200
            assert len(await shop.ledger()) == 1
    assert any("not told of the top-up" in m for m in caplog.messages)
