"""The whole web app served on 127.0.0.1 against the Bot API and YooKassa stand-ins (the suite's
own, tests/stand_ins.py; YooKassa's served only for tests that name `yookassa`), with the
webhook registered as `medialab set-webhook` registers it. Tests play users: they deliver
updates to /telegram/webhook and read what the bot sent."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from arq.constants import job_key_prefix
from arq.jobs import Job, deserialize_job
from litestar import Litestar
from PIL import Image
from redis.asyncio import Redis
from sqlalchemy import select

from medialab.billing.audit import check_ledger
from medialab.bot.registration import register_webhook
from medialab.db.models import LedgerEntry, Operation, User
from medialab.jobs.requests import GENERATION_JOB, GenerationRequest, request_from_job
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox, RecordedCall
from medialab.services import Services
from medialab.settings import Settings
from medialab.web.app import create_app
from medialab.web.state import AppState

from conftest import REDIS_TEST_URL
from stand_ins import BOT_TOKEN, SECRET_KEY, SHOP_ID

SECRET = "webhook-Secret_42"
RETURN_URL = "https://t.me/medialab_test_bot"


def png(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def bot_settings(request: pytest.FixtureRequest, settings: Settings, telegram_url: str, redis: Redis) -> Settings:
    """Depends on `redis` so that the test's Redis database is emptied first. The YooKassa
    stand-in is served only for tests that name `yookassa` (those that pay or look at it);
    for the others YooKassa is a port that refuses connections, so that a test which reaches
    it without saying so fails instead of passing on a server nobody checks."""
    if "yookassa" in request.fixturenames:
        yookassa_url = request.getfixturevalue("yookassa_url")
    else:
        yookassa_url = f"http://127.0.0.1:{request.getfixturevalue('refused_port')}"
    return settings.with_overrides(
        redis={"url": REDIS_TEST_URL},
        telegram={"bot_token": BOT_TOKEN, "api_url": telegram_url, "webhook_secret": SECRET},
        yookassa={"shop_id": SHOP_ID, "secret_key": SECRET_KEY, "return_url": RETURN_URL, "api_url": yookassa_url, "max_attempts": 1, "timeout": 5.0})


@dataclass
class Running:
    app: Litestar
    url: str
    settings: Settings

    @property
    def services(self) -> AppState:
        """The web process's clients, by the names its controllers know them."""
        return self.app.state  # type: ignore[return-value]

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/telegram/webhook"


Launcher = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def launch(bot_settings: Settings) -> Launcher:
    """`async with launch(**overrides) as running:` serves the app with these settings and
    registers its webhook (a second launch makes a second web process on the same data); at
    the end it checks that every balance still equals its ledger."""

    @asynccontextmanager
    async def running(register: bool = True, **overrides: Any) -> AsyncIterator[Running]:
        settings = bot_settings.with_overrides(**overrides)
        app = create_app(settings)
        async with serve_in_loop(app) as url:
            served = Running(app, url, settings)
            if register:
                await register_webhook(settings.with_overrides(telegram={"webhook_url": served.webhook_url}))
            yield served
            # Whatever a test did, the books must balance afterwards.
            assert await check_ledger(served.services.sessions) == []

    return running


@pytest.fixture
async def app(launch: Launcher) -> AsyncIterator[Running]:
    async with launch() as running:
        yield running


class Chat:
    """One user's private chat with the bot, as the tests play it."""

    def __init__(self, telegram: BotApiSandbox, user_id: int, language: str | None = None) -> None:
        self.telegram = telegram
        self.user_id = user_id
        self.language = language

    async def send(self, update: dict[str, Any], method: str = "sendMessage") -> RecordedCall:
        """Delivers an update to the webhook and waits for the bot's next call of `method` to
        this chat (the update is handled in the background after the webhook has answered)."""
        mark = self.telegram.checkpoint()
        response = await self.telegram.deliver(update)
        assert response.status_code == 200, response.text
        return await self.telegram.wait_for(method, lambda call: call.chat_id == self.user_id, after=mark)

    async def say(self, text: str) -> RecordedCall:
        return await self.send(self.telegram.message_update(self.user_id, text, self.language))

    async def press(self, data: str) -> RecordedCall:
        mark = self.telegram.checkpoint()
        reply = await self.send(self.telegram.callback_update(self.user_id, data, language_code=self.language))
        # Every button press is answered, so the user's spinner stops.
        await self.telegram.wait_for("answerCallbackQuery", after=mark)
        return reply

    def photo(self, width: int = 320, height: int = 240) -> tuple[list[str], str]:
        """A photo the user can send: its sizes (a thumbnail and the full size) and the full
        size's file id, which is what the bot must pass on."""
        thumb = self.telegram.add_file(png(width // 4, height // 4), "photos/thumb.jpg")
        full = self.telegram.add_file(png(width, height), "photos/full.jpg")
        return [thumb, full], full

    async def send_photo(self, sizes: list[str], caption: str | None = None) -> RecordedCall:
        return await self.send(self.telegram.photo_update(self.user_id, sizes, caption, language_code=self.language))


def messages_since(telegram: BotApiSandbox, mark: int, chat_id: int) -> list[RecordedCall]:
    """The messages the bot sent to a chat after a checkpoint."""
    return [call for call in telegram.calls()[mark:]
            if call.method == "sendMessage" and call.chat_id == chat_id and call.ok]


async def wait_for_messages(telegram: BotApiSandbox, chat_id: int, count: int, after: int) -> list[RecordedCall]:
    """The first `count` messages the bot sends to a chat after a checkpoint, as they come."""
    got: list[RecordedCall] = []
    while len(got) < count:
        call = await telegram.wait_for("sendMessage", lambda c: c.chat_id == chat_id and c.ok, after=after)
        got.append(call)
        after = next(i for i, made in enumerate(telegram.calls()) if made is call) + 1
    return got


def buttons(call: RecordedCall) -> list[tuple[str, str]]:
    """(text, callback data or url) of each inline button of a sent message."""
    markup = call.params.get("reply_markup") or {}
    return [(button["text"], button.get("callback_data") or button.get("url"))
            for row in markup.get("inline_keyboard", []) for button in row]


async def queued_request(services: Services, operation_id: str) -> GenerationRequest:
    """The generation job queued under this operation id (arq's _job_id)."""
    info = await Job(operation_id, services.arq).info()
    assert info is not None, f"no job {operation_id} in the queue"
    assert info.function == GENERATION_JOB
    return request_from_job(info.args[0])


async def queued_requests(services: Services) -> dict[str, GenerationRequest]:
    """Every queued generation job by its arq job id, read in one round trip: arq's `queued_jobs`
    reads each job at once on a connection of its own, and hundreds of connects (300 prompts in
    test_crash_redelivery.py) on a loaded machine outlast REDIS_TIMEOUT's connect deadline."""
    arq = services.arq
    job_ids = [job_id.decode() for job_id in await arq.zrange(arq.default_queue_name, 0, -1)]
    async with arq.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.get(job_key_prefix + job_id)
        stored = await pipe.execute()
    jobs = {job_id: deserialize_job(raw, deserializer=arq.job_deserializer)
            for job_id, raw in zip(job_ids, stored, strict=True)}
    return {job_id: request_from_job(job.args[0]) for job_id, job in jobs.items() if job.function == GENERATION_JOB}


async def operations_of(services: Services, telegram_id: int) -> list[Operation]:
    """The user's operations as SQL has them, oldest first."""
    async with services.sessions() as session:
        query = (select(Operation).join(User, User.id == Operation.user_id)
                 .where(User.telegram_id == telegram_id).order_by(Operation.created_at, Operation.id))
        return list((await session.execute(query)).scalars())


async def ledger_of(services: Services, telegram_id: int) -> list[LedgerEntry]:
    """The user's ledger entries, oldest first."""
    async with services.sessions() as session:
        query = (select(LedgerEntry).join(User, User.id == LedgerEntry.user_id)
                 .where(User.telegram_id == telegram_id).order_by(LedgerEntry.id))
        return list((await session.execute(query)).scalars())
