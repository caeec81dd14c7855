"""The bot works in private chats with people; everything else is left alone before any
handler, filter or lookup runs.

- In a group, supergroup or channel the bot shows no balance and charges nothing: a command
  gets one line pointing to the private chat, anything else (messages, service messages,
  buttons of an old menu) is ignored.
- A message without a sender (an anonymous group admin, a channel post) is ignored quietly.
- A sender that is a bot gets no account and no free operations: ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject

from medialab.bot.texts import Texts

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class PrivateChatsOnly(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = getattr(event, "from_user", None)
        if sender is None or sender.is_bot:
            log.info("ignored: an update without a sender, or from a bot")
            return None
        chat = event.chat if isinstance(event, Message) else (
            event.message.chat if isinstance(event, CallbackQuery) and event.message is not None else None)
        if chat is None or chat.type == ChatType.PRIVATE:
            return await handler(event, data)
        if isinstance(event, Message) and (event.text or "").startswith("/"):
            texts: Texts = data["texts"]
            return event.answer(texts("private-chat-only"))
        return None
