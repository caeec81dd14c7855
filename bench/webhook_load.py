"""The load of bench/webhook.py: simulated Telegram users posting updates to a webhook, each
waiting until the bot's reply reaches the Bot API stand-in before sending the next one, so
that what is timed is the whole handling of an update, not only the webhook's quick 200.
(Telegram's own load, connections that wait only for the webhook's answer, is in
bench/webhook_telegram.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from medialab.sandbox.telegram import BotApiSandbox
from medialab.sandbox.telegram_wire import MethodCall, decode_value

# The bench's own modules: run as a script, its folder is first on sys.path.
from timing import Measurement

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REPLY_TIMEOUT_SECONDS = 60.0


class Webhook:
    """Posts updates as Telegram does, over one keep-alive connection pool; like Telegram, it
    performs a method call that the bot put in its answer ({"method": "sendMessage", ...}) at
    the Bot API stand-in, when given one."""

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str | None,
                 telegram: BotApiSandbox | None = None) -> None:
        self.http = http
        self.url = url
        self.headers = {SECRET_HEADER: secret} if secret else {}
        self.telegram = telegram

    async def post(self, update: dict[str, Any]) -> None:
        async with self.http.post(self.url, json=update, headers=self.headers) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}: {await response.text()}")
            body = await response.read()
            if self.telegram is not None and body and response.content_type == "application/json":
                perform_webhook_reply(self.telegram, await response.json())


def perform_webhook_reply(telegram: BotApiSandbox, body: object) -> None:
    """What Telegram does with a webhook's answer: a method call in it is performed, its result dropped."""
    if isinstance(body, dict) and isinstance(body.get("method"), str):
        params = {name: decode_value(name, value) for name, value in body.items() if name != "method"}
        telegram.perform(body["method"], MethodCall(params))


async def send_and_wait(webhook: Webhook, telegram: BotApiSandbox, chat_id: int, update: dict[str, Any]) -> float:
    """Delivers one update and waits for the bot's next message to the chat; the seconds it took."""
    mark = telegram.checkpoint()
    started = time.perf_counter()
    await webhook.post(update)
    await telegram.wait_for("sendMessage", lambda call: call.chat_id == chat_id, REPLY_TIMEOUT_SECONDS, mark)
    return time.perf_counter() - started


UpdateFor = Callable[[int, int], dict[str, Any]]  # (chat id, n-th update of that chat) -> update


async def users_sending(
    webhook: Webhook, telegram: BotApiSandbox, chat_ids: list[int], per_user: int, update_for: UpdateFor
) -> Measurement:
    """Every user at once, each sending `per_user` updates one after the other."""
    latencies: list[float] = []

    async def user(chat_id: int) -> None:
        for n in range(per_user):
            latencies.append(await send_and_wait(webhook, telegram, chat_id, update_for(chat_id, n)))

    started = time.perf_counter()
    await asyncio.gather(*(user(chat_id) for chat_id in chat_ids))
    return Measurement(time.perf_counter() - started, latencies, results=[])


async def health_rate(http: aiohttp.ClientSession, url: str, concurrency: int, requests: int) -> Measurement:
    """GET /health from `concurrency` clients: the server's ceiling for a request that does nothing."""
    left = iter(range(requests))
    latencies: list[float] = []

    async def client() -> None:
        for _ in left:
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"/health answered {response.status}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Measurement(time.perf_counter() - started, latencies, results=[])
