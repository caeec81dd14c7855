"""The mode buttons of the main menu: choosing a mode forgets the previous one and its photos."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery

from medialab.bot.modes import MERGE_MAX_PHOTOS, MODE_PREFIX, MODES_BY_CALLBACK
from medialab.bot.texts import Texts
from medialab.bot.views import answer
from medialab.bot.filters import data_starts_with
from medialab.domain.money import format_rub
from medialab.billing.service import BillingService


def create_router() -> Router:
    router = Router(name="modes")
    router.callback_query.register(choose_mode, data_starts_with(MODE_PREFIX))
    return router


async def choose_mode(callback: CallbackQuery, state: FSMContext, billing: BillingService, texts: Texts) -> SendMessage:
    mode = MODES_BY_CALLBACK.get(callback.data or "")
    if mode is None:
        return answer(callback, texts("stale-button"))
    await state.clear()
    await state.set_state(mode.first_state)
    intro = texts(mode.intro_key, max=MERGE_MAX_PHOTOS)
    if mode.operation.billable:  # add_text's intro says it is free
        price = format_rub(billing.prices.price_of(mode.operation))
        intro = f"{intro}\n{texts('price-line', price=price)}"
    return answer(callback, intro)
