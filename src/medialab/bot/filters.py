"""Message filters shared by the routers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

if TYPE_CHECKING:
    from medialab.services import Services

# A prompt is text that is not blank and not a command (a command is never an operation).
PROMPT_TEXT = F.text & ~F.text.startswith("/") & F.text.strip()
CAPTIONED_PHOTO = F.photo & F.caption.strip()


class IsAdmin(Filter):
    """The sender is an operator: their Telegram id is in ADMIN_TELEGRAM_IDS."""

    async def __call__(self, event: Message | CallbackQuery, services: Services) -> bool:
        return event.from_user is not None and event.from_user.id in services.settings.admin_telegram_ids
