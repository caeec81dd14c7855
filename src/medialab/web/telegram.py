"""POST /telegram/webhook: Telegram's updates, checked and handed to the bot's dispatcher.

The answer comes as soon as the update is accepted; handlers run in the background
(bot/updates.py), so a slow handler never makes Telegram send the update again. The one
exception is a successful payment: it is recorded before the answer, and a failure answers 500
so that Telegram delivers it again rather than the money being lost.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram.types import Update
from litestar import Controller, Litestar, Request, Response, post
from litestar.datastructures import State
from pydantic import ValidationError

from medialab.bot.dispatcher import build_dispatcher
from medialab.bot.updates import UpdateRunner
from medialab.metrics import WEBHOOK_REFUSALS
from medialab.services import Services

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Updates are a few kilobytes; anything near this is not from Telegram.
MAX_UPDATE_BYTES = 1024 * 1024


def _refusal(status_code: int, error: str, reason: str) -> Response[dict[str, object]]:
    WEBHOOK_REFUSALS.inc(webhook="telegram", reason=reason)
    return Response({"ok": False, "error": error}, status_code=status_code)


class TelegramWebhookController(Controller):
    path = "/telegram"

    @post("/webhook", status_code=200, request_max_body_size=MAX_UPDATE_BYTES)
    async def webhook(self, request: Request, state: State) -> Response[dict[str, object]]:  # type: ignore[type-arg]
        runner: UpdateRunner | None = state.telegram
        if runner is None:
            return _refusal(503, "the bot is not configured (TELEGRAM_BOT_TOKEN)", "not_configured")
        secret = state.services.settings.telegram_webhook_secret
        if secret:
            given = request.headers.get(SECRET_HEADER)
            if given is None:
                return _refusal(401, "secret token header missing", "bad_secret")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return _refusal(403, "wrong secret token", "bad_secret")
        try:
            update = Update.model_validate_json(await request.body(), context={"bot": runner.bot})
        except ValidationError:
            return _refusal(400, "not a Telegram update", "bad_body")
        if update.message is not None and update.message.successful_payment is not None:
            try:
                await runner.run_now(update)
            except Exception:
                log.exception("update %s: a successful payment could not be recorded", update.update_id)
                # Telegram delivers it again; the charge id keeps the credit to one.
                return _refusal(500, "the payment could not be recorded yet", "payment_failed")
            return Response({"ok": True})
        if not runner.accepts():
            # Telegram delivers it again later.
            return _refusal(503, "busy or shutting down", "busy")
        runner.submit(update)
        return Response({"ok": True})


@asynccontextmanager
async def telegram_webhook(app: Litestar) -> AsyncIterator[None]:
    """Builds the dispatcher once at start-up; at shutdown waits for updates still running.
    Entered after the services are open, so it ends before they close."""
    services: Services = app.state.services
    runner = UpdateRunner(build_dispatcher(services), services.bot) if services.bot is not None else None
    app.state.telegram = runner
    if runner is not None and not services.settings.telegram_webhook_secret:
        log.warning("TELEGRAM_WEBHOOK_SECRET is not set: anyone who finds the webhook URL can post updates")
    try:
        yield
    finally:
        if runner is not None:
            await runner.drain()
