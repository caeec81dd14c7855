"""refund.succeeded takes the refunded sum back once; the sweeper settles payments whose
notification never came, through the same settlement as the webhook."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from medialab.billing.audit import check_ledger
from medialab.billing.results import Charged
from medialab.domain.ledger import PaymentStatus
from medialab.jobs.payment_sweep_cron import sweep_payments
from medialab.payments.service import PaymentsUnavailable

from .conftest import Shop, payment_rows

USER = 900_001
LATER = timedelta(minutes=16)


async def test_a_refund_is_taken_back_once(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    refund = await shop.services.payments.client.create_refund(provider_id, 4_000, "RUB", "refund-1")
    hint = shop.yookassa.refund_notification(refund.id)

    statuses = await asyncio.gather(*(shop.yookassa.deliver(shop.webhook_url, hint) for _ in range(20)))

    assert statuses == [200] * 20
    assert await shop.balance(USER) == 6_000
    chargeback = (await shop.ledger())[-1]
    assert (chargeback.kind, chargeback.amount, chargeback.payment_id) == ("chargeback", -4_000, link.payment_id)
    assert chargeback.idempotency_key == f"chargeback:{refund.id}"
    # Partly refunded: the payment stays succeeded.
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.SUCCEEDED
    assert await check_ledger(shop.services.sessions) == []


async def test_a_full_refund_of_a_spent_top_up_goes_below_zero(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    user = await shop.services.billing.get_user_info(USER)
    assert user is not None
    for _ in range(user.free_operations_left + 5):  # the free ones, then 5 paid: 50 ₽ spent
        charged = await shop.services.billing.charge_operation(user.user_id, "generate")
        assert isinstance(charged, Charged)
        await shop.services.billing.settle_operation(charged.operation_id)  # delivered
    assert await shop.balance(USER) == 5_000

    refund = await shop.services.payments.client.create_refund(provider_id, 10_000, "RUB", "refund-all")
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200

    assert await shop.balance(USER) == -5_000
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.REFUNDED
    # A late payment.succeeded changes nothing: credited once, refunded once.
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == -5_000
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.REFUNDED
    assert await check_ledger(shop.services.sessions) == []


async def test_a_refund_that_arrives_before_the_payment_credits_first(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    refund = await shop.services.payments.client.create_refund(provider_id, 2_500, "RUB", "refund-early")
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200
    assert [e.kind for e in await shop.ledger()] == ["topup", "chargeback"]
    assert await shop.balance(USER) == 7_500
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 7_500
    assert await check_ledger(shop.services.sessions) == []


async def test_a_refund_the_api_does_not_know_moves_nothing(shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    assert await shop.notify(provider_id) == 200
    forged = {"type": "notification", "event": "refund.succeeded",
              "object": {"id": "216749f7-0016-50be-b000-078d43a63ae4", "status": "succeeded",
                         "amount": {"value": "100.00", "currency": "RUB"}, "payment_id": provider_id}}
    assert await shop.yookassa.deliver(shop.webhook_url, forged) == 200
    assert await shop.balance(USER) == 10_000 and len(await shop.ledger()) == 1


async def test_the_sweeper_settles_a_payment_whose_notification_was_lost(shop: Shop) -> None:
    paid, paid_id = await shop.paid_topup(USER, 100)
    left, _ = await shop.topup(USER + 1, 200)  # never paid
    gone, gone_id = await shop.topup(USER + 2, 300)
    shop.yookassa.cancel(gone_id)

    # Too early: a payment is left to its notification for 15 minutes.
    early = await shop.services.payments.sweep()
    assert early.checked == 0 and await shop.balance(USER) == 0

    report = await shop.services.payments.sweep(now=datetime.now(UTC) + LATER)
    assert report.checked == 3 and report.undecided == 0
    assert report.outcomes == {"credited": 1, "pending": 1, "canceled": 1}
    assert await shop.balance(USER) == 10_000
    status = shop.services.payments.get_payment_status
    assert await status(paid.payment_id) is PaymentStatus.SUCCEEDED
    assert await status(left.payment_id) is PaymentStatus.PENDING
    assert await status(gone.payment_id) is PaymentStatus.CANCELED
    assert len(shop.balance_messages(USER)) == 1

    # The notification comes after all: nothing more happens.
    assert await shop.notify(paid_id) == 200
    assert await shop.balance(USER) == 10_000 and len(await shop.ledger()) == 1
    assert await check_ledger(shop.services.sessions) == []


async def test_the_sweeper_finishes_unanswered_creates_under_their_key_and_leaves_what_it_cannot_ask(
    shop: Shop,
) -> None:
    paid, paid_id = await shop.paid_topup(USER, 100)
    # A create that reached YooKassa but whose answer was lost: the user was told to try again.
    shop.yookassa.fail_next(2, status=500, processed=True)  # both tries of the request
    with pytest.raises(PaymentsUnavailable):
        await shop.services.payments.create_payment(USER, 500)

    # The cron job, as arq runs it now (its own 15 minutes are not up: nothing to do).
    swept = await sweep_payments({"payments": shop.services.payments})
    assert swept.pop("refunds") | {"since": None} == {
        "since": None, "checked": 0, "outcomes": {}, "undecided": 0, "failed": 0}
    assert swept == {
        "checked": 0, "outcomes": {}, "undecided": 0, "finished_unanswered": 0, "closed_unanswered": 0,
        "failed": 0}

    # YooKassa away: neither the unanswered create nor the open payment can be asked about.
    shop.yookassa.fail_next(4, status=503, processed=False)  # two requests, two tries each
    report = await shop.services.payments.sweep(now=datetime.now(UTC) + LATER)
    assert (report.checked, report.undecided, report.finished_unanswered, report.closed_unanswered) == (1, 2, 0, 0)
    assert await shop.balance(USER) == 0
    rows = {row.id: (row.status, row.provider_payment_id) for row in await payment_rows(shop.services)}
    assert rows == {paid.payment_id: ("pending", paid_id), paid.payment_id + 1: ("pending", None)}

    report = await shop.services.payments.sweep(now=datetime.now(UTC) + LATER)
    assert report.finished_unanswered == 1 and report.outcomes == {"credited": 1, "pending": 1}
    assert await shop.balance(USER) == 10_000
    # Repeated under its key, the create made nothing new: YooKassa's one payment is attached.
    creates = [r for r in shop.yookassa.requests if r.method == "POST" and r.path.endswith("/payments")]
    assert len({r.idempotence_key for r in creates}) == 2
    made = [p for p in shop.yookassa.payments.values() if p["amount"]["value"] == "500.00"]
    assert len(made) == 1
    rows = {row.id: row.provider_payment_id for row in await payment_rows(shop.services)}
    assert rows[paid.payment_id + 1] == made[0]["id"]
    assert await check_ledger(shop.services.sessions) == []


async def test_an_unanswered_create_older_than_its_key_is_closed(shop: Shop) -> None:
    shop.yookassa.fail_next(2, status=503, processed=False)
    with pytest.raises(PaymentsUnavailable):
        await shop.services.payments.create_payment(USER, 300)
    report = await shop.services.payments.sweep(now=datetime.now(UTC) + timedelta(hours=25))
    assert (report.finished_unanswered, report.closed_unanswered) == (0, 1)
    assert [row.status for row in await payment_rows(shop.services)] == ["canceled"]
    assert shop.yookassa.payments == {}
