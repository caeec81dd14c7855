"""A YooKassa stand-in served on 127.0.0.1, clients that talk to it over real HTTP, and our
services configured against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from conftest import REDIS_TEST_URL
from medialab.db.models import Payment as PaymentRow
from medialab.payments.yookassa_api import Payment
from medialab.payments.yookassa_client import YooKassaClient
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.yookassa import YooKassaSandbox
from medialab.services import Services
from medialab.settings import Settings

SHOP_ID = "100500"
SECRET_KEY = "test_Zq8-sEcReT-kEy-4dY0uR-eYeS-oNlY"
RETURN_URL = "https://t.me/medialab_test_bot"
METADATA = {"telegram_user_id": "123456789", "payment_id": "42"}

ClientFactory = Callable[..., YooKassaClient]


@pytest.fixture
def sandbox() -> YooKassaSandbox:
    return YooKassaSandbox(SHOP_ID, SECRET_KEY)


@pytest.fixture
async def sandbox_url(sandbox: YooKassaSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(sandbox.app) as url:
        yield url


@pytest.fixture
async def make_client(sandbox_url: str) -> AsyncIterator[ClientFactory]:
    """Clients with a tiny backoff so that retries cost milliseconds; overrides per test."""
    made: list[YooKassaClient] = []

    def make(**overrides: Any) -> YooKassaClient:
        options: dict[str, Any] = {
            "api_url": sandbox_url, "shop_id": SHOP_ID, "secret_key": SECRET_KEY,
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
async def raw_api(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP with the shop's credentials, for checking the stand-in's own answers."""
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(SHOP_ID, SECRET_KEY)) as http:
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
def shop_settings(settings: Settings, sandbox_url: str) -> Settings:
    """The app's settings with the shop configured against the stand-in and this run's Redis;
    two attempts per request so that a test of "unreachable" takes one short backoff."""
    return settings.with_overrides(
        redis_url=REDIS_TEST_URL, yookassa_shop_id=SHOP_ID, yookassa_secret_key=SECRET_KEY,
        yookassa_return_url=RETURN_URL, yookassa_api_url=sandbox_url,
        yookassa_max_attempts=2, yookassa_timeout=2.0,
    )


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
