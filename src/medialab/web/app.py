"""The web app's composition root and its factories: `medialab serve` calls `create_app(settings)`
in its own process; with several workers, each worker process calls
`create_app_from_environment()` (an import string uvicorn can give to processes it starts), as
can any ASGI server run with a factory option.

At start-up the process's clients are opened (services.py) and handed out by name: to the
controllers as the typed app state (web/state.py), to the bot's handlers as the dispatcher's
workflow data (bot/dependencies.py)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from medialab.admin.service import AdminService
from medialab.bot.dependencies import BotDependencies
from medialab.bot.dispatcher import build_dispatcher
from medialab.bot.updates import UpdateRunner
from medialab.jobs.start_operation import OperationStarter
from medialab.logs import configure_logging
from medialab.metrics import process_exiting
from medialab.payments.stars import StarsPayments
from medialab.services import Services
from medialab.settings import Settings
from medialab.web.health import HealthController
from medialab.web.metrics import MetricsController
from medialab.web.refusals import RefusalLog
from medialab.web.request_logging import litestar_logging, request_context
from medialab.web.telegram import TelegramWebhookController
from medialab.web.yookassa import YooKassaController

log = logging.getLogger(__name__)


@asynccontextmanager
async def long_lived_heap(_: Litestar) -> AsyncIterator[None]:
    """Once started, the objects built so far (modules, the app, the services, the dispatcher)
    live as long as the process. Python's full garbage collections would scan them all again
    and again: some 285,000 objects, 13 % of the server's time under the webhook benchmark
    (bench/webhook.py). Frozen, the collector leaves them alone; thawed at shutdown, so that a
    process that builds apps one after another (the tests) can free them."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# What else runs in the app's process and event loop (`medialab run`: a worker, long polling).
Beside = Callable[[Litestar], AbstractAsyncContextManager[None]]


def create_app(settings: Settings | None = None, beside: Sequence[Beside] = ()) -> Litestar:
    """`beside`: lifespans started once the app's services and dispatcher are, and ended first."""
    settings = settings or Settings.from_env()
    refusals = RefusalLog()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        opened = await Services.open(settings, bot_timeout=settings.telegram.timeout)
        telegram = telegram_updates(opened)
        app.state.update(settings=settings, engine=opened.engine, redis=opened.redis, sessions=opened.sessions,
                         billing=opened.billing, payments=opened.payments, arq=opened.arq, jobs=opened.jobs,
                         telegram=telegram)
        try:
            yield
        finally:
            if telegram is not None:
                await telegram.drain()  # the updates still in hand, before their clients close
            await opened.close()
            process_exiting()

    handlers: list[type] = [HealthController, MetricsController, YooKassaController, TelegramWebhookController]
    templates = None
    if settings.admin.web_token:  # unset: no /admin at all, so it answers 404 like any unknown path
        from medialab.web.admin.pages import AdminController, template_config

        handlers.append(AdminController)
        templates = template_config()
    return Litestar(
        route_handlers=handlers, template_config=templates,
        lifespan=[lifespan, refusals.summaries, long_lived_heap, *beside], openapi_config=None,
        middleware=[request_context], logging_config=litestar_logging(), before_send=[refusals.count_response],
    )


def telegram_updates(opened: Services) -> UpdateRunner | None:
    """The dispatcher, built once per process, and what feeds it updates (the webhook, or
    `medialab run --polling`); None without TELEGRAM_BOT_TOKEN."""
    if opened.bot is None:
        return None
    settings = opened.settings
    if not settings.telegram.webhook_secret:
        log.info("TELEGRAM_WEBHOOK_SECRET is not set: the webhook's secret is derived from the bot token "
                 "(`medialab set-webhook` registers the same one)")
    dependencies = BotDependencies(
        settings=settings, sessions=opened.sessions, billing=opened.billing,
        operations=OperationStarter(opened.billing, opened.arq), payments=opened.payments,
        stars=StarsPayments(opened.sessions, opened.billing, settings, opened.payments.referrals),
        notifier=opened.notifier, jobs=opened.jobs, admin=AdminService(opened.billing, opened.sessions, opened.bot),
    )
    return UpdateRunner(build_dispatcher(dependencies, opened.redis), opened.bot, settings.telegram.updates_in_progress)


def create_app_from_environment() -> Litestar:
    """`medialab.web.app:create_app_from_environment`, for uvicorn's `factory=True`: a worker
    process started by uvicorn (`medialab serve --workers N`) has the command's environment and
    working directory but none of its state, so it reads the settings (environment and `.env`)
    and sets up logging (JSON lines, redaction) itself before building the app."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
