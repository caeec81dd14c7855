"""mode:retouch and mode:upscale — every photo is a new paid operation (a caption, if any,
goes along as a wish)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.state import State
from aiogram.types import Message

from medialab.bot.filters import HAS_PHOTO
from medialab.bot.chat_orders import ChatOrder, largest_photo
from medialab.bot.states import RetouchStates, UpscaleStates
from medialab.domain.operations import OperationType

FLOWS: tuple[tuple[OperationType, State], ...] = (
    (OperationType.RETOUCH, RetouchStates.photo),
    (OperationType.UPSCALE, UpscaleStates.photo),
)


def create_router() -> Router:
    router = Router(name="single_photo")
    for operation, waiting in FLOWS:
        router.message.register(_photo_handler(operation), StateFilter(waiting), HAS_PHOTO, flags={"billing": operation.value})
    return router


def _photo_handler(operation: OperationType):  # type: ignore[no-untyped-def]
    async def take_photo(message: Message) -> ChatOrder:
        caption = (message.caption or "").strip() or None
        return ChatOrder(prompt=caption, photos=(largest_photo(message.photo or []),))

    take_photo.__name__ = f"take_{operation.value}_photo"
    return take_photo
