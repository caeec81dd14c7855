"""Refunds whose refund.succeeded never got through are taken back by the payment sweep, which lists
YooKassa's refunds since its last pass; a payment refunded before it was settled is credited net.
Each refund is taken back once, under the webhook's key, whichever path comes first."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from medialab.billing.audit import check_ledger
from medialab.db.models import SweepMark, as_utc
from medialab.domain.ledger import PaymentStatus
from medialab.payments.refund_sweep import OVERLAP
from medialab.payments.yookassa_api import api_timestamp, parse_api_timestamp

from .conftest import Shop, create_topup, payment_rows

USER = 910_001
LATER = timedelta(minutes=16)


async def entries(shop: Shop) -> list[tuple[str, int, str]]:
    return [(e.kind, e.amount, e.idempotency_key) for e in await shop.ledger()]


async def mark(shop: Shop) -> datetime | None:
    async with shop.services.sessions() as session:
        stored = await session.scalar(select(SweepMark.mark))
    return None if stored is None else as_utc(stored)


def refund_lists(shop: Shop) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in shop.yookassa.requests if (r.method, r.path) == ("GET", "/refunds")]


async def test_a_refund_made_in_the_dashboard_without_a_notification_is_taken_back_once(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    refund = shop.yookassa.refund_in_dashboard(provider_id, 4_000)

    report = await shop.services.payments.sweep()

    assert await shop.balance(USER) == 6_000
    assert await entries(shop) == [("topup", 10_000, provider_id), ("chargeback", -4_000, f"chargeback:{refund['id']}")]
    assert report.refunds.outcomes == {"debited": 1} and report.trouble == 0
    # The first pass started an hour before our oldest YooKassa payment; the mark is the refund.
    (row,) = await payment_rows(shop.services)
    assert refund_lists(shop)[0]["created_at.gte"] == [api_timestamp(as_utc(row.created_at) - OVERLAP)]
    assert await mark(shop) == parse_api_timestamp(refund["created_at"])

    # Listed again (the overlap), the notification after all, and another pass: nothing more.
    again = await shop.services.payments.sweep()
    assert again.refunds.outcomes == {"done_before": 1}
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund["id"])) == 200
    await shop.services.payments.sweep()
    assert await shop.balance(USER) == 6_000 and len(await shop.ledger()) == 2
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.SUCCEEDED
    assert await check_ledger(shop.services.sessions) == []


async def test_a_payment_refunded_before_the_sweep_settles_it_is_credited_net(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    refund = await shop.services.payments.client.create_refund(provider_id, 4_000, "RUB", "refund-early")

    report = await shop.services.payments.sweep(now=datetime.now(UTC) + LATER)

    assert await shop.balance(USER) == 6_000
    assert report.outcomes == {"credited": 1} and report.refunds.outcomes == {"done_before": 1}
    assert await entries(shop) == [("topup", 10_000, provider_id), ("chargeback", -4_000, f"chargeback:{refund.id}")]
    (told,) = shop.balance_messages(USER)
    assert "60 ₽" in told and "Баланс: 60 ₽" in told
    # Its refund.succeeded comes late: the refund is not taken back a second time.
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 6_000 and len(await shop.ledger()) == 2
    assert await check_ledger(shop.services.sessions) == []


async def test_the_webhook_credits_a_refunded_payment_net_whichever_notification_comes_first(shop: Shop) -> None:
    # Payment first: its refunds come off with the credit; their notifications change nothing.
    _, first_id = await shop.paid_topup(USER, 100)
    early = shop.yookassa.refund_in_dashboard(first_id, 2_500)
    assert await shop.notify(first_id) == 200
    assert await shop.balance(USER) == 7_500
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(early["id"])) == 200
    assert await shop.balance(USER) == 7_500

    # A refund's notification first: the payment is credited with all its refunds taken off.
    _, second_id = await shop.paid_topup(USER + 1, 100)
    now = datetime.now(UTC)
    notified = shop.yookassa.refund_in_dashboard(second_id, 1_000, now)
    silent = shop.yookassa.refund_in_dashboard(second_id, 9_000, now + timedelta(seconds=1))
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(notified["id"])) == 200
    assert await shop.balance(USER + 1) == 0
    report = await shop.services.payments.sweep()
    assert report.refunds.outcomes == {"done_before": 3}
    assert await shop.notify(second_id) == 200
    assert await shop.balance(USER + 1) == 0
    assert [e[2] for e in await entries(shop)][2:] == [
        second_id, f"chargeback:{notified['id']}", f"chargeback:{silent['id']}"]
    # Refunded in full: nothing to tell the user of, and the payment is refunded.
    assert shop.balance_messages(USER + 1) == []
    rows = await payment_rows(shop.services)
    assert [row.status for row in rows] == ["succeeded", "refunded"]
    assert await check_ledger(shop.services.sessions) == []


async def test_a_refund_of_a_payment_never_credited_credits_it_first_and_never_goes_below(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)  # paid, no notification, sweep not due
    shop.yookassa.refund_in_dashboard(provider_id)  # all of it

    report = await shop.services.payments.sweep()

    assert [kind for kind, _, _ in await entries(shop)] == ["topup", "chargeback"]
    assert await shop.balance(USER) == 0
    assert report.checked == 0 and report.refunds.outcomes == {"debited": 1}
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.REFUNDED
    assert shop.balance_messages(USER) == []
    assert await check_ledger(shop.services.sessions) == []


async def test_refunds_of_payments_that_are_not_ours_are_logged_and_skipped(
    shop: Shop, shop_logs: pytest.LogCaptureFixture
) -> None:
    await shop.paid_topup(USER, 100)
    foreign = await create_topup(shop.services.payments.client, "sold-elsewhere")
    shop.yookassa.succeed(foreign.id)
    refund = shop.yookassa.refund_in_dashboard(foreign.id, 5_000)

    report = await shop.services.payments.sweep()

    assert f"refund {refund['id']} is of payment {foreign.id}, not ours: ignored" in shop_logs.messages
    assert await shop.ledger() == []
    assert report.refunds.outcomes == {"unknown": 1} and report.trouble == 0
    assert await mark(shop) == parse_api_timestamp(refund["created_at"])


async def test_the_mark_waits_for_a_refund_not_applied_yet_and_the_overlap_finds_late_ones(shop: Shop) -> None:
    _, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    start = datetime.now(UTC).replace(microsecond=0)
    first = shop.yookassa.refund_in_dashboard(provider_id, 1_000, start + timedelta(hours=1))
    waiting = shop.yookassa.refund_in_dashboard(provider_id, 2_000, start + timedelta(hours=2), status="pending")
    shop.yookassa.refund_in_dashboard(provider_id, 3_000, start + timedelta(hours=3))

    report = await shop.services.payments.sweep()
    assert await shop.balance(USER) == 6_000
    assert report.refunds.outcomes == {"debited": 2, "pending": 1}
    assert await mark(shop) == start + timedelta(hours=2)  # held by the pending refund

    shop.yookassa.succeed_refund(waiting["id"])
    # Listed after the newer ones, with an earlier created_at, but within the overlap.
    late = shop.yookassa.refund_in_dashboard(provider_id, 500, start + timedelta(hours=1, minutes=30))
    report = await shop.services.payments.sweep()
    assert refund_lists(shop)[-1]["created_at.gte"] == [api_timestamp(start + timedelta(hours=2) - OVERLAP)]
    assert report.refunds.outcomes == {"debited": 2, "done_before": 2}
    assert await shop.balance(USER) == 3_500
    assert await mark(shop) == start + timedelta(hours=3)
    assert {key for _, _, key in await entries(shop)} >= {f"chargeback:{first['id']}", f"chargeback:{late['id']}"}
    assert await check_ledger(shop.services.sessions) == []


async def test_a_list_that_cannot_be_read_keeps_the_mark_and_the_next_pass_applies(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    _, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    shop.yookassa.refund_in_dashboard(provider_id, 4_000)
    shop.yookassa.fail_next(2, status=503, processed=False)  # both tries of the list

    with caplog.at_level(logging.WARNING):
        report = await shop.services.payments.sweep()

    assert "refund sweep: the list of refunds could not be read now" in caplog.text
    assert (report.refunds.undecided, report.trouble) == (1, 1)
    assert await shop.balance(USER) == 10_000 and await mark(shop) is None
    report = await shop.services.payments.sweep()
    assert await shop.balance(USER) == 6_000
    assert report.refunds.outcomes == {"debited": 1} and report.trouble == 0
