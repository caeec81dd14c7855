"""The fal.ai stand-in served on 127.0.0.1 and FalProviders pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis

from conftest import REDIS_TEST_URL
from stand_ins import BOT_TOKEN, FAL_KEY
from medialab.jobs.providers.fal import FalProvider
from medialab.jobs.worker import worker_limits
from medialab.worker_app import WorkerSettings
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services
from medialab.settings import Settings

@pytest.fixture
async def make_fal(fal_url: str) -> AsyncIterator[Callable[..., FalProvider]]:
    """FalProviders on the stand-in with tiny pauses, so retries and timeouts take milliseconds."""
    made: list[FalProvider] = []

    def make(key: str = FAL_KEY, **overrides: Any) -> FalProvider:
        options = {"poll_interval": 0.01, "timeout": 5.0, "max_attempts": 3,
                   "backoff_base": 0.01, **overrides}
        made.append(FalProvider(fal_url, key, **options))
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def fal(make_fal: Callable[..., FalProvider]) -> FalProvider:
    return make_fal()


# ---- generation jobs: the Bot API stand-in (the suite's, tests/stand_ins.py) behind a front,
# the worker's settings and an in-process worker ----

class TelegramFront:
    """Telegram's front door before the Bot API stand-in: `fail_next` makes the next calls of a
    method answer 502 Bad Gateway (Telegram's answer in an outage) without reaching the Bot API."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._failing: dict[str, int] = {}
        self.refused: list[str] = []

    def fail_next(self, method: str, times: int) -> None:
        self._failing[method.lower()] = times

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method = scope.get("path", "").rsplit("/", 1)[-1].lower() if scope["type"] == "http" else ""
        if self._failing.get(method, 0) > 0:
            self._failing[method] -= 1
            self.refused.append(method)
            body = b'{"ok":false,"error_code":502,"description":"Bad Gateway"}'
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


@pytest.fixture
def telegram_front(telegram: BotApiSandbox) -> TelegramFront:
    return TelegramFront(telegram.app)


@pytest.fixture
async def telegram_front_url(telegram_front: TelegramFront) -> AsyncIterator[str]:
    """Where the worker reaches Telegram: the suite's Bot API stand-in behind the front."""
    async with serve_in_loop(telegram_front) as base_url:
        yield base_url


@pytest.fixture
def job_settings(settings: Settings, fal_url: str, telegram_front_url: str) -> Settings:
    """The worker's settings: both stand-ins, fal polled every 10 ms, retries 50 ms apart.
    Users get no free operations here, so that operations are paid from the balance. No
    metrics port: workers of tests running at once would contend for it."""
    return settings.with_overrides(
        redis={"url": REDIS_TEST_URL},
        telegram={"bot_token": BOT_TOKEN, "api_url": telegram_front_url},
        fal={"key": FAL_KEY, "api_url": fal_url, "poll_interval": 0.01},
        jobs={"retry_delay": 0.05, "timeout": 30},
        billing={"free_operations_count": 0},
        server={"worker_metrics_port": 0})


@pytest.fixture
async def services(job_settings: Settings, redis: Redis) -> AsyncIterator[Services]:
    """The web side's clients (billing, the arq queue) on the test's Redis db, emptied."""
    opened = await Services.open(job_settings)
    yield opened
    await opened.close()


RunWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
def run_worker(job_settings: Settings) -> RunWorker:
    """Runs an arq worker (WorkerSettings' functions, our limits) until the queue is empty,
    retries included; no cron jobs, as tests call the sweeper themselves."""

    async def run(settings: Settings | None = None) -> Worker:
        chosen = settings or job_settings
        worker = Worker(
            functions=WorkerSettings.functions, on_startup=WorkerSettings.on_startup,
            on_shutdown=WorkerSettings.on_shutdown, redis_settings=RedisSettings.from_dsn(REDIS_TEST_URL),
            burst=True, poll_delay=0.01, ctx={"settings": chosen}, max_tries=WorkerSettings.max_tries,
            handle_signals=False, **worker_limits(chosen),
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()
        return worker

    return run


WorkerContext = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def worker_context(job_settings: Settings) -> AsyncIterator[WorkerContext]:
    """The ctx a worker's start-up builds, for running a job function by hand (a second run of
    the same job, a given try number)."""
    opened: list[dict[str, Any]] = []

    async def make(settings: Settings | None = None) -> dict[str, Any]:
        ctx: dict[str, Any] = {"settings": settings or job_settings}
        await WorkerSettings.on_startup(ctx)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        await WorkerSettings.on_shutdown(ctx)
