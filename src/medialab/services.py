"""Long-lived clients of one process (web or worker), opened at start-up and closed at shutdown.

The composition roots (web/app.py for the web app, worker_app.py for the worker) open them and
hand each handler, controller and job the pieces it names; nothing below them imports this
module. Here the bot's `TelegramNotifier` is plugged into the `Notifier` port that payments and
jobs call (medialab/notify.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from arq.connections import ArqRedis

from medialab.bot.client import create_bot
from medialab.bot.notifier import LogNotifier, TelegramNotifier
from medialab.jobs.clients import JobClients
from medialab.notify import Notifier
from medialab.payments.service import PaymentService, yookassa_client
from medialab.settings import Settings
from medialab.storage import Storage


@dataclass(kw_only=True)
class Services(Storage):
    """The storage (database, Redis, billing) and the clients that talk to the outside."""

    # The job queue shares the Redis connection pool.
    arq: ArqRedis
    bot: Bot | None
    notifier: Notifier
    # Top-ups through YooKassa; its API client is opened here and closed in close().
    payments: PaymentService
    # What the jobs (and the delivery of kept results) work with: pieces of the above.
    jobs: JobClients

    @classmethod
    async def open(cls, settings: Settings, bot_timeout: float | None = None) -> Services:
        """`bot_timeout`: the Bot API deadline (the web app's is short: a user is waiting)."""
        storage = await Storage.open(settings)
        bot = create_bot(settings, bot_timeout)
        notifier: Notifier = TelegramNotifier(bot) if bot is not None else LogNotifier()
        payments = PaymentService(storage.sessions, settings, storage.billing, notifier, yookassa_client(settings))
        jobs = JobClients(settings=settings, sessions=storage.sessions, redis=storage.redis, billing=storage.billing,
                          notifier=notifier, telegram=bot)
        return cls(**vars(storage), arq=ArqRedis(pool_or_conn=storage.redis.connection_pool), bot=bot,
                   notifier=notifier, payments=payments, jobs=jobs)

    async def close(self) -> None:
        await self.payments.aclose()
        if self.bot is not None:
            await self.bot.session.close()
        await super().close()
