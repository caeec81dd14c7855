"""The checks Telegram makes on a call's parameters, with its own error texts, so that a bot bug
(an empty text, a too long callback_data, a keyboard in the wrong shape) fails here as it would
against the real server."""

from __future__ import annotations

from typing import Any

from medialab.sandbox.telegram_wire import bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
BUTTON_URL_SCHEMES = ("https://", "http://", "tg://")


def required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty")
    return value


def chat_id_of(params: dict[str, Any]) -> int:
    chat_id = required(params, "chat_id")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise bad_request("chat not found")  # "@username" chats are channels, not our users
    return chat_id


def message_id_of(params: dict[str, Any]) -> int:
    message_id = required(params, "message_id")
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise bad_request("message identifier is not specified")
    return message_id


def message_text(params: dict[str, Any]) -> str:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text


def caption(params: dict[str, Any]) -> str | None:
    value = params.get("caption")
    if value is not None and len(value) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return value or None


def inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """The reply_markup a sent message carries back. Only an inline keyboard belongs to the
    message; reply keyboards and removals are accepted but not echoed, as in the real API."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")
    for row in rows:
        for button in row:
            check_inline_button(button)
    return markup


def check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request("text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not str(url).startswith(BUTTON_URL_SCHEMES):
        raise bad_request("BUTTON_URL_INVALID")


def invoice_total(params: dict[str, Any]) -> int:
    """Checks an invoice as Telegram does and returns its total in the currency's minor units.
    Stars (XTR) are paid to Telegram itself: no provider token, exactly one price."""
    required(params, "title")
    required(params, "description")
    required(params, "payload")
    currency = required(params, "currency")
    prices = params.get("prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("prices are empty")
    if currency == "XTR":
        if params.get("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")
    elif not params.get("provider_token"):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    total = 0
    for price in prices:
        if not isinstance(price, dict) or not isinstance(price.get("amount"), int):
            raise bad_request("can't parse prices JSON object")
        total += price["amount"]
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    return total
