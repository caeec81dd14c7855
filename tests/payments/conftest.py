"""Clients that talk to the suite's YooKassa stand-in (tests/stand_ins.py) over real HTTP, and
our services configured against it and the Bot API stand-in."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from conftest import REDIS_TEST_URL
from stand_ins import BOT_TOKEN, SECRET_KEY, SHOP_ID
from medialab.db.models import LedgerEntry
from medialab.db.models import Payment as PaymentRow
from medialab.payments.service import TopupLink
from medialab.payments.yookassa_api import Payment
from medialab.payments.yookassa_client import YooKassaClient
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.services import Services
from medialab.settings import Settings
from medialab.web.app import create_app

RETURN_URL = "https://t.me/medialab_test_bot"
METADATA = {"telegram_user_id": "123456789", "payment_id": "42"}

ClientFactory = Callable[..., YooKassaClient]


@pytest.fixture
async def make_client(yookassa_url: str) -> AsyncIterator[ClientFactory]:
    """Clients with a tiny backoff so that retries cost milliseconds; overrides per test."""
    made: list[YooKassaClient] = []

    def make(**overrides: Any) -> YooKassaClient:
        options: dict[str, Any] = {
            "api_url": yookassa_url, "shop_id": SHOP_ID, "secret_key": SECRET_KEY,
            "timeout": 5.0, "max_attempts": 3, "backoff_seconds": 0.001,
        }
        made.append(YooKassaClient(**(options | overrides)))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> YooKassaClient:
    return make_client()


@pytest.fixture
async def raw_api(yookassa_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP with the shop's credentials, for checking the stand-in's own answers."""
    async with httpx.AsyncClient(base_url=yookassa_url, auth=(SHOP_ID, SECRET_KEY)) as http:
        yield http


async def create_topup(
    client: YooKassaClient, idempotence_key: str = "topup-1", **overrides: Any
) -> Payment:
    """A 100 ₽ top-up as the bot creates it."""
    arguments: dict[str, Any] = {
        "amount_kopecks": 10_000, "currency": "RUB", "return_url": RETURN_URL,
        "description": "Пополнение баланса на 100 ₽", "metadata": METADATA,
        "idempotence_key": idempotence_key,
    }
    return await client.create_payment(**(arguments | overrides))


@pytest.fixture
def shop_settings(settings: Settings, yookassa_url: str) -> Settings:
    """The app's settings with the shop configured against the stand-in and this run's Redis;
    two attempts per request so that a test of "unreachable" takes one short backoff."""
    return settings.with_overrides(
        redis={"url": REDIS_TEST_URL},
        yookassa={"shop_id": SHOP_ID, "secret_key": SECRET_KEY, "return_url": RETURN_URL, "api_url": yookassa_url, "max_attempts": 2, "timeout": 2.0})


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Services]:
    services = await Services.open(settings)
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture
async def services(shop_settings: Settings, redis: Redis) -> AsyncIterator[Services]:
    async with opened(shop_settings) as services:
        yield services


async def payment_rows(services: Services) -> list[PaymentRow]:
    async with services.sessions() as session:
        return list((await session.execute(select(PaymentRow).order_by(PaymentRow.id))).scalars())


LOCALHOST = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def app_settings(shop_settings: Settings, telegram_url: str) -> Settings:
    """The shop, a bot that writes to the Bot API stand-in, and notifications accepted from
    127.0.0.1 (where the tests post them from)."""
    return shop_settings.with_overrides(
        telegram={"bot_token": BOT_TOKEN, "api_url": telegram_url},
        yookassa={"allowed_ips": LOCALHOST})


@dataclass
class Shop:
    """Our app served over HTTP with YooKassa's and Telegram's stand-ins around it."""

    url: str
    services: Services
    yookassa: YooKassaSandbox
    telegram: BotApiSandbox

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/yookassa/webhook"

    async def topup(self, telegram_id: int, amount_rub: int) -> tuple[TopupLink, str]:
        """A top-up the user asked for (not paid yet): its link and its YooKassa id."""
        self.telegram.message_update(telegram_id, "/start")  # the user has talked to the bot
        link = await self.services.payments.create_payment(telegram_id, amount_rub)
        return link, link.confirmation_url.rsplit("/", 1)[-1]

    async def paid_topup(self, telegram_id: int, amount_rub: int) -> tuple[TopupLink, str]:
        """A top-up the user has paid in YooKassa (nobody has told us yet)."""
        link, provider_id = await self.topup(telegram_id, amount_rub)
        self.yookassa.succeed(provider_id)
        return link, provider_id

    async def notify(self, provider_id: str, event: str = "payment.succeeded", **headers: str) -> int:
        return await self.yookassa.deliver(
            self.webhook_url, self.yookassa.notification(provider_id, event), headers
        )

    async def balance(self, telegram_id: int) -> int:
        user = await self.services.billing.get_user_info(telegram_id)
        assert user is not None
        return user.balance

    async def ledger(self) -> list[LedgerEntry]:
        async with self.services.sessions() as session:
            return list((await session.execute(select(LedgerEntry).order_by(LedgerEntry.id))).scalars())

    def balance_messages(self, telegram_id: int) -> list[str]:
        return [text for text in self.telegram.texts(telegram_id) if "Баланс:" in text]


@asynccontextmanager
async def serve_shop(settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox) -> AsyncIterator[Shop]:
    app = create_app(settings)
    async with serve_in_loop(app) as url:
        yield Shop(url, app.state, yookassa, telegram)


@pytest.fixture
async def shop(
    app_settings: Settings, yookassa: YooKassaSandbox, telegram: BotApiSandbox, redis: Redis
) -> AsyncIterator[Shop]:
    async with serve_shop(app_settings, yookassa, telegram) as served:
        yield served


@contextmanager
def root_capture(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog put back on the root logger once the app has started (Litestar's logging set-up
    replaces the root logger's handlers), at DEBUG so that nothing escapes it."""
    root = logging.getLogger()
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        root.removeHandler(caplog.handler)


@pytest.fixture
def shop_logs(shop: Shop, caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with root_capture(caplog) as captured:
        yield captured
