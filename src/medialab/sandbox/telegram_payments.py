"""Payments in Telegram Stars (currency XTR): invoices, the pre-checkout answer and refunds."""

from __future__ import annotations

from typing import Any

from medialab.sandbox import telegram_checks as check
from medialab.sandbox.telegram_messages import bot_message
from medialab.sandbox.telegram_state import ChatWorld
from medialab.sandbox.telegram_wire import MethodCall, bad_request


def send_invoice(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    total = check.invoice_total(call.params)
    params = call.params
    invoice = {
        "title": params["title"],
        "description": params["description"],
        "start_parameter": params.get("start_parameter", ""),
        "currency": params["currency"],
        "total_amount": total,
    }
    message = bot_message(world, call, invoice=invoice)
    # An invoice without a keyboard gets Telegram's own pay button.
    message.setdefault("reply_markup", {"inline_keyboard": [[{"text": "Pay", "pay": True}]]})
    return message


def answer_pre_checkout_query(world: ChatWorld, call: MethodCall) -> bool:
    if call.params.get("ok") is not True:
        check.required(call.params, "error_message")
    world.answer_query(str(check.required(call.params, "pre_checkout_query_id")))
    return True


def refund_star_payment(world: ChatWorld, call: MethodCall) -> bool:
    charge_id = check.required(call.params, "telegram_payment_charge_id")
    charge = world.charges.get(charge_id)
    if charge is None or charge.user_id != call.params.get("user_id"):
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    charge.refunded = True
    return True
