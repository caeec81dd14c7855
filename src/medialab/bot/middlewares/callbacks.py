"""Answers every button press before its handler runs, so the user's spinner stops at once
even when the handler waits on YooKassa. A press too old to answer (it waited behind other
updates) is still handled: the answer is only cosmetic."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, TelegramObject

log = logging.getLogger(__name__)


class AnswerCallbacksMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, CallbackQuery):
            try:
                await event.answer()
            except TelegramAPIError as exc:  # too old, or Telegram away: cosmetic either way
                log.info("callback query %s not answered: %s", event.id, exc.message)
        return await handler(event, data)
