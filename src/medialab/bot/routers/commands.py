"""/start, /help, /cancel and /balance: they work in any state, so this router comes first."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message

from medialab.bot.filters import LooksLikeCommand
from medialab.bot.keyboards import main_menu, topup_button
from medialab.bot.texts import Texts
from medialab.bot.views import account_lines, price_text
from medialab.services import Services


def create_router() -> Router:
    router = Router(name="commands")
    router.message.filter(LooksLikeCommand())
    router.message.register(start, CommandStart())
    router.message.register(show_help, Command("help"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(balance, Command("balance"))
    return router


async def start(message: Message, state: FSMContext, services: Services, texts: Texts, language: str) -> SendMessage:
    # /start leaves whatever mode or question was open.
    await state.clear()
    user = await services.billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    greeting = texts("start-greeting", name=message.from_user.first_name,  # type: ignore[union-attr]
                     price=price_text(texts, services.billing.prices), total=user.free_operations_total)
    text = "\n\n".join((greeting, account_lines(texts, user, services.billing.prices), texts("start-choose")))
    return message.answer(text, reply_markup=main_menu(texts, services.billing.prices))


async def show_help(message: Message, services: Services, texts: Texts) -> SendMessage:
    return message.answer(texts("help", price=price_text(texts, services.billing.prices),
                               free=services.settings.free_operations_count))


async def cancel(message: Message, state: FSMContext, texts: Texts) -> SendMessage:
    if await state.get_state() is None:
        return message.answer(texts("cancel-nothing"))
    await state.clear()
    return message.answer(texts("cancel-done"))


async def balance(message: Message, services: Services, texts: Texts, language: str) -> SendMessage:
    user = await services.billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    return message.answer(account_lines(texts, user, services.billing.prices), reply_markup=topup_button(texts))
