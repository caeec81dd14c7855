"""Message and button filters shared by the routers.

aiogram runs a filter that is a plain callable in a worker thread (asyncio.to_thread), and both
a magic filter (`F.…`) and a bare `State` are such callables: a thread hop for each update each
router looks at, for a check of a few attribute reads (bench/webhook.py, py-spy). So the bot
registers magic filters through `OnLoop` and states through aiogram's `StateFilter`, both
checked on the event loop; tests/bot/test_routing.py holds every router to it.
"""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from magic_filter import MagicFilter

from medialab.settings import Settings


class OnLoop(Filter):
    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        # What the magic filter resolves to, as aiogram would use it: falsy refuses the event.
        return self.magic.resolve(event)


# A prompt is text that is not blank and not a command (a command is never an operation).
PROMPT_TEXT = OnLoop(F.text & ~F.text.startswith("/") & F.text.strip())
CAPTIONED_PHOTO = OnLoop(F.photo & F.caption.strip())
HAS_PHOTO = OnLoop(F.photo)


class LooksLikeCommand(Filter):
    """Text or caption starting with "/", what aiogram's Command filters can match: checked once
    on a router of commands, it lets every other message past without each Command parsing it."""

    async def __call__(self, message: Message) -> bool:
        return (message.text or message.caption or "").startswith("/")


def data_is(value: str) -> OnLoop:
    """A button press with exactly this callback data."""
    return OnLoop(F.data == value)


def data_starts_with(prefix: str) -> OnLoop:
    return OnLoop(F.data.startswith(prefix))


class IsAdmin(Filter):
    """The sender is an operator: their Telegram id is in ADMIN_TELEGRAM_IDS."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        return event.from_user is not None and event.from_user.id in settings.admin.telegram_ids
