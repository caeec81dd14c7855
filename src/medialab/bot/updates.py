"""Runs webhook updates in the background, so that the webhook answers Telegram at once.

Telegram sends an update again when the answer is slow, so no handler runs while Telegram waits.
Each update becomes a task that is tracked until it ends; updates of one chat run in the order
they arrived (a user's mode must be set before their next message is read); shutdown waits for
the tasks that are running, up to a limit.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import Update

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_SECONDS = 25.0
# Past this many unfinished updates the webhook asks Telegram to come back later.
MAX_PENDING_UPDATES = 1000


class UpdateRunner:
    def __init__(self, dispatcher: Dispatcher, bot: Bot) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_of_chat: dict[tuple[int | None, int | None], asyncio.Task[None]] = {}
        self._closing = False

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def accepts(self) -> bool:
        return not self._closing and len(self._tasks) < MAX_PENDING_UPDATES

    @staticmethod
    def _chat_key(update: Update) -> tuple[int | None, int | None]:
        context = UserContextMiddleware.resolve_event_context(update)
        return (context.chat.id if context.chat else None, context.user.id if context.user else None)

    async def run_now(self, update: Update) -> None:
        """Handles the update before the webhook answers, and raises when it fails: for updates
        that carry money (a successful Stars payment), so that a failure (the database away)
        makes Telegram deliver the update again instead of losing it. Crediting is idempotent."""
        previous = self._last_of_chat.get(self._chat_key(update))
        if previous is not None:
            await asyncio.wait([previous])
        await self.dispatcher.feed_update(self.bot, update)

    def submit(self, update: Update) -> None:
        key = self._chat_key(update)
        # Updates without a chat or user (none we subscribe to) need no order.
        previous = self._last_of_chat.get(key) if key != (None, None) else None
        task = asyncio.create_task(self._run(update, previous), name=f"update-{update.update_id}")
        self._tasks.add(task)
        self._last_of_chat[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: tuple[int | None, int | None], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last_of_chat.get(key) is task:
            del self._last_of_chat[key]

    async def _run(self, update: Update, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own; only the order matters
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except TelegramForbiddenError:
            log.info("update %s: the user blocked the bot", update.update_id)
        except Exception:
            log.exception("update %s failed", update.update_id)

    async def drain(self, timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
        """Stops taking updates and waits for those in hand; cancels what is left after timeout."""
        self._closing = True
        if not self._tasks:
            return
        _, left = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in left:
            task.cancel()
        if left:
            log.warning("shutdown: %d update(s) cancelled after %.0f s", len(left), timeout)
            await asyncio.wait(left)
