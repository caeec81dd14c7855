"""/history: the user's balance movements (top-ups, charges, refunds, credits, chargebacks),
newest first, ten at a time, with the date, the amount and the balance after each; the button
under a page (`history:<entry id>`) shows the ten before it. Like the other commands it works
in any state, so this router comes right after theirs."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message

from medialab.billing.statement import Movement, Statement
from medialab.bot.filters import LooksLikeCommand, data_starts_with
from medialab.bot.keyboards import HISTORY_PREFIX, history_button
from medialab.bot.modes import MODES
from medialab.bot.texts import Texts
from medialab.bot.views import answer
from medialab.domain.money import format_rub, format_signed_rub
from medialab.billing.service import BillingService

# A charge or a refund is named by its mode's button ("🎨 Создать по описанию").
_OPERATION_NAMES = {mode.operation.value: mode.button_key for mode in MODES}
# Ledger ids are BIGINT: longer digits are no entry of ours (a forged button).
_MAX_ID_DIGITS = 19


def create_router() -> Router:
    router = Router(name="history")
    router.message.filter(LooksLikeCommand())
    router.message.register(show_history, Command("history"))
    router.callback_query.register(show_older, data_starts_with(HISTORY_PREFIX))
    return router


async def show_history(message: Message, billing: BillingService, texts: Texts, language: str) -> SendMessage:
    user = await billing.get_or_create_user(message.from_user.id, language)  # type: ignore[union-attr]
    statement = await billing.statement(user.user_id)
    if not statement.movements:
        return answer(message, texts("history-empty"))
    return _page(message, texts, statement)


async def show_older(callback: CallbackQuery, billing: BillingService, texts: Texts, language: str) -> SendMessage:
    # Callback data can be forged: only the presser's own entries are ever read, before any id.
    raw = (callback.data or "").removeprefix(HISTORY_PREFIX)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS):
        return answer(callback, texts("stale-button"))
    user = await billing.get_or_create_user(callback.from_user.id, language)
    statement = await billing.statement(user.user_id, before=int(raw))
    if not statement.movements:
        return answer(callback, texts("history-no-older"))
    return _page(callback, texts, statement)


def _page(event: Message | CallbackQuery, texts: Texts, statement: Statement) -> SendMessage:
    lines = [texts("history-title"), *(_line(texts, movement) for movement in statement.movements)]
    older = history_button(texts, statement.movements[-1].id) if statement.older else None
    return answer(event, "\n".join(lines), older)


def _line(texts: Texts, movement: Movement) -> str:
    button = _OPERATION_NAMES.get(movement.operation_type or "")
    what = texts("history-what", kind=movement.kind, operation=texts(button) if button else "—")
    return texts("history-line", date=movement.created_at, what=what, amount=format_signed_rub(movement.amount),
                 balance=format_rub(movement.balance_after))
