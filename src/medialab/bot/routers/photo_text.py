"""mode:edit (paid) and mode:add_text (free): a photo and a text, as a captioned photo or as a
photo followed by a text message. The mode stays: the next photo starts a new operation.
Both go through billing: add_text costs nothing but holds one of the user's in-flight slots."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import Message

from medialab.bot.filters import CAPTIONED_PHOTO, HAS_PHOTO, PROMPT_TEXT
from medialab.bot.chat_orders import ChatOrder, largest_photo
from medialab.bot.states import AddTextStates, EditStates
from medialab.bot.texts import Texts
from medialab.domain.operations import OperationType

PHOTO = "photo"


@dataclass(frozen=True)
class PhotoAndText:
    operation: OperationType
    waiting_photo: State
    waiting_text: State
    ask_text_key: str


FLOWS = (
    PhotoAndText(OperationType.EDIT, EditStates.photo, EditStates.instruction, "need-instruction"),
    PhotoAndText(OperationType.ADD_TEXT, AddTextStates.photo, AddTextStates.text, "need-overlay-text"),
)


def create_router() -> Router:
    router = Router(name="photo_text")
    for flow in FLOWS:
        flags = {"billing": flow.operation.value}
        either = StateFilter(flow.waiting_photo, flow.waiting_text)
        router.message.register(_from_caption(flow), either, CAPTIONED_PHOTO, flags=flags)
        router.message.register(_remember_photo(flow), either, HAS_PHOTO)
        router.message.register(_from_text(flow), StateFilter(flow.waiting_text), PROMPT_TEXT, flags=flags)
    return router


def _order(flow: PhotoAndText, state: FSMContext, photo: str, text: str) -> ChatOrder:
    return ChatOrder(prompt=text, photos=(photo,), then=partial(_next_photo, flow, state))


async def _next_photo(flow: PhotoAndText, state: FSMContext) -> None:
    await state.set_data({})
    await state.set_state(flow.waiting_photo)


def _from_caption(flow: PhotoAndText):  # type: ignore[no-untyped-def]
    async def photo_with_caption(message: Message, state: FSMContext) -> ChatOrder:
        return _order(flow, state, largest_photo(message.photo or []), (message.caption or "").strip())

    return photo_with_caption


def _from_text(flow: PhotoAndText):  # type: ignore[no-untyped-def]
    async def text_after_photo(message: Message, state: FSMContext) -> ChatOrder:
        photo = (await state.get_data())[PHOTO]
        return _order(flow, state, photo, (message.text or "").strip())

    return text_after_photo


def _remember_photo(flow: PhotoAndText):  # type: ignore[no-untyped-def]
    async def photo_without_caption(message: Message, state: FSMContext, texts: Texts) -> None:
        await state.update_data({PHOTO: largest_photo(message.photo or [])})
        await state.set_state(flow.waiting_text)
        await message.answer(texts(flow.ask_text_key))

    return photo_without_caption
