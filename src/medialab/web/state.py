"""The web app's state, typed: what its composition (web/app.py) puts there at start-up, and what
a controller names when it declares `state: AppState` (Litestar hands in this class)."""

from __future__ import annotations

from arq.connections import ArqRedis
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from medialab.billing.service import BillingService
from medialab.bot.updates import UpdateRunner
from medialab.db.engine import Sessions
from medialab.jobs.clients import JobClients
from medialab.payments.service import PaymentService
from medialab.settings import Settings


class AppState(State):
    settings: Settings
    # /ready asks both.
    engine: AsyncEngine
    redis: Redis
    sessions: Sessions
    billing: BillingService
    # YooKassa's notifications are settled here.
    payments: PaymentService
    # The job queue: /metrics reads its depth.
    arq: ArqRedis
    # The delivery of kept results, as the bot's middleware does it.
    jobs: JobClients
    # Telegram's updates; None without TELEGRAM_BOT_TOKEN (web/telegram.py).
    telegram: UpdateRunner | None
