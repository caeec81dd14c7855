"""The app factories: `medialab serve` calls `create_app(settings)` in its own process; with
several workers, each worker process calls `create_app_from_environment()` (an import string
uvicorn can give to processes it starts), as can any ASGI server run with a factory option."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from medialab.logs import configure_logging
from medialab.metrics import process_exiting
from medialab.settings import Settings
from medialab.web.health import HealthController
from medialab.web.telegram import TelegramWebhookController, telegram_webhook
from medialab.web.yookassa import YooKassaController
from medialab.web.metrics import MetricsController
from medialab.web.request_logging import litestar_logging, request_context
from medialab.web.refusals import RefusalLog
from medialab.services import Services


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
        services = await Services.open(settings, bot_timeout=settings.telegram.timeout)
        app.state.services = services
        try:
            yield
        finally:
            await services.close()
            process_exiting()

    handlers: list[type] = [HealthController, MetricsController, YooKassaController, TelegramWebhookController]
    templates = None
    if settings.admin.web_token:  # unset: no /admin at all, so it answers 404 like any unknown path
        from medialab.web.admin.pages import AdminController, template_config

        handlers.append(AdminController)
        templates = template_config()
    return Litestar(
        route_handlers=handlers, template_config=templates,
        lifespan=[lifespan, telegram_webhook, refusals.summaries, long_lived_heap, *beside], openapi_config=None,
        middleware=[request_context], logging_config=litestar_logging(), before_send=[refusals.count_response],
    )


def create_app_from_environment() -> Litestar:
    """`medialab.web.app:create_app_from_environment`, for uvicorn's `factory=True`: a worker
    process started by uvicorn (`medialab serve --workers N`) has the command's environment and
    working directory but none of its state, so it reads the settings (environment and `.env`)
    and sets up logging (JSON lines, redaction) itself before building the app."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
