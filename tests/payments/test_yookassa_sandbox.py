"""The YooKassa stand-in itself, over plain HTTP: it must answer exactly in the wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, post

from medialab.payments.yookassa_api import Notification
from medialab.payments.yookassa_client import YooKassaClient
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.sandbox.yookassa_wire import ApiRefusal

from .conftest import METADATA, RETURN_URL, create_topup

TOPUP = {
    "amount": {"value": "100.00", "currency": "RUB"},
    "capture": True,
    "confirmation": {"type": "redirect", "return_url": RETURN_URL},
    "description": "Пополнение баланса на 100 ₽",
    "metadata": METADATA,
}
Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, Received]]:
    """Our side of a notification: a bare endpoint that keeps what it was sent."""
    received: Received = []

    @post("/yookassa/webhook", status_code=200)
    async def accept(request: Request[Any, Any, Any]) -> None:
        received.append((dict(request.headers), await request.body()))

    async with serve_in_loop(Litestar([accept], openapi_config=None)) as url:
        yield f"{url}/yookassa/webhook", received


async def post_payment(raw_api: httpx.AsyncClient, body: Any, key: str = "k-1") -> httpx.Response:
    return await raw_api.post("/payments", json=body, headers={"Idempotence-Key": key})


async def test_a_created_payment_has_exactly_the_documented_fields(
    raw_api: httpx.AsyncClient, yookassa_url: str
) -> None:
    answer = await post_payment(raw_api, TOPUP)
    assert answer.status_code == 200
    payment = answer.json()
    assert list(payment) == ["id", "status", "paid", "amount", "confirmation", "created_at",
                             "description", "metadata", "recipient", "refundable", "test"]
    assert payment["confirmation"] == {
        "type": "redirect", "confirmation_url": f"{yookassa_url}/checkout/{payment['id']}",
    }
    assert payment["amount"] == TOPUP["amount"] and payment["metadata"] == METADATA
    assert (await raw_api.get(f"/payments/{payment['id']}")).json() == payment


async def test_credentials_and_key_are_required(
    raw_api: httpx.AsyncClient, yookassa_url: str
) -> None:
    async with httpx.AsyncClient() as anonymous_client:
        anonymous = await anonymous_client.post(
            f"{yookassa_url}/payments", json=TOPUP, headers={"Idempotence-Key": "k"}
        )
    error = anonymous.json()
    assert anonymous.status_code == 401
    assert (error["type"], error["code"]) == ("error", "invalid_credentials") and error["id"]

    keyless = await raw_api.post("/payments", json=TOPUP)
    assert keyless.status_code == 400
    assert keyless.json()["code"] == "invalid_request"
    assert keyless.json()["parameter"] == "Idempotence-Key"

    missing = await raw_api.get("/payments/2e8f6b7c-000f-5000-9000-1b6e0d3c8a11")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


async def test_a_key_reused_for_another_body_is_refused(
    raw_api: httpx.AsyncClient, yookassa: YooKassaSandbox
) -> None:
    first = await post_payment(raw_api, TOPUP, "same")
    again = await post_payment(raw_api, dict(TOPUP), "same")
    assert again.json() == first.json()
    other = await post_payment(raw_api, TOPUP | {"description": "другое"}, "same")
    assert (other.status_code, other.json()["code"]) == (400, "invalid_request")
    assert len(yookassa.payments) == 1


RECEIPT: dict[str, Any] = {
    "customer": {"email": "payer@example.com"},
    "items": [{"description": "Пополнение", "quantity": "2.00",
               "amount": {"value": "50.00", "currency": "RUB"}, "vat_code": 1,
               "payment_mode": "full_prepayment", "payment_subject": "service"}],
}


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"amount": {"value": "100", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "100.5", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "0.00", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": 100.0, "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "100.00", "currency": "usd"}}, "amount.currency"),
        ({"amount": {"value": "100.00"}}, "amount.currency"),
        ({"description": "д" * 129}, "description"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 33: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"confirmation": {"type": "redirect"}}, "confirmation.return_url"),
        ({"receipt": RECEIPT | {"customer": {}}}, "receipt.customer"),
        ({"receipt": RECEIPT | {"items": RECEIPT["items"] * 2}}, "receipt.items"),
    ],
)
async def test_bad_values_are_refused_naming_the_parameter(
    raw_api: httpx.AsyncClient, yookassa: YooKassaSandbox, change: dict[str, Any], parameter: str
) -> None:
    answer = await post_payment(raw_api, TOPUP | change)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["parameter"] == parameter
    assert yookassa.payments == {}


async def test_a_matching_receipt_is_accepted(raw_api: httpx.AsyncClient) -> None:
    answer = await post_payment(raw_api, TOPUP | {"receipt": RECEIPT})
    assert (answer.status_code, answer.json()["receipt_registration"]) == (200, "pending")


async def test_status_changes_add_the_documented_fields(
    client: YooKassaClient, yookassa: YooKassaSandbox
) -> None:
    paid = await create_topup(client, "paid")
    succeeded = yookassa.succeed(paid.id)
    assert succeeded["status"] == "succeeded" and succeeded["paid"] is True
    assert succeeded["captured_at"].endswith("Z")
    assert succeeded["income_amount"] == {"value": "96.50", "currency": "RUB"}  # after commission
    assert succeeded["payment_method"] == {
        "type": "bank_card", "id": paid.id, "saved": False, "title": "Bank card *4444",
    }
    assert succeeded["refundable"] is True
    assert succeeded["refunded_amount"] == {"value": "0.00", "currency": "RUB"}

    left = await create_topup(client, "left")
    canceled = yookassa.cancel(left.id)
    assert (canceled["status"], canceled["paid"]) == ("canceled", False)
    assert canceled["cancellation_details"] == {
        "party": "yoo_money", "reason": "expired_on_confirmation",
    }
    with pytest.raises(ApiRefusal):
        yookassa.succeed(left.id)

    held = await create_topup(client, "held")
    waiting = yookassa.wait_for_capture(held.id)
    assert (waiting["status"], waiting["paid"]) == ("waiting_for_capture", True)
    assert waiting["expires_at"].endswith("Z")


async def test_notification_shape_and_delivery(
    client: YooKassaClient,
    raw_api: httpx.AsyncClient,
    yookassa: YooKassaSandbox,
    webhook: tuple[str, Received],
) -> None:
    payment = await create_topup(client)
    yookassa.succeed(payment.id)
    notification = yookassa.notification(payment.id, "payment.succeeded")
    as_fetched = (await raw_api.get(f"/payments/{payment.id}")).json()
    assert notification == {"type": "notification", "event": "payment.succeeded",
                            "object": as_fetched}

    url, received = webhook
    assert await yookassa.deliver(url, notification, {"X-Forwarded-For": "185.71.76.1"}) == 200
    ((headers, body),) = received
    assert headers["content-type"] == "application/json"
    assert headers["x-forwarded-for"] == "185.71.76.1"
    assert msgspec.json.decode(body) == notification
    decoded = msgspec.json.decode(body, type=Notification)
    assert (decoded.event, decoded.payment().id, decoded.payment().paid) == (
        "payment.succeeded", payment.id, True)

    refund = await client.create_refund(payment.id, 1_000, "RUB", "refund-n")
    refunded = msgspec.json.decode(
        msgspec.json.encode(yookassa.refund_notification(refund.id)), type=Notification
    )
    assert refunded.event == "refund.succeeded" and refunded.refund() == refund


async def test_the_list_of_refunds_pages_newest_first_with_yookassas_filters(
    client: YooKassaClient, raw_api: httpx.AsyncClient, yookassa: YooKassaSandbox
) -> None:
    paid = [await create_topup(client, key) for key in ("one", "two")]
    for payment in paid:
        yookassa.succeed(payment.id)
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    made = [yookassa.refund_in_dashboard(paid[n % 2].id, 1_000, start + timedelta(minutes=n)) for n in range(5)]
    newest_first = [refund["id"] for refund in reversed(made)]

    async def ids(**query: str) -> list[str]:
        answer = await raw_api.get("/refunds", params=query)
        assert answer.status_code == 200, answer.text
        return [refund["id"] for refund in answer.json()["items"]]

    first = (await raw_api.get("/refunds", params={"limit": "2"})).json()
    assert first == {"type": "list", "items": list(reversed(made))[:2], "next_cursor": first["next_cursor"]}
    pages, cursor = [first], first["next_cursor"]
    while cursor:
        pages.append((await raw_api.get("/refunds", params={"limit": "2", "cursor": cursor})).json())
        cursor = pages[-1].get("next_cursor")
    assert [refund["id"] for page in pages for refund in page["items"]] == newest_first
    assert "next_cursor" not in pages[-1] and len(pages) == 3

    assert await ids() == newest_first  # 10 by default
    assert await ids(**{"created_at.gte": "2026-11-24T10:02:00.000Z"}) == newest_first[:3]
    assert await ids(**{"created_at.gt": "2026-11-24T10:02:00.000Z"}) == newest_first[:2]
    assert await ids(**{"created_at.lt": "2026-11-24T10:02:00.000Z"}) == newest_first[3:]
    assert await ids(payment_id=paid[1].id) == [made[3]["id"], made[1]["id"]]
    for query, parameter in (({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
                             ({"created_at.gte": "yesterday"}, "created_at.gte"), ({"cursor": "??"}, "cursor"),
                             ({"amount": "10.00"}, "amount")):
        refused = await raw_api.get("/refunds", params=query)
        assert (refused.status_code, refused.json()["code"], refused.json()["parameter"]) == (
            400, "invalid_request", parameter)


async def test_another_process_can_drive_it_over_http(
    client: YooKassaClient, yookassa_url: str, webhook: tuple[str, Received]
) -> None:
    async with httpx.AsyncClient(base_url=f"{yookassa_url}/_sandbox") as control:
        fault = await control.post("/faults", json={"kind": "fail", "count": 1, "status": 500})
        assert fault.status_code == 200
        payment = await create_topup(client)  # retried past the injected 500
        assert len((await control.get("/requests")).json()) == 2
        assert [p["id"] for p in (await control.get("/payments")).json()] == [payment.id]

        succeeded = await control.post(f"/payments/{payment.id}/succeed")
        assert succeeded.json()["status"] == "succeeded"
        assert (await client.get_payment(payment.id)).status == "succeeded"
        shown = await control.get(
            f"/payments/{payment.id}/notification", params={"event": "payment.canceled"}
        )
        assert shown.json()["event"] == "payment.canceled"
        assert shown.json()["object"]["id"] == payment.id
        url, received = webhook
        delivery = {"webhook_url": url, "payment_id": payment.id}
        delivered = await control.post("/deliver", json=delivery)
        assert delivered.json() == {"status_code": 200}
        assert msgspec.json.decode(received[0][1])["event"] == "payment.succeeded"

        other = await create_topup(client, "other")
        canceled = await control.post(
            f"/payments/{other.id}/cancel", json={"reason": "card_expired"}
        )
        assert canceled.json()["cancellation_details"]["reason"] == "card_expired"
        again = await control.post(f"/payments/{other.id}/succeed")
        assert (again.status_code, again.json()["code"]) == (400, "invalid_request")


async def test_the_checkout_page_pays_and_notifies(
    raw_api: httpx.AsyncClient, yookassa: YooKassaSandbox, webhook: tuple[str, Received]
) -> None:
    yookassa.webhook_url, received = webhook
    payment = (await post_payment(raw_api, TOPUP | {"capture": False})).json()
    page = await raw_api.get(payment["confirmation"]["confirmation_url"])
    assert page.status_code == 200 and "100.00 RUB" in page.text

    paid = await raw_api.post(f"/checkout/{payment['id']}/pay")
    assert (paid.status_code, paid.headers["location"]) == (303, RETURN_URL)
    (notified,) = [msgspec.json.decode(body) for _, body in received]
    assert notified["event"] == "payment.waiting_for_capture"
    assert yookassa.payments[payment["id"]]["status"] == "waiting_for_capture"
