"""What runs beside the web app in `medialab run`, in its process and event loop: a worker, and
with --polling the bot taking its updates by long polling (bot/polling.py) through the app's
own UpdateRunner. One process, so that one embedded Redis serves the app and the worker when
REDIS_URL is unset; SIGTERM or Ctrl-C stops polling first, then the worker (its running jobs
finish), then the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from medialab.bot.dispatcher import allowed_updates
from medialab.bot.polling import UpdatePolling
from medialab.bot.updates import UpdateRunner
from medialab.settings import Settings
from medialab.web.app import Beside
from medialab.worker_app import worker_in_this_process


def beside_the_app(settings: Settings, polling: bool) -> list[Beside]:
    """Entered in this order once the app is up, so ended in the reverse one."""

    @asynccontextmanager
    async def worker(_: Litestar) -> AsyncIterator[None]:
        async with worker_in_this_process(settings):
            yield

    @asynccontextmanager
    async def long_polling(app: Litestar) -> AsyncIterator[None]:
        runner: UpdateRunner = app.state.telegram  # the webhook's, built at start-up (web/telegram.py)
        updates = UpdatePolling(runner, allowed_updates(), settings.telegram.timeout)
        updates.start()
        try:
            yield
        finally:
            await updates.stop()

    return [worker, long_polling] if polling else [worker]
