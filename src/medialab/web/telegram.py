"""POST /telegram/webhook: Telegram's updates, checked, handled, then answered.

2xx means the update has been handled: the charge committed and the job queued, the payment
link made, the reply sent or carried in the answer itself ({"method": "sendMessage", ...},
which Telegram performs: one Bot API round trip saved). Nothing acknowledged lives only in
memory; an update that could not be handled now (the database away) answers 500, and
Telegram's redelivery is the queue (every handler is idempotent under it). Under load requests
wait for their turn (bot/updates.py); none is refused for being busy.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from litestar import Controller, Request, Response, post
from pydantic import ValidationError

from medialab.bot.updates import UpdateFailed, UpdateRunner
from medialab.web.refusals import mark_refused, read_body
from medialab.web.state import AppState

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Updates are a few kilobytes; anything near this is not from Telegram.
MAX_UPDATE_BYTES = 1024 * 1024
HANDLED: dict[str, Any] = {"ok": True}


def _refusal(request: Request, status_code: int, error: str, reason: str) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    mark_refused(request, reason)
    return Response({"ok": False, "error": error}, status_code=status_code)


def method_answer(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """A method as a webhook answer, in the Bot API's JSON; None when it cannot travel there
    (a file to upload), and the caller then makes the call itself."""
    files: dict[str, Any] = {}
    body: dict[str, Any] = {"method": method.__api_method__}
    for name, value in method.model_dump(warnings=False).items():
        # As JSON values (objects stay objects), not the JSON strings a form would carry.
        prepared = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            body[name] = prepared
    return None if files else body


class TelegramWebhookController(Controller):
    path = "/telegram"

    @post("/webhook", status_code=200, request_max_body_size=MAX_UPDATE_BYTES)
    async def webhook(self, request: Request, state: AppState) -> Response[dict[str, Any]]:  # type: ignore[type-arg]
        runner: UpdateRunner | None = state.telegram
        if runner is None:
            return _refusal(request, 503, "the bot is not configured (TELEGRAM_BOT_TOKEN)", "not_configured")
        secret = state.settings.telegram.secret_token
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _refusal(request, 401, "secret token header missing", "bad_secret")
        if secret is None or not hmac.compare_digest(given.encode(), secret.encode()):
            return _refusal(request, 403, "wrong secret token", "bad_secret")
        body = await read_body(request)
        if body is None:
            return Response({"ok": False, "error": "the body did not arrive"}, status_code=400)
        try:
            update = Update.model_validate_json(body, context={"bot": runner.bot})
        except ValidationError:
            return _refusal(request, 400, "not a Telegram update", "bad_body")
        try:
            method = await runner.handle(update)
        except UpdateFailed:
            return _refusal(request, 500, "the update could not be handled now", "failed")
        if method is None:
            return Response(HANDLED)
        answer = method_answer(runner.bot, method)
        if answer is None:
            await runner.send_reply(update, method)
            return Response(HANDLED)
        return Response(answer)
