"""The payment menu: balance, the top-up buttons, a custom amount and its question."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from medialab.bot.amounts import AmountRefused, read_amount
from medialab.bot.keyboards import (
    PAYMENT_AMOUNT_PREFIX,
    PAYMENT_CANCEL,
    PAYMENT_CUSTOM,
    PAYMENT_MENU,
    payment_menu,
)
from medialab.bot.payment_link import request_topup
from medialab.bot.states import TopupStates
from medialab.bot.texts import Texts
from medialab.bot.views import account_lines, reply
from medialab.domain.money import format_rub, rubles
from medialab.billing.service import BillingService
from medialab.settings import Settings
from medialab.payments.service import PaymentService
from medialab.bot.filters import data_is, data_starts_with

# Where the mode the user was in is kept while the amount question is open.
RESUME_STATE = "resume_state"


def create_router() -> Router:
    router = Router(name="payments")
    router.callback_query.register(show_menu, data_is(PAYMENT_MENU))
    router.callback_query.register(top_up_fixed, data_starts_with(PAYMENT_AMOUNT_PREFIX))
    router.callback_query.register(ask_amount, data_is(PAYMENT_CUSTOM))
    router.callback_query.register(cancel_topup, data_is(PAYMENT_CANCEL))
    router.message.register(answer_amount, StateFilter(TopupStates.amount))
    return router


async def show_menu(callback: CallbackQuery, billing: BillingService, settings: Settings, texts: Texts, language: str) -> None:
    user = await billing.get_or_create_user(callback.from_user.id, language)
    text = "\n\n".join((account_lines(texts, user, billing.prices), texts("payment-menu-choose")))
    await reply(callback, text, payment_menu(texts, settings.stars.packages))


async def top_up_fixed(callback: CallbackQuery, settings: Settings, payments: PaymentService, texts: Texts) -> None:
    # Callback data can be forged by a modified client: the amount is checked like a typed one.
    raw = (callback.data or "").removeprefix(PAYMENT_AMOUNT_PREFIX)
    try:
        amount = read_amount(raw, settings.billing.min_topup, settings.billing.max_topup)
    except AmountRefused as refused:
        await reply(callback, _refusal(texts, settings, refused))
        return
    await request_topup(callback, payments, texts, amount)


async def ask_amount(callback: CallbackQuery, state: FSMContext, settings: Settings, texts: Texts) -> None:
    current = await state.get_state()
    if current != TopupStates.amount.state:
        await state.update_data({RESUME_STATE: current})
    await state.set_state(TopupStates.amount)
    await reply(callback, "\n".join((texts("payment-custom-ask", **_limits(settings)), texts("amount-cancel-hint"))))


async def cancel_topup(callback: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    if await state.get_state() == TopupStates.amount.state:
        await _close_question(state)
    await reply(callback, texts("payment-cancelled"))


async def answer_amount(message: Message, state: FSMContext, settings: Settings, payments: PaymentService,
                        texts: Texts) -> None:
    try:
        amount = read_amount(message.text, settings.billing.min_topup, settings.billing.max_topup)
    except AmountRefused as refused:
        # The question stays open: the next message is read as an amount again.
        await message.answer("\n".join((_refusal(texts, settings, refused), texts("amount-cancel-hint"))))
        return
    await _close_question(state)
    await request_topup(message, payments, texts, amount)


async def _close_question(state: FSMContext) -> None:
    """Back to the mode the user was in before the question (None: no mode)."""
    data = await state.get_data()
    resume = data.pop(RESUME_STATE, None)
    await state.set_data(data)
    await state.set_state(resume)


def _limits(settings: Settings) -> dict[str, str]:
    return {"min": format_rub(rubles(settings.billing.min_topup)),
            "max": format_rub(rubles(settings.billing.max_topup))}


def _refusal(texts: Texts, settings: Settings, refused: AmountRefused) -> str:
    return texts(refused.text_key, **_limits(settings))
