"""Last in line: a message no handler took gets a hint for the current mode; a button that no
longer means anything is said to be stale."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from medialab.bot.modes import HINTS, MERGE_MAX_PHOTOS
from medialab.bot.routers.merge import PHOTOS
from medialab.bot.texts import Texts
from medialab.bot.views import reply


def create_router() -> Router:
    router = Router(name="fallback")
    router.message.register(hint)
    router.callback_query.register(stale_button)
    return router


async def hint(message: Message, state: FSMContext, texts: Texts) -> None:
    current = await state.get_state()
    photos = len((await state.get_data()).get(PHOTOS, []))
    await message.answer(texts(HINTS.get(current, "no-mode"), count=photos, max=MERGE_MAX_PHOTOS))


async def stale_button(callback: CallbackQuery, texts: Texts) -> None:
    await reply(callback, texts("stale-button"))
