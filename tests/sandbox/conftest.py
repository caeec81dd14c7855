"""A Bot API sandbox served on 127.0.0.1 and a real aiogram Bot pointed at it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from PIL import Image

from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox

TOKEN = "123456:sandbox-TEST_token"


@pytest.fixture
def png() -> bytes:
    """A real 320x240 image: the sandbox, like Telegram, refuses photos it cannot decode."""
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def sandbox() -> BotApiSandbox:
    return BotApiSandbox(TOKEN)


@pytest.fixture
async def base_url(sandbox: BotApiSandbox) -> AsyncIterator[str]:
    async with serve_in_loop(sandbox.app) as url:
        yield url


@pytest.fixture
async def bot(base_url: str) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    yield bot
    await bot.session.close()
