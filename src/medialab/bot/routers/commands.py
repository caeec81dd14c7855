"""/start (with its deep links), /help, /cancel, /balance, /promo and /invite: they work in any state,
so this router comes first."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import Message

from medialab.bot.filters import LooksLikeCommand
from medialab.bot.keyboards import main_menu, topup_button
from medialab.bot.routers import promo
from medialab.bot.texts import Texts
from medialab.bot.views import account_lines, price_text
from medialab.domain.promo import StartAsks, start_payload
from medialab.billing.service import BillingService
from medialab.settings import Settings


def create_router() -> Router:
    router = Router(name="commands")
    router.message.filter(LooksLikeCommand())
    router.message.register(start, CommandStart())
    router.message.register(show_help, Command("help"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(balance, Command("balance"))
    router.message.register(promo.redeem, Command("promo"))
    router.message.register(promo.invite, Command("invite"))
    return router


async def start(message: Message, command: CommandObject, state: FSMContext, billing: BillingService, texts: Texts,
                language: str) -> SendMessage:
    # /start leaves whatever mode or question was open.
    await state.clear()
    # A deep link's payload: a referral counts only for a user created by this very /start.
    asks = start_payload(command.args)
    referral = asks[1] if asks is not None and asks[0] is StartAsks.REFERRAL else None
    user = await billing.get_or_create_user(message.from_user.id, language, referral)  # type: ignore[union-attr]
    promo_text = None
    if asks is not None and asks[0] is StartAsks.PROMO:
        promo_text = await promo.promo_answer(billing, texts, user.user_id, asks[1])
        user = await billing.get_user_info(user.telegram_id) or user  # with what the code gave
    greeting = texts("start-greeting", name=message.from_user.first_name,  # type: ignore[union-attr]
                     price=price_text(texts, billing.prices), total=user.free_operations_total)
    parts = (greeting, promo_text, account_lines(texts, user, billing.prices), texts("start-choose"))
    return message.answer("\n\n".join(part for part in parts if part), reply_markup=main_menu(texts, billing.prices))


async def show_help(message: Message, billing: BillingService, settings: Settings, texts: Texts) -> SendMessage:
    return message.answer(texts("help", price=price_text(texts, billing.prices),
                               free=settings.billing.free_operations_count))


async def cancel(message: Message, state: FSMContext, texts: Texts) -> SendMessage:
    if await state.get_state() is None:
        return message.answer(texts("cancel-nothing"))
    await state.clear()
    return message.answer(texts("cancel-done"))


async def balance(message: Message, billing: BillingService, texts: Texts, language: str) -> SendMessage:
    user = await billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    return message.answer(account_lines(texts, user, billing.prices), reply_markup=topup_button(texts))
