"""Puts the user's texts and language into the handler data of every update.

Telegram's current language_code decides, not the one stored at registration: a user who
switches Telegram to English gets English from the next message on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from medialab.bot.texts import language_of, texts_for


class LocaleMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        code = user.language_code if user is not None else None
        data["language"] = language_of(code)
        data["texts"] = texts_for(code)
        return await handler(event, data)
