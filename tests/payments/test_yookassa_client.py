"""YooKassaClient against the stand-in over real HTTP: wire shapes, refusals, limits, the
payment's later steps, and the secret key staying out of sight. Retries: test_yookassa_retries."""

from __future__ import annotations

import base64
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import msgspec
import pytest

from medialab.payments.yookassa_api import (
    Amount,
    Customer,
    Payment,
    Receipt,
    ReceiptItem,
    YooKassaError,
    YooKassaUnavailable,
    api_timestamp,
)
from medialab.payments.yookassa_client import YooKassaClient
from medialab.sandbox.yookassa import YooKassaSandbox

from stand_ins import SECRET_KEY, SHOP_ID
from .conftest import METADATA, RETURN_URL, ClientFactory, create_topup

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_create_sends_the_documented_body_and_reads_the_answer(
    client: YooKassaClient, yookassa: YooKassaSandbox, yookassa_url: str
) -> None:
    payment = await create_topup(client, "topup-shape")

    (request,) = yookassa.requests
    assert (request.method, request.path) == ("POST", "/payments")
    assert request.json() == {
        "amount": {"value": "100.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "Пополнение баланса на 100 ₽",
        "metadata": METADATA,
    }
    assert request.headers["idempotence-key"] == "topup-shape"
    assert request.headers["content-type"] == "application/json"
    credentials = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"

    assert uuid.UUID(payment.id)
    assert (payment.status, payment.paid, payment.refundable) == ("pending", False, False)
    assert payment.amount == Amount("100.00", "RUB") and payment.amount_kopecks == 10_000
    assert payment.confirmation_url == f"{yookassa_url}/checkout/{payment.id}"
    assert payment.created_at and TIMESTAMP.fullmatch(payment.created_at)
    assert payment.metadata == METADATA

    fetched = await client.get_payment(payment.id)
    assert fetched == payment
    assert yookassa.requests[-1].method == "GET"
    assert "idempotence-key" not in yookassa.requests[-1].headers


async def test_receipt_is_sent_in_the_54fz_shape(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    item = ReceiptItem("Пополнение баланса", "1.00", Amount("100.00", "RUB"), vat_code=1)
    receipt = Receipt(Customer(email="payer@example.com"), [item])
    payment = await create_topup(client, receipt=receipt)

    assert yookassa.requests[0].json()["receipt"] == {
        "customer": {"email": "payer@example.com"},
        "items": [{"description": "Пополнение баланса", "quantity": "1.00",
                   "amount": {"value": "100.00", "currency": "RUB"}, "vat_code": 1,
                   "payment_mode": "full_prepayment", "payment_subject": "service"}],
    }
    assert yookassa.payments[payment.id]["receipt_registration"] == "pending"


async def test_wrong_secret_is_refused_at_once(
    make_client: ClientFactory, yookassa: YooKassaSandbox
) -> None:
    client = make_client(secret_key="not-the-secret")
    with pytest.raises(YooKassaError) as refused:
        await create_topup(client)
    assert (refused.value.status, refused.value.code) == (401, "invalid_credentials")
    assert len(yookassa.requests) == 1  # a refusal is not retried
    assert yookassa.payments == {}


async def test_same_key_twice_gives_one_payment(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    first = await create_topup(client, "topup-twice")
    second = await create_topup(client, "topup-twice")
    assert second.id == first.id
    assert len(yookassa.payments) == 1
    other = await create_topup(client, "topup-other")
    assert other.id != first.id


async def test_error_body_becomes_a_typed_refusal(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    with pytest.raises(YooKassaError) as refused:
        await create_topup(client, currency="XXX")
    error = refused.value
    assert (error.status, error.code) == (400, "invalid_request")
    assert error.parameter == "amount.currency"
    assert error.description and error.error_id
    assert len(yookassa.requests) == 1

    with pytest.raises(YooKassaError) as missing:
        await client.get_payment(str(uuid.uuid4()))
    assert (missing.value.status, missing.value.code) == (404, "not_found")


async def test_limits_are_checked_before_sending(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    too_many = {f"key{i}": "v" for i in range(17)}
    for metadata in (too_many, {"k" * 33: "v"}, {"key": "v" * 513}, {"key": 1}):
        with pytest.raises(ValueError, match="metadata"):
            await create_topup(client, metadata=metadata)
    for key in ("", "k" * 65, "key with spaces"):
        with pytest.raises(ValueError, match="Idempotence-Key"):
            await create_topup(client, key)
    for amount in (0, -100, 10.5, True):
        with pytest.raises(ValueError, match="kopecks"):
            await create_topup(client, amount_kopecks=amount)
    with pytest.raises(ValueError, match="object id"):
        await client.get_payment("../refunds")
    assert yookassa.requests == []

    at_limits = {f"k{i:02d}" + "x" * 29: "v" * 512 for i in range(16)}
    payment = await create_topup(client, metadata=at_limits, description="д" * 200)
    assert payment.description == "д" * 128
    assert payment.metadata == at_limits


async def test_capture_and_cancel(client: YooKassaClient, yookassa: YooKassaSandbox) -> None:
    whole = await create_topup(client, "capture-whole")
    yookassa.wait_for_capture(whole.id)
    captured = await client.capture_payment(whole.id, "capture-whole-1")
    assert (captured.status, captured.paid, captured.amount_kopecks) == ("succeeded", True, 10_000)
    assert yookassa.requests[-1].json() == {}

    part = await create_topup(client, "capture-part")
    yookassa.wait_for_capture(part.id)
    partial = await client.capture_payment(part.id, "capture-part-1", 6_000, "RUB")
    assert (partial.status, partial.amount_kopecks) == ("succeeded", 6_000)
    assert yookassa.requests[-1].json() == {"amount": {"value": "60.00", "currency": "RUB"}}

    doomed = await create_topup(client, "cancel-me")
    yookassa.wait_for_capture(doomed.id)
    canceled = await client.cancel_payment(doomed.id, "cancel-me-1")
    assert canceled.status == "canceled" and canceled.cancellation_details is not None
    assert canceled.cancellation_details.party == "merchant"
    with pytest.raises(YooKassaError) as refused:
        await client.capture_payment(doomed.id, "capture-canceled")
    assert refused.value.code == "invalid_request"


async def test_full_and_partial_refunds(client: YooKassaClient, yookassa: YooKassaSandbox) -> None:
    payment = await create_topup(client)
    yookassa.succeed(payment.id)

    refund = await client.create_refund(payment.id, 4_000, "RUB", "refund-1")
    assert yookassa.requests[-1].json() == {
        "payment_id": payment.id, "amount": {"value": "40.00", "currency": "RUB"},
    }
    assert (refund.status, refund.payment_id) == ("succeeded", payment.id)
    assert refund.amount_kopecks == 4_000
    assert uuid.UUID(refund.id) and refund.created_at and TIMESTAMP.fullmatch(refund.created_at)
    after_first = await client.get_payment(payment.id)
    assert (after_first.refunded_kopecks, after_first.refundable) == (4_000, True)

    with pytest.raises(YooKassaError) as too_much:
        await client.create_refund(payment.id, 6_001, "RUB", "refund-2")
    assert too_much.value.parameter == "amount.value"

    await client.create_refund(payment.id, 6_000, "RUB", "refund-3")
    settled = await client.get_payment(payment.id)
    assert (settled.refunded_kopecks, settled.refundable) == (10_000, False)


async def test_refund_pages_follow_the_cursor_through_the_whole_list(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    payment = await create_topup(client)
    yookassa.succeed(payment.id)
    start = datetime.now(UTC)
    made = [yookassa.refund_in_dashboard(payment.id, 10, start + timedelta(seconds=n))["id"] for n in range(150)]
    yookassa.requests.clear()

    pages = [page async for page in client.refund_pages(created_at_gte=start + timedelta(seconds=20))]

    assert [refund.id for page in pages for refund in page] == made[:19:-1]  # newest first
    assert all(refund.status == "succeeded" and refund.created for page in pages for refund in page)
    first, second = (parse_qs(request.query) for request in yookassa.requests)
    assert first == {"limit": ["100"], "created_at.gte": [api_timestamp(start + timedelta(seconds=20))]}
    assert second.keys() == {"limit", "created_at.gte", "cursor"}
    assert [refund.id async for page in client.refund_pages(payment_id=payment.id) for refund in page] == made[::-1]


async def test_the_secret_never_shows(
    make_client: ClientFactory, yookassa: YooKassaSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
    client = make_client()
    yookassa.fail_next(3, status=500)
    problems: list[BaseException] = []
    for attempt in (create_topup(client), make_client(shop_id="wrong").get_payment("abc")):
        try:
            await attempt
        except (YooKassaUnavailable, YooKassaError) as exc:
            problems.append(exc)
    assert [type(p) for p in problems] == [YooKassaUnavailable, YooKassaError]
    assert any("retrying" in record.getMessage() for record in caplog.records)

    seen = [repr(client)] + [f"{p} {p!r} {p.args!r} {vars(p)!r}" for p in problems]
    seen += ["".join(traceback.format_exception(p)) for p in problems]
    seen += [record.getMessage() for record in caplog.records]
    seen += [caplog.text]
    for text in seen:
        assert SECRET_KEY not in text and credentials not in text


def test_answers_with_unknown_fields_are_read() -> None:
    wire = (b'{"id": "p1", "status": "succeeded", "paid": true, "future_field": {"x": 1},'
            b'"amount": {"value": "10.50", "currency": "RUB", "extra": 1},'
            b'"refunded_amount": {"value": "0.10", "currency": "RUB"}}')
    payment = msgspec.json.decode(wire, type=Payment)
    assert (payment.amount_kopecks, payment.refunded_kopecks) == (1_050, 10)
    assert payment.metadata == {} and payment.confirmation_url is None
