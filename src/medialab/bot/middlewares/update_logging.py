"""An aiogram outer middleware: every record logged while an update is handled carries its
update_id (see medialab.logs). Register once: `dispatcher.update.outer_middleware(UpdateLogContext())`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from medialab.logs import log_context


class UpdateLogContext(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        update_id = getattr(event, "update_id", None)
        if update_id is None:
            return await handler(event, data)
        with log_context(update_id=update_id):
            return await handler(event, data)
