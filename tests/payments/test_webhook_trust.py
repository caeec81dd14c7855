"""What the webhook believes: only allowed sources (X-Forwarded-For only through a trusted proxy),
only well-formed notifications, and of those only what YooKassa's API confirms."""

from __future__ import annotations

import base64
import ipaddress
import logging
import uuid

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from medialab.billing.audit import check_ledger
from medialab.db.models import PaymentNotification
from medialab.domain.ledger import PaymentStatus
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import YOOKASSA_PUBLISHED_RANGES, Settings

from stand_ins import BOT_TOKEN, SECRET_KEY, SHOP_ID
from .conftest import Shop, serve_shop

USER = 800_001


async def kept_notifications(shop: Shop) -> int:
    async with shop.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(PaymentNotification))).scalar_one()


def networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part, strict=False) for part in text.split(","))


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "status"),
    [
        ("", None, 403),  # 127.0.0.1 is not YooKassa
        ("", "185.71.76.5", 403),  # the header of an untrusted peer proves nothing
        ("127.0.0.1", None, 403),  # a trusted proxy that names nobody: judged as itself
        ("127.0.0.1", "185.71.76.5", 200),
        ("127.0.0.1", "185.71.76.5, 10.1.2.3", 403),  # the right-most untrusted hop decides
        ("127.0.0.1", "185.71.76.5, 203.0.113.9", 403),
        ("127.0.0.1", "203.0.113.9, 185.71.76.5", 200),  # a forged hop on the left is ignored
        ("127.0.0.1,10.0.0.0/8", "203.0.113.9, 185.71.76.5, 10.1.2.3", 200),
        ("127.0.0.1", "not-an-address", 403),
        ("127.0.0.1", "::ffff:77.75.156.11", 200),
    ],
)
async def test_sources_outside_the_allowlist_get_403(
    app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox, redis: Redis,
    trusted: str, forwarded_for: str | None, status: int,
) -> None:
    settings = app_settings.with_overrides(
        yookassa={"allowed_ips": networks(YOOKASSA_PUBLISHED_RANGES), "trusted_proxies": networks(trusted) if trusted else ()})
    async with serve_shop(settings, yookassa, telegram) as shop:
        link, provider_id = await shop.paid_topup(USER, 100)
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        assert await shop.notify(provider_id, **headers) == status
        credited = 10_000 if status == 200 else 0
        assert await shop.balance(USER) == credited
        assert await kept_notifications(shop) == (1 if status == 200 else 0)
        # A refused request never makes us call the API.
        gets = [r for r in yookassa.requests if r.method == "GET"]
        assert len(gets) == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"type": "notification", "event": "payment.succeeded"}',
        b'{"type": "notification", "event": "payment.succeeded", "object": {}}',
        b'{"type": "refund", "event": "payment.succeeded", "object": {"id": "2e8f6b7c"}}',
        b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "../../refunds"}}',
        b'{"type": "notification", "event": "payment.succeeded", "object": {"id": 42}}',
        b'{"type": "notification", "event": "<script>", "object": {"id": "2e8f6b7c"}}',
        b"[" * 20_000 + b"]" * 20_000,  # nested deeper than a parser's stack
        b'{"type": "notification", "event": "payment.\xff\xfe", "object": {"id": "2e8f6b7c"}}',  # not UTF-8
    ],
    ids=lambda body: body[:40].decode("latin-1"),
)
async def test_a_body_that_is_not_a_notification_gets_400(shop: Shop, body: bytes) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(shop.webhook_url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == "bad_request"
    assert await kept_notifications(shop) == 0 and shop.yookassa.requests == []


async def test_events_and_payments_that_are_not_ours_are_answered_200_and_left(shop: Shop) -> None:
    stranger = str(uuid.uuid4())
    body = {"type": "notification", "event": "payment.succeeded",
            "object": {"id": stranger, "status": "succeeded", "amount": {"value": "9999.00", "currency": "RUB"}}}
    assert await shop.yookassa.deliver(shop.webhook_url, body) == 200
    body["event"] = "payout.succeeded"
    assert await shop.yookassa.deliver(shop.webhook_url, body) == 200
    assert shop.yookassa.requests == []  # an id we never made is not even looked up
    assert await shop.ledger() == []
    async with shop.services.sessions() as session:
        kept = (await session.execute(select(PaymentNotification).order_by(PaymentNotification.id))).scalars().all()
    assert [(k.event, k.object_id, k.outcome, k.source_ip) for k in kept] == [
        ("payment.succeeded", stranger, "unknown", "127.0.0.1"),
        ("payout.succeeded", stranger, "ignored", "127.0.0.1"),
    ]
    assert kept[0].body == body | {"event": "payment.succeeded"}


async def test_a_forged_success_of_a_pending_payment_credits_nothing(shop: Shop) -> None:
    link, provider_id = await shop.topup(USER, 100)
    forged = shop.yookassa.notification(provider_id)
    forged["object"].update(status="succeeded", paid=True)
    assert await shop.yookassa.deliver(shop.webhook_url, forged) == 200
    assert await shop.balance(USER) == 0 and await shop.ledger() == []
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.PENDING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", {"value": "1000.00", "currency": "RUB"}),
        ("amount", {"value": "100.00", "currency": "USD"}),
        ("metadata", {"telegram_user_id": "999", "payment_id": "1"}),
        ("metadata", {"telegram_user_id": str(USER), "payment_id": "77"}),
    ],
)
async def test_a_payment_that_does_not_match_ours_is_not_credited(
    shop_logs: pytest.LogCaptureFixture, shop: Shop, field: str, value: dict[str, str]
) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    shop.yookassa.payments[provider_id][field] = value  # what the API will say about it
    assert await shop.notify(provider_id) == 200
    assert await shop.balance(USER) == 0 and await shop.ledger() == []
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.PENDING
    (event,) = [r for r in shop_logs.records if r.name == "medialab.security"]
    assert event.levelno == logging.WARNING and provider_id in event.getMessage()
    assert shop.balance_messages(USER) == []


async def test_an_authorized_payment_that_does_not_match_is_canceled(shop: Shop) -> None:
    link, provider_id = await shop.topup(USER, 100)
    shop.yookassa.payments[provider_id]["metadata"]["telegram_user_id"] = "999"
    shop.yookassa.wait_for_capture(provider_id)
    assert await shop.notify(provider_id, "payment.waiting_for_capture") == 200
    assert shop.yookassa.payments[provider_id]["status"] == "canceled"
    assert await shop.balance(USER) == 0 and await shop.ledger() == []
    assert await shop.services.payments.get_payment_status(link.payment_id) is PaymentStatus.CANCELED
    assert await shop.notify(provider_id, "payment.canceled") == 200
    assert await shop.ledger() == []


async def test_health_says_what_is_configured_and_never_a_secret(shop: Shop) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{shop.url}/yookassa/health")
    assert response.status_code == 200
    assert response.json() == {
        "configured": True, "shop_id_set": True, "secret_key_set": True, "return_url_set": True,
        "receipt": False, "api_url": shop.services.settings.yookassa.api_url, "webhook_url": None,
    }
    assert SECRET_KEY not in response.text and SHOP_ID not in response.text


async def test_health_without_credentials(app_settings: Settings, yookassa: YooKassaSandbox,
                                          telegram: BotApiSandbox, redis: Redis) -> None:
    settings = app_settings.with_overrides(yookassa={"shop_id": None, "secret_key": None})
    async with serve_shop(settings, yookassa, telegram) as shop, httpx.AsyncClient() as http:
        body = (await http.get(f"{shop.url}/yookassa/health")).json()
    assert (body["configured"], body["shop_id_set"], body["secret_key_set"]) == (False, False, False)


async def test_no_secret_reaches_the_logs(shop_logs: pytest.LogCaptureFixture, shop: Shop) -> None:
    link, provider_id = await shop.paid_topup(USER, 100)
    shop.yookassa.fail_next(1, status=401)
    assert await shop.notify(provider_id) == 503  # the API refused our credentials
    shop.yookassa.fail_next(2, status=500)
    assert await shop.notify(provider_id) == 503
    assert await shop.notify(provider_id) == 200
    refund = await shop.services.payments.client.create_refund(provider_id, 1_000, "RUB", "refund-logs")
    assert await shop.yookassa.deliver(shop.webhook_url, shop.yookassa.refund_notification(refund.id)) == 200
    assert await check_ledger(shop.services.sessions) == []

    basic = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
    logged = shop_logs.text + "".join(msgspec.json.encode(r.__dict__, enc_hook=repr).decode() for r in shop_logs.records)
    assert len(shop_logs.records) > 10
    for secret in (SECRET_KEY, basic, BOT_TOKEN, BOT_TOKEN.split(":")[1]):
        assert secret not in logged
