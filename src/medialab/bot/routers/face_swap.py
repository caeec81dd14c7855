"""mode:face_swap — two photos: the face first, then the photo to put it in. The second photo
starts the paid operation; the next photo starts a new pair."""

from __future__ import annotations

from functools import partial

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject

from medialab.bot.chat_orders import ChatOrder, largest_photo
from medialab.bot.states import FaceSwapStates
from medialab.bot.texts import Texts
from medialab.domain.operations import OperationType
from medialab.bot.filters import HAS_PHOTO

FACE = "face"


def create_router() -> Router:
    router = Router(name="face_swap")
    router.message.register(take_target, StateFilter(FaceSwapStates.target), HAS_PHOTO, has_face,
                            flags={"billing": OperationType.FACE_SWAP.value})
    # Without a face kept (the conversation expired), a photo is taken as the face again.
    router.message.register(take_face, StateFilter(FaceSwapStates.face, FaceSwapStates.target), HAS_PHOTO)
    return router


async def has_face(_: TelegramObject, state: FSMContext) -> bool:
    return FACE in await state.get_data()


async def take_face(message: Message, state: FSMContext, texts: Texts) -> None:
    await state.update_data({FACE: largest_photo(message.photo or [])})
    await state.set_state(FaceSwapStates.target)
    await message.answer(texts("face-swap-got-face"))


async def take_target(message: Message, state: FSMContext) -> ChatOrder:
    face = (await state.get_data())[FACE]
    caption = (message.caption or "").strip() or None
    return ChatOrder(prompt=caption, photos=(face, largest_photo(message.photo or [])), then=partial(_next_pair, state))


async def _next_pair(state: FSMContext) -> None:
    await state.set_data({})
    await state.set_state(FaceSwapStates.face)
