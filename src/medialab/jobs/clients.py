"""What the worker's jobs work with, named and typed: arq's ctx (`WorkerContext`), and in it the
clients of the generation job, its compensation, the lost-job sweeper and the delivery of kept
results (`JobClients`).

The worker's composition (worker_app.py) fills the ctx at start-up; the web app builds a
`JobClients` too, for the kept results a returning user is sent. The user is told through the
`Notifier` port, so nothing here knows the bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from aiogram import Bot
from redis.asyncio import Redis

from medialab.billing.service import BillingService
from medialab.db.engine import Sessions
from medialab.notify import Notifier
from medialab.payments.service import PaymentService
from medialab.settings import Settings


@dataclass(frozen=True, kw_only=True)
class JobClients:
    settings: Settings
    sessions: Sessions
    # The Redis of the balance cache and of the jobs' own markers (made images, deliveries).
    redis: Redis
    billing: BillingService
    notifier: Notifier
    # Reads the input photos (getFile); None without TELEGRAM_BOT_TOKEN.
    telegram: Bot | None


class WorkerContext(TypedDict, total=False):
    """arq's ctx as our jobs read it (arq adds its own keys: "redis", "job_try", …)."""

    settings: Settings
    jobs: JobClients
    billing: BillingService
    sessions: Sessions
    # The payment sweeper's (jobs/payment_sweep_cron.py).
    payments: PaymentService
    job_try: int
