"""medialab_topups_total and the YooKassa webhook's refusals in /metrics, moved by real
notifications posted to the served app."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.settings import Settings
from ops.scraped import parse, value

from .conftest import Shop, serve_shop

USER = 710_001


async def scraped(shop: Shop, name: str, **labels: str) -> float:
    async with httpx.AsyncClient(base_url=shop.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return value(parse(response.text), name, **labels) or 0.0


async def topups(shop: Shop) -> dict[str, float]:
    return {outcome: await scraped(shop, "medialab_topups_total", outcome=outcome)
            for outcome in ("credited", "duplicate", "mismatch", "canceled")}


async def test_each_settlement_outcome_is_counted(shop: Shop) -> None:
    before = await topups(shop)
    _, paid = await shop.paid_topup(USER, 100)
    assert await shop.notify(paid) == 200  # credited
    assert await shop.notify(paid) == 200  # duplicate
    _, canceled = await shop.topup(USER, 200)
    shop.yookassa.cancel(canceled)
    assert await shop.notify(canceled, "payment.canceled") == 200
    _, forged = await shop.paid_topup(USER, 300)
    shop.yookassa.payments[forged]["amount"] = {"value": "3000.00", "currency": "RUB"}
    assert await shop.notify(forged) == 200  # mismatch: nothing credited

    after = await topups(shop)
    assert {k: after[k] - before[k] for k in after} == {"credited": 1, "duplicate": 1, "mismatch": 1, "canceled": 1}
    assert await shop.balance(USER) == 10_000


async def test_a_malformed_notification_is_counted_as_a_refusal(shop: Shop) -> None:
    labels = {"webhook": "yookassa", "reason": "bad_body"}
    before = await scraped(shop, "medialab_webhook_refusals_total", **labels)
    async with httpx.AsyncClient() as http:
        response = await http.post(shop.webhook_url, content=b"[]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert await scraped(shop, "medialab_webhook_refusals_total", **labels) == before + 1


async def test_a_notification_from_outside_the_allowlist_is_counted_as_a_refusal(
    app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox, redis: Redis
) -> None:
    settings = app_settings.with_overrides(yookassa={"allowed_ips": app_settings.yookassa.allowed_ips[:0]})
    labels = {"webhook": "yookassa", "reason": "source_not_allowed"}
    async with serve_shop(settings, yookassa, telegram) as shop:
        before = await scraped(shop, "medialab_webhook_refusals_total", **labels)
        _, provider_id = await shop.paid_topup(USER, 100)
        assert await shop.notify(provider_id) == 403
        assert await scraped(shop, "medialab_webhook_refusals_total", **labels) == before + 1
        assert await shop.balance(USER) == 0
