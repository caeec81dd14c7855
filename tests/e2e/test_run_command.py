"""`medialab run`: the web app and a worker in one process on the embedded Redis (REDIS_URL
unset), the schema upgraded first; with --polling the bot takes its updates by long polling. A
user's prompt reaches the bot through the Telegram stand-in, its job runs against the fal.ai
stand-in and the image arrives; SIGTERM then stops everything with exit code 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forked import forked
from medialab.bot.registration import register_webhook
from medialab.db.engine import create_engine, session_factory
from medialab.demo.books import books_problem, wait_until_settled
from medialab.demo.chat import DemoChat
from medialab.demo.stack import FAL_KEY, Process, free_port, system_environment, wait_until_ready
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram_state import WebhookRegistration
from medialab.sandbox.telegram import BotApiSandbox
from medialab.settings import Settings
from stand_ins import BOT_TOKEN

pytestmark = pytest.mark.slow

USER = 100_400_500
START_SECONDS = 120.0  # imports and the schema's upgrade on a busy machine


@asynccontextmanager
async def medialab_run(database_url: str, workdir: Path, telegram_url: str, yookassa_port: int,
                       *options: str) -> AsyncIterator[tuple[Process, Settings]]:
    """`medialab run [options]` against the Telegram and fal.ai stand-ins, REDIS_URL unset;
    YooKassa (not called here) a port that refuses connections."""
    async with serve_in_loop(FalSandbox(FAL_KEY).app) as fal_url:
        urls = {"telegram": telegram_url, "yookassa": f"http://127.0.0.1:{yookassa_port}", "fal": fal_url}
        env = system_environment(database_url, "", urls, free_port())
        env["TELEGRAM_BOT_TOKEN"] = BOT_TOKEN  # the suite's stand-in's token, not the demo's
        del env["REDIS_URL"]
        process = Process("run", env, workdir, *options, launch=forked)
        process.start()
        try:
            yield process, Settings.from_env(env, env_file=None)
        finally:
            await process.stop()


async def prompt_until_image(telegram: BotApiSandbox) -> list[str]:
    chat = DemoChat(telegram, USER, (written := []).append)
    await chat.say("/start", containing="Привет")
    await chat.press("mode:generate")
    await chat.say("a red fox in the snow", containing="Принято!")
    await chat.wait("sendPhoto", "Готово!")
    return written


async def books_balance(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        await wait_until_settled(sessions)
        assert await books_problem(sessions) is None
    finally:
        await engine.dispose()


# On PostgreSQL alone: the test below runs the command on SQLite (a new file), and each run
# starts a process that spends seconds importing aiogram.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_run_polling_takes_a_prompt_from_get_updates_runs_its_job_and_stops_on_sigterm(
    database_url: str, tmp_path: Path, telegram: BotApiSandbox, telegram_url: str, refused_port: int
) -> None:
    telegram.world.webhook = WebhookRegistration("https://bot.example/telegram/webhook")  # set before
    async with medialab_run(database_url, tmp_path, telegram_url, refused_port, "--polling") as (process, _):
        await telegram.wait_for("deleteWebhook", timeout=START_SECONDS)
        assert telegram.world.webhook is None
        written = await prompt_until_image(telegram)
        assert await process.stop() == 0
    assert written[-1] == "bot:  [photo] Готово!", written
    assert telegram.world.updates.pending == []  # every update handled was confirmed before the exit
    log = process.log_path.read_text()
    assert "Traceback" not in log and '"level": "ERROR"' not in log, log
    await books_balance(database_url)


async def test_run_upgrades_a_new_sqlite_file_and_serves_the_webhook_beside_a_worker(
    tmp_path: Path, telegram: BotApiSandbox, telegram_url: str, refused_port: int
) -> None:
    database_url = f"sqlite:///{tmp_path / 'new.db'}"
    async with medialab_run(database_url, tmp_path, telegram_url, refused_port) as (process, settings):
        await wait_until_ready(process, f"http://127.0.0.1:{settings.server.port}")
        await register_webhook(settings)
        written = await prompt_until_image(telegram)
        assert await process.stop() == 0
    assert written[-1] == "bot:  [photo] Готово!", written
    log = process.log_path.read_text()
    assert "Traceback" not in log and '"level": "ERROR"' not in log, log
    await books_balance(settings.database.url)
