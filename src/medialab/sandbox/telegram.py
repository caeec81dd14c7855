"""A local stand-in for the Telegram Bot API, served on 127.0.0.1 for tests and `medialab demo`.

The bot talks to it through TELEGRAM_API_URL exactly as to api.telegram.org; a test plays the
user with the update builders (message_update, callback_update, ...) and deliver() (to the
webhook) or enqueue() (for a bot that polls with getUpdates), and reads what the bot did with
calls(), texts() and wait_for(). Faults Telegram produces in real life
(a user who blocked the bot, flood control, an answer lost on the way) can be switched on per test.
"""

from __future__ import annotations

from typing import Any

import httpx

from medialab.http_tls import tls_context
from medialab.sandbox.telegram_http import build_app
from medialab.sandbox.telegram_methods import CANONICAL_NAMES, HANDLERS
from medialab.sandbox.telegram_recording import CallLog, RecordedCall
from medialab.sandbox.telegram_state import ChatWorld
from medialab.sandbox.telegram_updates import UserSide
from medialab.sandbox.telegram_wire import BotApiError, MethodCall, decode_value, method_not_found

__all__ = ["BotApiError", "BotApiSandbox", "RecordedCall"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_TIMEOUT_SECONDS = 60.0


class BotApiSandbox(UserSide, CallLog):
    """State of one bot's Telegram; `.app` is the Litestar app that serves it."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "medialab_test_bot",
        bot_first_name: str = "Media Lab",
    ) -> None:
        UserSide.__init__(self, ChatWorld(token, bot_username, bot_first_name))
        CallLog.__init__(self)
        self._blocked_chats: set[int] = set()
        self._rate_limited_calls = 0
        self._retry_after = 1
        self._answers_to_lose: dict[str, int] = {}
        self.app = build_app(self)

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot_user(self) -> dict[str, Any]:
        return dict(self.world.bot)

    # Faults. Only calls aimed at a chat (those with a chat_id: sends, edits, deletions,
    # chat actions, invoices) are affected, as flood control and blocking are per chat.

    def block_chat(self, chat_id: int) -> None:
        self._blocked_chats.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked_chats.discard(chat_id)

    def rate_limit_next(self, n: int, retry_after: int = 1) -> None:
        self._rate_limited_calls = n
        self._retry_after = retry_after

    def lose_answers(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` are performed, and then the connection drops
        before the answer: the bot cannot know whether Telegram did what it asked."""
        self._answers_to_lose[CANONICAL_NAMES.get(method.lower(), method)] = times

    def answer_lost(self, method_name: str) -> bool:
        """Whether the answer to the call just performed is to be lost (counts it down)."""
        method = CANONICAL_NAMES.get(method_name.lower(), method_name)
        if self._answers_to_lose.get(method, 0) <= 0:
            return False
        self._answers_to_lose[method] -= 1
        return True

    def _check_faults(self, call: MethodCall) -> None:
        if "chat_id" not in call.params:
            return
        if self._rate_limited_calls > 0:
            self._rate_limited_calls -= 1
            raise BotApiError(
                429, f"Too Many Requests: retry after {self._retry_after}", self._retry_after
            )
        if call.params["chat_id"] in self._blocked_chats:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")

    # Calls.

    def perform(self, method_name: str, call: MethodCall) -> tuple[int, dict[str, Any]]:
        """Answers one Bot API call (status code and JSON body) and records it."""
        method = CANONICAL_NAMES.get(method_name.lower(), method_name)
        try:
            handler = HANDLERS.get(method)
            if handler is None:
                raise method_not_found()
            self._check_faults(call)
            result = handler(self.world, call)
        except BotApiError as error:
            return self._failed(method, call, error)
        return self._succeeded(method, call, result)

    async def answer(self, method_name: str, call: MethodCall) -> tuple[int, dict[str, Any]]:
        """perform(), and getUpdates, the one call that may wait (a long poll)."""
        if method_name.lower() != "getupdates":
            return self.perform(method_name, call)
        try:
            result = await self.world.updates.get_updates(self.world.webhook is not None, call)
        except BotApiError as error:
            return self._failed("getUpdates", call, error)
        return self._succeeded("getUpdates", call, result)

    def _succeeded(self, method: str, call: MethodCall, result: Any) -> tuple[int, dict[str, Any]]:
        self._record(method, call, None)
        return 200, {"ok": True, "result": result}

    def _failed(self, method: str, call: MethodCall, error: BotApiError) -> tuple[int, dict[str, Any]]:
        self._record(method, call, error.error_code)
        return error.error_code, error.payload()

    def _record(self, method: str, call: MethodCall, error_code: int | None) -> None:
        files = {name: upload.data for name, upload in call.uploads.items()}
        self.record(RecordedCall(method, call.params, files, error_code=error_code))

    # Delivery to the bot.

    def enqueue(self, update: dict[str, Any]) -> None:
        """Keeps an update for a bot that polls (no webhook set): its next getUpdates gets it,
        and gets it again until a later getUpdates confirms it with a higher offset."""
        self.world.updates.put(update)

    async def deliver(
        self,
        update: dict[str, Any],
        webhook_url: str | None = None,
        secret_token: str | None = None,
    ) -> httpx.Response:
        """POSTs an update to the bot's webhook as Telegram does. By default the URL and secret
        are the ones setWebhook registered (secret_token="" sends no secret header), and an
        update type outside the registered allowed_updates is refused: Telegram would never
        deliver it, so a test must not either."""
        registered = self.world.webhook
        if webhook_url is None:
            if registered is None:
                raise RuntimeError("no webhook is set: the bot has not called setWebhook")
            webhook_url = registered.url
            update_type = next(key for key in update if key != "update_id")
            if registered.allowed_updates and update_type not in registered.allowed_updates:
                raise ValueError(f"{update_type} is not among the webhook's allowed_updates")
        if secret_token is None and registered is not None:
            secret_token = registered.secret_token
        headers = {SECRET_HEADER: secret_token} if secret_token else {}
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, verify=tls_context()) as client:
            response = await client.post(webhook_url, json=update, headers=headers)
        self._perform_webhook_reply(response)
        return response

    def _perform_webhook_reply(self, response: httpx.Response) -> None:
        """A bot may answer an update with a method call in the webhook response body
        ({"method": "sendMessage", ...}); Telegram performs it and drops its result."""
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            params = {name: decode_value(name, value) for name, value in body.items()}
            del params["method"]
            self.perform(body["method"], MethodCall(params))
