"""The bot tests' world (the app served against the suite's Bot API and YooKassa stand-ins, its
webhook registered as set-webhook registers it), plus what a Stars purchase needs: the invoice
the bot sent, Telegram's questions and payments built from it, and a wait for the webhook's work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.conftest import (  # noqa: F401 - the bot tests' app fixtures
    Chat,
    Launcher,
    Running,
    app,
    bot_settings,
    launch,
    ledger_of,
)
from medialab.db.models import Payment, User
from medialab.sandbox.telegram import BotApiSandbox, RecordedCall
from medialab.services import Services


async def buy(chat: Chat, stars: int) -> RecordedCall:
    """Presses a Stars package in the payment menu; the invoice the bot sent."""
    mark = chat.telegram.checkpoint()
    invoice = await chat.send(chat.telegram.callback_update(chat.user_id, f"stars_amount_{stars}",
                                                            language_code=chat.language), method="sendInvoice")
    await chat.telegram.wait_for("answerCallbackQuery", after=mark)
    return invoice


async def pre_checkout(telegram: BotApiSandbox, user_id: int, total: int, payload: str,
                       currency: str = "XTR") -> RecordedCall:
    """The user pressed Pay; the bot's answerPreCheckoutQuery to it."""
    update = telegram.pre_checkout_update(user_id, currency, total, payload)
    query_id = update["pre_checkout_query"]["id"]
    assert (await telegram.deliver(update)).status_code == 200
    return await telegram.wait_for("answerPreCheckoutQuery",
                                   lambda call: call.params["pre_checkout_query_id"] == query_id)


async def stars_payments(services: Services, telegram_id: int) -> list[Payment]:
    async with services.sessions() as session:
        query = (select(Payment).join(User, User.id == Payment.user_id)
                 .where(User.telegram_id == telegram_id).order_by(Payment.id))
        return list((await session.execute(query)).scalars())


def invoice_of(call: RecordedCall) -> dict[str, Any]:
    """payload, currency, total of an invoice as the bot sent it."""
    prices = call.params["prices"]
    return {"payload": call.params["payload"], "currency": call.params["currency"],
            "total": sum(price["amount"] for price in prices)}
