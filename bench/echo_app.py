"""The baseline of bench/webhook.py: a bare aiogram 3 echo bot in Litestar, the least a webhook
bot can do. One route feeds a Dispatcher with one handler, which returns the text back as a
SendMessage; it is served by uvicorn the way `medialab serve` is. Two ways to answer Telegram:

  --answer inline       handles the update first, then answers 200 with the reply in the body,
                        {"method": "sendMessage", "chat_id": ..., "text": ...}, which Telegram
                        performs (JSON, which Telegram accepts beside aiogram's multipart);
  --answer background   answers 200 at once and handles the update in a background task, which
                        sends the reply by a Bot API call (what the bench's echo did before).

    python bench/echo_app.py --port 8001 [--answer inline]
    (TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL from the environment)
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import InputFile, Message, Update
from litestar import Litestar, Request, post

ANSWERS = ("inline", "background")

router = Router()


@router.message()
async def echo(message: Message) -> SendMessage:
    return message.answer(message.text or "")


def webhook_reply(bot: Bot, result: object) -> dict[str, Any]:
    """A handler's TelegramMethod as the webhook's JSON answer, its parameters prepared as
    aiogram prepares them for its own (multipart) webhook answers: defaults resolved, unset ones
    left out. Anything else answers {} (nothing for Telegram to do)."""
    if not isinstance(result, TelegramMethod):
        return {}
    files: dict[str, InputFile] = {}
    params = bot.session.prepare_value(result.model_dump(warnings=False), bot=bot, files=files, _dumps_json=False)
    if files:
        raise ValueError(f"{result.__api_method__} uploads files: it cannot be a JSON webhook answer")
    return {"method": result.__api_method__, **params}


def create_app(token: str, api_url: str, answer: str = "inline") -> Litestar:
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    running: set[asyncio.Task[object]] = set()

    async def handle_and_send(update: Update) -> None:
        result = await dispatcher.feed_update(bot, update)
        if isinstance(result, TelegramMethod):
            await bot(result)

    @post("/webhook", status_code=200)
    async def webhook(request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
        update = Update.model_validate_json(await request.body(), context={"bot": bot})
        if answer == "inline":
            return webhook_reply(bot, await dispatcher.feed_update(bot, update))
        task = asyncio.create_task(handle_and_send(update))
        running.add(task)
        task.add_done_callback(running.discard)
        return {"ok": True}

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await bot.session.close()

    return Litestar([webhook], lifespan=[lifespan], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--answer", choices=ANSWERS, default="inline")
    args = parser.parse_args()
    app = create_app(os.environ["TELEGRAM_BOT_TOKEN"], os.environ["TELEGRAM_API_URL"], args.answer)
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False, log_config=None, log_level="warning")


if __name__ == "__main__":
    main()
