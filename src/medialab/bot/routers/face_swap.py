"""mode:face_swap — two photos: the face first, then the photo to put it in. The second photo
starts the paid operation; the next photo starts a new pair."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message, TelegramObject

from medialab.bot.operations import Ticket, largest_photo, launch
from medialab.bot.states import FaceSwapStates
from medialab.bot.texts import Texts
from medialab.domain.operations import OperationType
from medialab.services import Services
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


async def take_target(message: Message, state: FSMContext, services: Services, texts: Texts,
                      language: str, ticket: Ticket) -> SendMessage | None:
    face = (await state.get_data())[FACE]
    caption = (message.caption or "").strip() or None
    started = await launch(message, services, texts, language, ticket, OperationType.FACE_SWAP,
                           prompt=caption, photos=[face, largest_photo(message.photo or [])])
    await state.set_data({})
    await state.set_state(FaceSwapStates.face)
    return started
