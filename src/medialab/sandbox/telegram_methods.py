"""The Bot API methods the sandbox answers, each returning the result object Telegram would:
the table of them, and the bot-level ones (identity, commands, files, webhook)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medialab.sandbox import telegram_checks as check
from medialab.sandbox.telegram_messages import (
    answer_callback_query,
    delete_message,
    edit_message_reply_markup,
    edit_message_text,
    send_chat_action,
    send_document,
    send_message,
    send_photo,
)
from medialab.sandbox.telegram_payments import (
    answer_pre_checkout_query,
    refund_star_payment,
    send_invoice,
)
from medialab.sandbox.telegram_state import ChatWorld, WebhookRegistration
from medialab.sandbox.telegram_wire import MethodCall, bad_request

Handler = Callable[[ChatWorld, MethodCall], Any]


def set_my_commands(world: ChatWorld, call: MethodCall) -> bool:
    commands = check.required(call.params, "commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    world.commands = commands
    return True


def get_my_commands(world: ChatWorld, call: MethodCall) -> list[dict[str, Any]]:
    return world.commands


def get_file(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    stored = world.files.get(str(check.required(call.params, "file_id")))
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.file_json()


def set_webhook(world: ChatWorld, call: MethodCall) -> bool:
    # Real Telegram insists on HTTPS on ports 443/80/88/8443; the sandbox delivers to
    # http://127.0.0.1 on any port, so it takes whatever URL it is given.
    url = call.params.get("url") or ""
    if not url:
        _drop_pending_if_asked(world, call)
        world.webhook = None  # an empty url is how a bot removes its webhook
        return True
    secret = call.params.get("secret_token")
    if secret is not None and not (
        1 <= len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)
    ):
        raise bad_request("secret token contains unallowed characters")
    allowed = call.params.get("allowed_updates") or []
    _drop_pending_if_asked(world, call)
    world.webhook = WebhookRegistration(url=url, secret_token=secret, allowed_updates=allowed)
    return True


def delete_webhook(world: ChatWorld, call: MethodCall) -> bool:
    _drop_pending_if_asked(world, call)
    world.webhook = None
    return True


def _drop_pending_if_asked(world: ChatWorld, call: MethodCall) -> None:
    if call.params.get("drop_pending_updates") is True:
        world.updates.drop_pending()


def get_webhook_info(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    webhook = world.webhook
    info: dict[str, Any] = {
        "url": webhook.url if webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates.pending),
    }
    if webhook and webhook.allowed_updates:
        info["allowed_updates"] = webhook.allowed_updates
    return info


def get_me(world: ChatWorld, call: MethodCall) -> dict[str, Any]:
    return world.get_me()


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendChatAction": send_chat_action,
    "sendInvoice": send_invoice,
    "answerCallbackQuery": answer_callback_query,
    "answerPreCheckoutQuery": answer_pre_checkout_query,
    "refundStarPayment": refund_star_payment,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "getFile": get_file,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}
# Method names are case-insensitive in the Bot API; calls are recorded under the canonical name.
CANONICAL_NAMES = {name.lower(): name for name in HANDLERS}
