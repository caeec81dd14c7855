"""mode:merge — photos are collected (up to MERGE_MAX_PHOTOS); the "merge" button or a text
saying how to merge them starts the paid operation, once there are at least two."""

from __future__ import annotations

from functools import partial

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject

from medialab.bot.filters import HAS_PHOTO, PROMPT_TEXT, data_is
from medialab.bot.keyboards import MERGE_GO, merge_button
from medialab.bot.modes import MERGE_MAX_PHOTOS
from medialab.bot.chat_orders import ChatOrder, largest_photo
from medialab.bot.states import MergeStates
from medialab.bot.texts import Texts
from medialab.domain.operations import OperationType

MERGE_MIN_PHOTOS = 2
PHOTOS, PROMPT = "photos", "prompt"
BILLING = {"billing": OperationType.MERGE.value}


def create_router() -> Router:
    router = Router(name="merge")
    router.message.register(add_photo, StateFilter(MergeStates.photos), HAS_PHOTO)
    # The filter runs before the billing middleware: too few photos are never charged.
    router.callback_query.register(merge_by_button, StateFilter(MergeStates.photos), data_is(MERGE_GO), enough_photos, flags=BILLING)
    router.message.register(merge_by_text, StateFilter(MergeStates.photos), PROMPT_TEXT, enough_photos, flags=BILLING)
    return router


async def enough_photos(_: TelegramObject, state: FSMContext) -> bool:
    return len((await state.get_data()).get(PHOTOS, [])) >= MERGE_MIN_PHOTOS


async def add_photo(message: Message, state: FSMContext, texts: Texts) -> None:
    data = await state.get_data()
    photos: list[str] = data.get(PHOTOS, [])
    if len(photos) >= MERGE_MAX_PHOTOS:
        await message.answer(texts("merge-too-many", max=MERGE_MAX_PHOTOS), reply_markup=merge_button(texts, len(photos)))
        return
    photos.append(largest_photo(message.photo or []))
    caption = (message.caption or "").strip()
    await state.update_data({PHOTOS: photos, **({PROMPT: caption} if caption else {})})
    if len(photos) < MERGE_MIN_PHOTOS:
        await message.answer(texts("merge-first-photo"))
    else:
        await message.answer(texts("merge-photo-added", count=len(photos)), reply_markup=merge_button(texts, len(photos)))


async def merge_by_button(_: CallbackQuery, state: FSMContext) -> ChatOrder:
    data = await state.get_data()
    return _merge(state, data[PHOTOS], data.get(PROMPT))


async def merge_by_text(message: Message, state: FSMContext) -> ChatOrder:
    photos = (await state.get_data())[PHOTOS]
    return _merge(state, photos, (message.text or "").strip())


def _merge(state: FSMContext, photos: list[str], prompt: str | None) -> ChatOrder:
    # Once started, the mode stays and the next photos make a new set.
    return ChatOrder(prompt=prompt, photos=tuple(photos), then=partial(state.set_data, {}))
