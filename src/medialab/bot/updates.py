"""Handles webhook updates before the webhook answers: Telegram's redelivery is the durable
queue, so an update is acknowledged only once its handlers have finished.

Under load nothing is refused. At most `limit` updates are handled at once in a process; the
others wait for a slot, so what is in hand goes on at full speed however many requests arrive.
Updates of one chat run one at a time and in the order they arrived (a user's mode must be set
before their next message is read), and a chat's waiting updates wait for their chat's turn
before they take a slot: one chat pressing buttons as fast as it can holds at most one slot,
never the capacity of the others. Across processes the chat's Redis lock (bot/fsm.py) keeps the
same order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod
from aiogram.types import Update

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_SECONDS = 25.0

ChatKey = tuple[int | None, int | None]


class UpdateFailed(Exception):
    """The update could not be handled now (the database away, a deadline passed): the webhook
    answers 5xx and Telegram delivers it again; every handler is idempotent under that."""


@dataclass
class _ChatTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class UpdateRunner:
    def __init__(self, dispatcher: Dispatcher, bot: Bot, limit: int) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._chats: dict[ChatKey, _ChatTurn] = {}
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_hand(self) -> int:
        """Updates received and not yet answered: handled now, or waiting for their turn."""
        return self._in_hand

    @staticmethod
    def chat_key(update: Update) -> ChatKey:
        context = UserContextMiddleware.resolve_event_context(update)
        return (context.chat.id if context.chat else None, context.user.id if context.user else None)

    async def handle(self, update: Update) -> TelegramMethod[Any] | None:
        """Runs the update's handlers; returns the method a handler left to answer with (it
        travels in the webhook's answer), or raises UpdateFailed."""
        self._in_hand += 1
        self._idle.clear()
        try:
            async with self._chat_turn(self.chat_key(update)), self._slots:
                return await self._feed(update)
        finally:
            self._in_hand -= 1
            if self._in_hand == 0:
                self._idle.set()

    @asynccontextmanager
    async def _chat_turn(self, key: ChatKey) -> AsyncIterator[None]:
        if key == (None, None):  # no chat or user (none we subscribe to): no order to keep
            yield
            return
        turn = self._chats.get(key)
        if turn is None:
            turn = self._chats[key] = _ChatTurn()
        turn.waiting += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                del self._chats[key]

    async def _feed(self, update: Update) -> TelegramMethod[Any] | None:
        try:
            result = await self.dispatcher.feed_update(self.bot, update)
        except TelegramForbiddenError:
            log.info("update %s: the user blocked the bot", update.update_id)
            return None
        except TelegramBadRequest as exc:
            # Telegram refused a reply for good (a message gone, a query expired): sending the
            # update again would be refused the same way.
            log.warning("update %s: Telegram refused a reply: %s", update.update_id, exc.message)
            return None
        except Exception as exc:
            log.exception("update %s failed: Telegram will deliver it again", update.update_id)
            raise UpdateFailed(str(exc)) from exc
        return result if isinstance(result, TelegramMethod) else None

    async def send_reply(self, update: Update, method: TelegramMethod[Any]) -> None:
        """Makes the call a handler left as its reply, where no webhook answer carries it; a
        refusal is logged: the update itself was handled."""
        try:
            await self.bot(method)
        except TelegramAPIError as exc:
            log.warning("update %s: its reply was not sent: %s", update.update_id, exc.message)

    async def drain(self, timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
        """Waits for the updates in hand (the server has stopped taking requests). What is not
        finished by then was not answered, so Telegram delivers it again."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("shutdown: %d update(s) still in hand after %.0f s", self._in_hand, timeout)
