"""The chat's side of a top-up: asks payments for a YooKassa payment and answers with its
confirmation URL as a button, or with why not. The top-up itself (what YooKassa is asked for)
is payments/topup.py; the balance moves later, when the payment has succeeded (payments settle
it and tell the user)."""

from __future__ import annotations

import logging

from aiogram.types import CallbackQuery, Message

from medialab.bot.keyboards import pay_link
from medialab.bot.chat_orders import operation_id_for
from medialab.bot.texts import Texts
from medialab.bot.views import reply
from medialab.domain.money import format_rub, rubles
from medialab.payments.service import PaymentService, PaymentsUnavailable, TopupRefused

log = logging.getLogger(__name__)

_REFUSAL_KEYS = {"below_minimum": "amount-too-small", "above_maximum": "amount-too-large"}


async def request_topup(event: Message | CallbackQuery, payments: PaymentService, texts: Texts, amount_rub: int) -> None:
    try:
        link = await payments.create_payment(event.from_user.id, amount_rub,  # type: ignore[union-attr]
                                             request_id=operation_id_for(event, event.bot.id))  # type: ignore[union-attr]
    except TopupRefused as refused:
        key = _REFUSAL_KEYS.get(refused.reason, "amount-fraction")
        await reply(event, texts(key, min=format_rub(rubles(refused.minimum)), max=format_rub(rubles(refused.maximum))))
        return
    except PaymentsUnavailable as exc:
        log.warning("top-up of %s ₽ for %s not offered: %s", amount_rub, event.from_user.id, exc)  # type: ignore[union-attr]
        await reply(event, texts("payments-unavailable"))
        return
    text = texts("topup-link", amount=format_rub(link.amount))
    await reply(event, text, pay_link(texts, link.amount, link.confirmation_url))
