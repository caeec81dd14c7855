"""Long-lived clients of one process (web or worker), opened at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

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
from arq.connections import ArqRedis

from medialab.bot.notifier import LogNotifier, Notifier, TelegramNotifier
from medialab.payments.service import PaymentService, yookassa_client
from medialab.settings import Settings
from medialab.storage import Storage


# aiogram reads every Bot API answer as Response[<the method's type>]. pydantic keeps such
# parametrized models in a weak cache, so between garbage collections they were built again:
# about 5 % of a paid prompt's time (bench/webhook.py, py-spy). Held here, they are built once.
_RESPONSE_TYPES = tuple({Response[method.__returning__] for method in (
    AnswerCallbackQuery, AnswerPreCheckoutQuery, GetFile, GetMe, RefundStarPayment, SendDocument,
    SendInvoice, SendMessage, SendPhoto, SetWebhook)})


def create_bot(settings: Settings, timeout: float | None = None) -> Bot | None:
    """The Bot talks to TELEGRAM_API_URL (a local Bot API server in tests and the demo);
    `timeout` is each call's deadline (aiogram's default, 60 s, where it is not given)."""
    if not settings.telegram.bot_token:
        return None
    api = TelegramAPIServer.from_base(settings.telegram.api_url)
    session = AiohttpSession(api=api) if timeout is None else AiohttpSession(api=api, timeout=timeout)
    return Bot(settings.telegram.bot_token, session=session)


@dataclass(kw_only=True)
class Services(Storage):
    """The storage (database, Redis, billing) and the clients that talk to the outside."""

    # The job queue shares the Redis connection pool.
    arq: ArqRedis
    bot: Bot | None
    notifier: Notifier
    # Top-ups through YooKassa; its API client is opened here and closed in close().
    payments: PaymentService

    @classmethod
    async def open(cls, settings: Settings, bot_timeout: float | None = None) -> Services:
        """`bot_timeout`: the Bot API deadline (the web app's is short: a user is waiting)."""
        storage = await Storage.open(settings)
        bot = create_bot(settings, bot_timeout)
        notifier: Notifier = TelegramNotifier(bot) if bot is not None else LogNotifier()
        payments = PaymentService(storage.sessions, settings, storage.billing, notifier, yookassa_client(settings))
        return cls(**vars(storage), arq=ArqRedis(pool_or_conn=storage.redis.connection_pool), bot=bot,
                   notifier=notifier, payments=payments)

    async def close(self) -> None:
        await self.payments.aclose()
        if self.bot is not None:
            await self.bot.session.close()
        await super().close()
