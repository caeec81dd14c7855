"""A real aiogram Bot pointed at the suite's Bot API stand-in (tests/stand_ins.py: `telegram`,
served at `telegram_url`)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from PIL import Image

from stand_ins import BOT_TOKEN


@pytest.fixture
def png() -> bytes:
    """A real 320x240 image: the sandbox, like Telegram, refuses photos it cannot decode."""
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def bot(telegram_url: str) -> AsyncIterator[Bot]:
    bot = Bot(BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram_url)))
    yield bot
    await bot.session.close()
