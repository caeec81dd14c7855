"""The baseline of bench/webhook.py: a bare aiogram 3 echo bot in Litestar, the least a webhook
bot can do. One route feeds a Dispatcher with one handler that sends the text back; like ours,
it answers Telegram at once and handles the update in a background task, and it is served by
uvicorn the way `medialab serve` is.

    python bench/echo_app.py --port 8001   (TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL from the environment)
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from litestar import Litestar, Request, post

router = Router()


@router.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "")


def create_app(token: str, api_url: str) -> Litestar:
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    running: set[asyncio.Task[object]] = set()

    @post("/webhook", status_code=200)
    async def webhook(request: Request) -> dict[str, bool]:  # type: ignore[type-arg]
        update = Update.model_validate_json(await request.body(), context={"bot": bot})
        task = asyncio.create_task(dispatcher.feed_update(bot, update))
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
    args = parser.parse_args()
    app = create_app(os.environ["TELEGRAM_BOT_TOKEN"], os.environ["TELEGRAM_API_URL"])
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False, log_config=None, log_level="warning")


if __name__ == "__main__":
    main()
