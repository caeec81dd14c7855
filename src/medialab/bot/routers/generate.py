"""mode:generate — every text prompt is a new paid operation."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import Message

from medialab.bot.filters import PROMPT_TEXT
from medialab.bot.chat_orders import ChatOrder
from medialab.bot.states import GenerateStates
from medialab.domain.operations import OperationType


def create_router() -> Router:
    router = Router(name="generate")
    router.message.register(generate, StateFilter(GenerateStates.prompt), PROMPT_TEXT,
                            flags={"billing": OperationType.GENERATE.value})
    return router


async def generate(message: Message) -> ChatOrder:
    return ChatOrder(prompt=(message.text or "").strip())
