"""Top-ups in Telegram Stars: a package button sends an invoice, Telegram's pre-checkout question
is answered, the successful payment is credited; /paysupport says where to get help.

This router comes before the payment menu's: a successful_payment message must never be read as
the answer to an open amount question, nor as a prompt of a mode.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery

from medialab.billing.service import BillingService
from medialab.bot.filters import OnLoop, data_starts_with
from medialab.bot.keyboards import STARS_AMOUNT_PREFIX
from medialab.bot.chat_orders import operation_id_for
from medialab.bot.texts import Texts
from medialab.bot.views import reply
from medialab.db.engine import Sessions
from medialab.domain.money import format_rub
from medialab.notify import NotDelivered
from medialab.notify import Notifier
from medialab.payments.stars import CURRENCY, StarsPayments, Verdict
from medialab.payments.stars_refund import take_back_refunded
from medialab.settings import Settings

log = logging.getLogger(__name__)

_REFUSAL_KEYS = {
    Verdict.UNKNOWN: "stars-refused-unknown",
    Verdict.WRONG_AMOUNT: "stars-refused-amount",
    Verdict.CLOSED: "stars-refused-closed",
}


def create_router() -> Router:
    router = Router(name="stars")
    router.callback_query.register(send_invoice, data_starts_with(STARS_AMOUNT_PREFIX))
    router.pre_checkout_query.register(answer_pre_checkout)
    router.message.register(credit_payment, OnLoop(F.successful_payment))
    router.message.register(take_back_refund, OnLoop(F.refunded_payment))
    router.message.register(pay_support, Command("paysupport"))
    return router


async def send_invoice(callback: CallbackQuery, stars: StarsPayments, texts: Texts) -> None:
    # Callback data can be forged by a modified client: only the configured packages are sold.
    raw = (callback.data or "").removeprefix(STARS_AMOUNT_PREFIX)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and stars.offers(int(raw))):
        await reply(callback, texts("stars-package-unknown"))
        return
    invoice = await stars.create_invoice(callback.from_user.id, int(raw), request_id=operation_id_for(callback, callback.bot.id))  # type: ignore[union-attr]
    chat_id = callback.message.chat.id if callback.message is not None else callback.from_user.id
    amount = format_rub(invoice.amount)
    await callback.bot.send_invoice(  # type: ignore[union-attr]
        chat_id,
        title=texts("stars-invoice-title", amount=amount),
        description=texts("stars-invoice-description", stars=invoice.stars, amount=amount),
        payload=invoice.payload,
        currency=CURRENCY,
        # Stars are paid to Telegram itself: no provider token, exactly one price.
        prices=[LabeledPrice(label=texts("stars-invoice-label", amount=amount), amount=invoice.stars)],
    )


async def answer_pre_checkout(query: PreCheckoutQuery, stars: StarsPayments, texts: Texts) -> None:
    verdict = await stars.pre_checkout(query.from_user.id, query.invoice_payload, query.currency, query.total_amount)
    if verdict is Verdict.OK:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=texts(_REFUSAL_KEYS[verdict]))


async def credit_payment(message: Message, stars: StarsPayments, notifier: Notifier, texts: Texts, language: str) -> None:
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    paid = await stars.settle(message.from_user.id, payment.invoice_payload, payment.currency,
                              payment.total_amount, payment.telegram_payment_charge_id)
    if paid.verdict is not Verdict.OK:
        await message.answer(texts("stars-payment-problem"))
        return
    if paid.credited:
        # The same message as a YooKassa top-up; a delivery again says nothing twice.
        try:
            await notifier.topup_credited(message.from_user.id, language, paid.amount, paid.balance)
        except NotDelivered:
            # The credit stands (the user sees it in /balance); Telegram need not send it again.
            log.warning("user %s not told of Stars top-up %s", message.from_user.id, payment.telegram_payment_charge_id)


async def take_back_refund(message: Message, billing: BillingService, sessions: Sessions, texts: Texts) -> SendMessage | None:
    """Telegram refunded a Stars payment (a dispute, or our own refund seen again): the rubles
    it credited are taken back once, and the user is told the balance."""
    refunded = message.refunded_payment
    assert refunded is not None and message.from_user is not None
    taken = await take_back_refunded(sessions, billing, message.from_user.id,
                                      refunded.telegram_payment_charge_id, refunded.total_amount)
    if taken is None or not taken.debited:
        return None
    return message.answer("\n".join((texts("stars-refunded", amount=format_rub(taken.amount)),
                                     texts("balance-line", balance=format_rub(taken.balance)))))


async def pay_support(message: Message, settings: Settings, texts: Texts) -> None:
    contact = settings.billing.paysupport_contact
    lines = [texts("paysupport")]
    if contact:
        lines.append(texts("paysupport-contact", contact=contact))
    await message.answer("\n\n".join(lines))
