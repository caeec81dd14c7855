"""Logging: what the handler writes (JSON lines or readable lines), the context ids it carries
and the secrets it never lets through."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update

from medialab.bot.middlewares.update_logging import UpdateLogContext
from medialab.logs import MASK, configure_logging, log_context
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox
from medialab.settings import Settings
from medialab.web.app import create_app
from stand_ins import BOT_TOKEN, SECRET_KEY, SHOP_ID

OTHER_TOKEN = "555:other-bot-token"
FAL_KEY = "3f1c2d4e-fal-id:9a8b7c6d5e-fal-secret"
WEBHOOK_SECRET = "hook-secret-0xC0FFEE"
DB_PASSWORD, REDIS_PASSWORD = "pg-pa$$word-42", "redis-pass-7f"
BASIC = base64.b64encode(f"{SHOP_ID}:{SECRET_KEY}".encode()).decode()
SECRETS = (BOT_TOKEN, OTHER_TOKEN, SECRET_KEY, FAL_KEY, WEBHOOK_SECRET, BASIC, "9a8b7c6d5e-fal-secret",
           DB_PASSWORD, REDIS_PASSWORD)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def secret_settings(**extra: str) -> Settings:
    return Settings.from_env({
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "YOOKASSA_SHOP_ID": SHOP_ID, "YOOKASSA_SECRET_KEY": SECRET_KEY,
        "FAL_KEY": FAL_KEY, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": f"postgresql://shop:{quote(DB_PASSWORD, safe='')}@db.internal:5432/shop",
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0", **extra,
    }, env_file=None)


@contextmanager
def capture() -> Iterator[io.StringIO]:
    """The root handler writing into a buffer (not a terminal: JSON lines); removed afterwards.

    Entered after any stand-in is built: a Litestar app with its default logging config
    replaces the root handlers when it is constructed."""
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = configure_logging(secret_settings(), stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    with capture() as stream:
        yield stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert quote(secret, safe="") not in text


@pytest.mark.parametrize(("template", "argument", "expected"), [
    ("calling %s", f"https://api.telegram.org/bot{BOT_TOKEN}/getMe", f"https://api.telegram.org/bot{MASK}/getMe"),
    ("file at %s", f"https://api.telegram.org/file/bot{OTHER_TOKEN}/photos/1.jpg", f"/file/bot{MASK}/photos/1.jpg"),
    ("token %s configured", BOT_TOKEN, f"token {MASK} configured"),
    ("shop key=%s", SECRET_KEY, f"shop key={MASK}"),
    ("request headers %r", {"Authorization": f"Basic {BASIC}", "Idempotence-Key": "k1"},
     f"{{'Authorization': 'Basic {MASK}', 'Idempotence-Key': 'k1'}}"),
    ("raw headers %r", [(b"authorization", f"Key {FAL_KEY}".encode())], f"[(b'authorization', b'Key {MASK}')]"),
    ("header line %s", "Authorization: Bearer some-unknown-credential", f"Authorization: Bearer {MASK}"),
    ("header %s", f"X-Telegram-Bot-Api-Secret-Token: {WEBHOOK_SECRET}", f"X-Telegram-Bot-Api-Secret-Token: {MASK}"),
    ("query %s", f"/x?key={quote(FAL_KEY, safe='')}", f"/x?key={MASK}"),
    ("database %s unreachable", f"postgresql://shop:{quote(DB_PASSWORD, safe='')}@db.internal/shop",
     f"postgresql://shop:{MASK}@db.internal/shop"),
    ("redis error: %s", f"AUTH {REDIS_PASSWORD} refused", f"AUTH {MASK} refused"),
])
def test_each_secret_is_redacted(output: io.StringIO, template: str, argument: object, expected: str) -> None:
    logging.getLogger("medialab.test").warning(template, argument)
    [record] = lines(output)
    assert_clean(output.getvalue())
    assert expected in record["message"]


def test_exception_text_is_redacted(output: io.StringIO) -> None:
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage failed; fal key {FAL_KEY}")
    except RuntimeError:
        logging.getLogger("medialab.test").exception("delivery failed for key %s", SECRET_KEY)
    [record] = lines(output)
    assert_clean(output.getvalue())
    assert record["message"] == f"delivery failed for key {MASK}"
    assert "RuntimeError: POST https://api.telegram.org/bot***/sendMessage failed; fal key ***" in record["exception"]
    assert "Traceback (most recent call last)" in record["exception"]


def test_context_ids_are_carried_while_set(output: io.StringIO) -> None:
    log = logging.getLogger("medialab.test")
    with log_context(request_id="req-1"):
        with log_context(update_id=4242, operation_id="op-9"):
            log.info("inner")
        log.info("outer")
    log.info("none")
    inner, outer, none = lines(output)
    assert {k: inner[k] for k in ("request_id", "update_id", "operation_id")} == {
        "request_id": "req-1", "update_id": "4242", "operation_id": "op-9"}
    assert outer["request_id"] == "req-1" and "update_id" not in outer and "operation_id" not in outer
    assert not {"request_id", "update_id", "operation_id"} & set(none)
    assert (inner["level"], inner["logger"], inner["message"]) == ("INFO", "medialab.test", "inner")


def test_a_terminal_gets_readable_lines() -> None:
    stream = Terminal()
    handler = configure_logging(secret_settings(LOG_LEVEL="warning"), stream=stream)
    try:
        log = logging.getLogger("medialab.test")
        log.info("below the level")
        with log_context(operation_id="op-7"):
            log.warning("token %s", BOT_TOKEN)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    [line] = stream.getvalue().splitlines()
    assert line.endswith(f"WARNING medialab.test: token {MASK} [operation_id=op-7]")
    assert not line.startswith("{")


async def test_httpx_request_lines_do_not_show_the_bot_token(telegram_url: str) -> None:
    """httpx logs every request URL at INFO: a Bot API URL carries the token in its path."""
    async with httpx.AsyncClient() as client:
        with capture() as output:
            response = await client.get(f"{telegram_url}/bot{BOT_TOKEN}/getMe")
    assert response.json()["ok"] is True
    request_lines = [r["message"] for r in lines(output) if r["logger"] == "httpx"]
    assert request_lines and f"/bot{MASK}/getMe" in request_lines[0]
    assert_clean(output.getvalue())


async def test_requests_get_an_id_in_logs_and_in_the_response(
    output: io.StringIO, database_url: str, refused_port: int
) -> None:
    port = refused_port
    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{port}/0"},
                                 env_file=None)
    async with serve_in_loop(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        given = await client.get("/metrics", headers={"X-Request-ID": "edge-42"})
        forged = await client.get("/metrics", headers={"X-Request-ID": "bad id\"}"})
    assert given.headers["x-request-id"] == "edge-42"
    fresh = forged.headers["x-request-id"]
    assert len(fresh) == 32 and fresh != "edge-42"
    warnings = [r for r in lines(output) if r["logger"] == "medialab.jobs.metrics_server"]  # the queue unread
    assert [r["request_id"] for r in warnings] == ["edge-42", fresh]


async def test_records_of_an_update_carry_its_id(telegram: BotApiSandbox) -> None:
    # `telegram` only builds the updates here; nothing is served.
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        logging.getLogger("medialab.bot.test").info("handling %s", message.text)

    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(UpdateLogContext())
    dispatcher.include_router(router)
    bot = Bot(BOT_TOKEN)
    with capture() as output:
        try:
            for text in ("first", "second"):
                update = Update.model_validate(telegram.message_update(42, text), context={"bot": bot})
                await dispatcher.feed_update(bot, update)
        finally:
            await bot.session.close()
        logging.getLogger("medialab.bot.test").info("after")
    handled = [r for r in lines(output) if r["logger"] == "medialab.bot.test"]
    assert [(r["message"], r.get("update_id")) for r in handled] == [
        ("handling first", "1"), ("handling second", "2"), ("after", None)]
    assert_clean(output.getvalue())  # aiogram's own lines name the bot by id only


def test_the_access_log_leaves_out_accepted_updates_and_refusals(output: io.StringIO) -> None:
    with uvicorn_loggers_as_under_medialab_serve():
        # uvicorn's access line, as its h11 and httptools protocols write it.
        access = logging.getLogger("uvicorn.access")
        for method, path, status in (("POST", "/telegram/webhook", 200), ("POST", "/telegram/webhook", 403),
                                     ("POST", "/yookassa/webhook", 200), ("GET", "/nowhere", 404),
                                     ("POST", "/telegram/webhook", 500), ("GET", "/health", 200)):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", method, path, "1.1", status)
    # Refusals are counted and logged in summary by the app (tests/ops/test_refusal_flood.py).
    assert [r["message"] for r in lines(output)] == [
        '127.0.0.1:5000 - "POST /yookassa/webhook HTTP/1.1" 200',
        '127.0.0.1:5000 - "POST /telegram/webhook HTTP/1.1" 500',
        '127.0.0.1:5000 - "GET /health HTTP/1.1" 200',
    ]


@contextmanager
def uvicorn_loggers_as_under_medialab_serve() -> Iterator[None]:
    """`medialab serve` runs uvicorn with log_config=None: its records reach the root handler.
    A stand-in served earlier in the session applied uvicorn's own config (handlers of its own,
    no propagation); undone for the block."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access")]
    saved = [(logger.level, logger.propagate, logger.handlers[:]) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.propagate, logger.handlers[:] = True, []
    try:
        yield
    finally:
        for logger, (level, propagate, handlers) in zip(loggers, saved, strict=True):
            logger.setLevel(level)
            logger.propagate, logger.handlers[:] = propagate, handlers


async def test_a_clients_ordinary_mistakes_are_answered_without_an_error_in_the_logs(
    output: io.StringIO, database_url: str, redis: object
) -> None:
    from conftest import REDIS_TEST_URL

    settings = Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL,
                                  "TELEGRAM_BOT_TOKEN": "42:not-a-real-token", "TELEGRAM_WEBHOOK_SECRET": "s"},
                                 env_file=None)
    async with serve_in_loop(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await client.get("/telegram/webhook")).status_code == 405
        too_large = await client.post("/telegram/webhook", content=b"x" * (2 * 1024 * 1024),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
        assert too_large.status_code == 413
        assert (await client.get("/health")).status_code == 200
    records = lines(output)
    assert records  # the app did log (start-up, requests)
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL") or "exception" in r] == []
