"""PaymentService.create_payment against the YooKassa stand-in over real HTTP: the request YooKassa
gets, sums refused with nothing stored, and retries that never make a second payment."""

from __future__ import annotations

import asyncio

import pytest

from medialab.domain.ledger import PaymentStatus
from medialab.payments.service import PaymentsUnavailable, TopupRefused
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.services import Services
from medialab.settings import Settings

from .conftest import RETURN_URL, opened, payment_rows

USER = 555_001


async def test_create_stores_the_key_first_and_returns_the_confirmation_url(
    services: Services, yookassa: YooKassaSandbox, yookassa_url: str
) -> None:
    link = await services.payments.create_payment(USER, 100)

    (request,) = yookassa.requests
    (row,) = await payment_rows(services)
    assert link.payment_id == row.id and link.amount == 10_000
    assert link.confirmation_url == f"{yookassa_url}/checkout/{row.provider_payment_id}"
    assert request.idempotence_key == row.idempotence_key
    body = request.json()
    assert body == {
        "amount": {"value": "100.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": f"Пополнение баланса на 100 ₽ (№{row.id})",
        "metadata": {"telegram_user_id": str(USER), "payment_id": str(row.id)},
    }
    user = await services.billing.get_user_info(USER)
    assert user is not None and row.user_id == user.user_id and user.balance == 0
    assert (row.status, row.amount, row.currency) == ("pending", 10_000, "RUB")
    assert row.raw_data["id"] == row.provider_payment_id
    assert await services.payments.get_payment_status(row.id) is PaymentStatus.PENDING
    assert await services.payments.get_payment_status(row.id + 1000) is None


async def test_a_configured_receipt_goes_with_the_payment(
    shop_settings: Settings, yookassa: YooKassaSandbox, redis: object
) -> None:
    settings = shop_settings.with_overrides(
        yookassa={"receipt_email": "shop@example.com", "vat_code": 6, "tax_system_code": 2})
    async with opened(settings) as services:
        await services.payments.create_payment(USER, 250)
    receipt = yookassa.requests[0].json()["receipt"]
    assert receipt == {
        "customer": {"email": "shop@example.com"},
        "items": [{"description": "Пополнение баланса", "quantity": "1.00",
                   "amount": {"value": "250.00", "currency": "RUB"}, "vat_code": 6,
                   "payment_mode": "full_prepayment", "payment_subject": "service"}],
        "tax_system_code": 2,
    }
    # The stand-in checks the receipt as YooKassa does (the items add up to the amount).
    assert len(yookassa.payments) == 1


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(9, "below_minimum"), (0, "below_minimum"), (-100, "below_minimum"),
     (100_001, "above_maximum"), (10**40, "above_maximum"), (10.5, "not_whole_rubles"),
     ("100", "not_whole_rubles"), (True, "not_whole_rubles")],
)
async def test_bad_sums_are_refused_and_nothing_is_stored(
    services: Services, yookassa: YooKassaSandbox, amount: object, reason: str
) -> None:
    with pytest.raises(TopupRefused) as refused:
        await services.payments.create_payment(USER, amount)  # type: ignore[arg-type]
    assert refused.value.reason == reason
    assert (refused.value.minimum, refused.value.maximum) == (10, 100_000)
    assert await payment_rows(services) == []
    assert await services.billing.get_user_info(USER) is None
    assert yookassa.requests == []


async def test_without_credentials_payments_are_unavailable(
    shop_settings: Settings, redis: object
) -> None:
    async with opened(shop_settings.with_overrides(yookassa={"secret_key": None})) as services:
        with pytest.raises(PaymentsUnavailable, match="YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY"):
            await services.payments.create_payment(USER, 100)
        assert await payment_rows(services) == []


async def test_a_create_without_answer_is_repeated_with_its_key(
    services: Services, yookassa: YooKassaSandbox
) -> None:
    # Both attempts fail with 500 after YooKassa made the payment: the outcome is unknown.
    yookassa.fail_next(2, status=500)
    with pytest.raises(PaymentsUnavailable, match="cannot be reached"):
        await services.payments.create_payment(USER, 300)
    (row,) = await payment_rows(services)
    assert (row.status, row.provider_payment_id) == ("pending", None)

    link = await services.payments.create_payment(USER, 300)
    assert link.payment_id == row.id
    assert {r.idempotence_key for r in yookassa.requests} == {row.idempotence_key}
    assert len(yookassa.requests) == 3
    assert len({r.body for r in yookassa.requests}) == 1
    (payment,) = yookassa.payments.values()
    assert link.confirmation_url.endswith(payment["id"])
    assert [r.provider_payment_id for r in await payment_rows(services)] == [payment["id"]]


async def test_a_hung_request_is_retried_into_one_payment(
    shop_settings: Settings, yookassa: YooKassaSandbox, redis: object
) -> None:
    async with opened(shop_settings.with_overrides(yookassa={"timeout": 0.3})) as services:
        yookassa.hang_next(1, seconds=1.0)  # longer than YOOKASSA_TIMEOUT: the client tries again
        link = await services.payments.create_payment(USER, 100)
        await asyncio.sleep(1.0)  # the hung request finishes on the stand-in too
    assert [r.idempotence_key for r in yookassa.requests] == [yookassa.requests[0].idempotence_key] * 2
    assert len(yookassa.payments) == 1
    assert link.confirmation_url.endswith(next(iter(yookassa.payments)))


async def test_a_refused_create_is_closed_and_not_repeated(
    services: Services, yookassa: YooKassaSandbox
) -> None:
    yookassa.fail_next(1, status=400)
    with pytest.raises(PaymentsUnavailable, match="refused"):
        await services.payments.create_payment(USER, 100)
    (refused,) = await payment_rows(services)
    assert refused.status == "canceled"

    link = await services.payments.create_payment(USER, 100)
    assert link.payment_id != refused.id
    assert len({r.idempotence_key for r in yookassa.requests}) == 2


async def test_an_unreachable_api_is_unavailable(shop_settings: Settings, redis: object, refused_port: int) -> None:
    port = refused_port
    async with opened(shop_settings.with_overrides(yookassa={"api_url": f"http://127.0.0.1:{port}"})) as services:
        with pytest.raises(PaymentsUnavailable, match="cannot be reached"):
            await services.payments.create_payment(USER, 100)
