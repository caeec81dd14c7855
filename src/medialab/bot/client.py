"""The aiogram Bot of a process: the one client that talks to the Bot API."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession, TCPConnector

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
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

from medialab.http_tls import tls_context
from medialab.settings import Settings

CONNECTIONS = 100  # AiohttpSession's default limit of connections at once


# aiogram reads every Bot API answer as Response[<the method's type>]. pydantic keeps such
# parametrized models in a weak cache, so between garbage collections they were built again:
# about 5 % of a paid prompt's time (bench/webhook.py, py-spy). Held here, they are built once.
_RESPONSE_TYPES = tuple({Response[method.__returning__] for method in (
    AnswerCallbackQuery, AnswerPreCheckoutQuery, GetFile, GetMe, RefundStarPayment, SendDocument,
    SendInvoice, SendMessage, SendPhoto, SetWebhook)})


class BotApiSession(AiohttpSession):
    """aiogram's session with two costs taken out, each paid by every process and test that
    made a bot:
    - AiohttpSession.__init__ builds a TLS context of its own from certifi's CA bundle, ~17 ms of
      CPU per bot: the same state is set here with the process's one context (certifi's roots,
      medialab.http_tls); tests/bot/test_client.py checks it is all of AiohttpSession's state;
    - it waits 250 ms after closing for its TLS connections to shut down (aiohttp's advice):
      over plain HTTP (a Bot API server on this machine, the stand-in of the tests and the demo)
      there are none."""

    def __init__(self, api: TelegramAPIServer, **options: Any) -> None:
        BaseSession.__init__(self, api=api, **options)  # AiohttpSession's, but for the context
        self._session: ClientSession | None = None
        self._connector_type: type[TCPConnector] = TCPConnector
        self._connector_init: dict[str, Any] = {"ssl": tls_context(), "limit": CONNECTIONS, "ttl_dns_cache": 3600}
        self._should_reset_connector = True
        self._proxy = None
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
