"""The aiogram Bot of a process: the one client that talks to the Bot API."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerPreCheckoutQuery,
    GetFile,
    GetMe,
    RefundStarPayment,
    SendDocument,
    SendInvoice,
    SendMessage,
    SendPhoto,
    SetWebhook,
)
from aiogram.methods.base import Response

from medialab.settings import Settings


# aiogram reads every Bot API answer as Response[<the method's type>]. pydantic keeps such
# parametrized models in a weak cache, so between garbage collections they were built again:
# about 5 % of a paid prompt's time (bench/webhook.py, py-spy). Held here, they are built once.
_RESPONSE_TYPES = tuple({Response[method.__returning__] for method in (
    AnswerCallbackQuery, AnswerPreCheckoutQuery, GetFile, GetMe, RefundStarPayment, SendDocument,
    SendInvoice, SendMessage, SendPhoto, SetWebhook)})


class BotApiSession(AiohttpSession):
    """aiogram's session, which waits 250 ms after closing for its TLS connections to shut down
    (aiohttp's advice): over plain HTTP (a Bot API server on this machine, the stand-in of the
    tests and the demo) there are none, and that wait was paid by every process and test that
    closed a bot."""

    def __init__(self, api: TelegramAPIServer, **options: Any) -> None:
        super().__init__(api=api, **options)
        self._over_tls = api.base.startswith("https:")

    async def close(self) -> None:
        if self._over_tls:
            await super().close()
        elif self._session is not None and not self._session.closed:
            await self._session.close()


def create_bot(settings: Settings, timeout: float | None = None) -> Bot | None:
    """The Bot talks to TELEGRAM_API_URL (a local Bot API server in tests and the demo);
    `timeout` is each call's deadline (aiogram's default, 60 s, where it is not given)."""
    if not settings.telegram.bot_token:
        return None
    api = TelegramAPIServer.from_base(settings.telegram.api_url)
    session = BotApiSession(api) if timeout is None else BotApiSession(api, timeout=timeout)
    return Bot(settings.telegram.bot_token, session=session)
