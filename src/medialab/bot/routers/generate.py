"""mode:generate — every text prompt is a new paid operation."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.methods import SendMessage
from aiogram.types import Message

from medialab.bot.filters import PROMPT_TEXT
from medialab.bot.operations import Ticket, launch
from medialab.bot.states import GenerateStates
from medialab.bot.texts import Texts
from medialab.domain.operations import OperationType
from medialab.services import Services


def create_router() -> Router:
    router = Router(name="generate")
    router.message.register(generate, StateFilter(GenerateStates.prompt), PROMPT_TEXT,
                            flags={"billing": OperationType.GENERATE.value})
    return router


async def generate(message: Message, services: Services, texts: Texts, language: str, ticket: Ticket) -> SendMessage | None:
    return await launch(message, services, texts, language, ticket, OperationType.GENERATE,
                        prompt=(message.text or "").strip())
