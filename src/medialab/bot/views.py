"""Texts composed from several lines, shared by more than one handler."""

from __future__ import annotations

from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from medialab.billing.results import UserInfo
from medialab.bot.texts import Texts
from medialab.domain.money import format_rub
from medialab.domain.pricing import PriceList


def price_text(texts: Texts, prices: PriceList) -> str:
    """What an operation costs: "10 ₽", or "от 5 ₽ до 15 ₽" when OPERATION_PRICES varies it."""
    if prices.lowest == prices.highest:
        return format_rub(prices.lowest)
    return texts("price-range", lowest=format_rub(prices.lowest), highest=format_rub(prices.highest))


def account_lines(texts: Texts, user: UserInfo, prices: PriceList) -> str:
    """`Баланс: X ₽`, `Бесплатные операции: N из 4` and the price, one a line."""
    return "\n".join((
        texts("balance-line", balance=format_rub(user.balance)),
        texts("free-line", left=user.free_operations_left, total=user.free_operations_total),
        texts("price-line", price=price_text(texts, prices)),
    ))


def answer(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> SendMessage:
    """A new message in the chat the event came from (a button press answers below the menu),
    as a method not yet sent: a handler that ends with it returns it, and it travels in the
    webhook's answer (web/telegram.py) instead of a Bot API call of its own."""
    if isinstance(event, CallbackQuery):
        chat_id = event.message.chat.id if event.message is not None else event.from_user.id
        return SendMessage(chat_id=chat_id, text=text, reply_markup=markup).as_(event.bot)
    return event.answer(text, reply_markup=markup)


async def reply(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """The same message sent now: for replies that are not a handler's last word."""
    await answer(event, text, markup)


# Telegram refuses a longer text message. It counts UTF-16 code units: an emoji is two.
MESSAGE_LIMIT = 4096


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_messages(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines packed into as few messages as fit the limit, each split only between lines; a
    single line longer than a message is cut short and ends with "…"."""
    messages: list[str] = []
    current = ""
    for line in lines:
        if _units(line) > limit:
            # errors="ignore" drops an emoji whose two halves the cut separated.
            line = line.encode("utf-16-le")[:(limit - 1) * 2].decode("utf-16-le", errors="ignore") + "…"
        if current and _units(current) + 1 + _units(line) > limit:
            messages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        messages.append(current)
    return messages
