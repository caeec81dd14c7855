"""The suite's one set of stand-ins for the services outside: the Bot API, YooKassa and fal.ai, each
built fresh per test and served on 127.0.0.1 only for the tests that ask for its URL. Loaded
from tests/conftest.py (pytest_plugins), so every directory's tests share these fixtures and
the credentials below; fixtures that need more (a front that fails on purpose, settings for a
package's services) are built on these.

The credentials look like real ones (a token of Telegram's shape, a test shop's key), so that
tests of redaction see what production would put in a log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.yookassa import YooKassaSandbox

BOT_TOKEN = "7012345678:AAH-kq3Zr_secret-token-0123456789abcdef"
BOT_ID = int(BOT_TOKEN.split(":")[0])  # the bot's user id: what getMe answers
SHOP_ID = "100500"
SECRET_KEY = "test_Zq8-sEcReT-kEy-4dY0uR-eYeS-oNlY"
FAL_KEY = "fal-test-key-5f1e9c0d:do-not-leak"


@pytest.fixture
def telegram() -> BotApiSandbox:
    """The Bot API stand-in for BOT_TOKEN, not served (telegram_url serves it)."""
    return BotApiSandbox(BOT_TOKEN)


@pytest.fixture
async def telegram_url(telegram: BotApiSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(telegram.app) as url:
        yield url


@pytest.fixture
def yookassa() -> YooKassaSandbox:
    """The YooKassa stand-in for SHOP_ID / SECRET_KEY, not served (yookassa_url serves it).
    Tests that pay or inspect YooKassa name this fixture: the bot's settings serve it only then."""
    return YooKassaSandbox(SHOP_ID, SECRET_KEY)


@pytest.fixture
async def yookassa_url(yookassa: YooKassaSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(yookassa.app) as url:
        yield url


@pytest.fixture
def fal_sandbox() -> FalSandbox:
    """The fal.ai stand-in for FAL_KEY, not served (fal_url serves it)."""
    return FalSandbox(FAL_KEY)


@pytest.fixture
async def fal_url(fal_sandbox: FalSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(fal_sandbox.app) as url:
        yield url
