"""What the sandboxed Telegram knows: the bot, the users who wrote to it, the messages of each
private chat, files, open queries, Stars charges, the registered webhook or the updates waiting
for a bot that polls."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from medialab.sandbox.telegram_files import FileStore
from medialab.sandbox.telegram_polling import UpdateQueue
from medialab.sandbox.telegram_wire import bad_request


@dataclass
class StarCharge:
    user_id: int
    total_amount: int
    refunded: bool = False


@dataclass
class WebhookRegistration:
    url: str
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)


def now() -> int:
    return int(time.time())


def bot_id_of(token: str) -> int:
    """A token is "<bot id>:<secret>"; aiogram refuses any other shape, and so do we."""
    bot_id, separator, secret = token.partition(":")
    if not (bot_id.isdigit() and separator and secret):
        raise ValueError("a bot token looks like 123456:ABC-DEF")
    return int(bot_id)


class ChatWorld:
    def __init__(self, token: str, bot_username: str, bot_first_name: str) -> None:
        self.token = token
        self.bot: dict[str, Any] = {
            "id": bot_id_of(token),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.files = FileStore()
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.open_queries: set[str] = set()
        self.charges: dict[str, StarCharge] = {}
        self.webhook: WebhookRegistration | None = None
        # Updates for a bot without a webhook, until its getUpdates confirms them.
        self.updates = UpdateQueue()
        self.commands: list[dict[str, Any]] = []
        self._last_message_id: dict[int, int] = {}
        self._last_update_id = 0

    def get_me(self) -> dict[str, Any]:
        return {
            **self.bot,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def meet_user(
        self, user_id: int, language_code: str | None = None, first_name: str | None = None
    ) -> dict[str, Any]:
        """The user as Telegram shows them; a user keeps the language and name they were given
        until told otherwise, so a test does not switch a user's language by accident."""
        known = self.users.get(user_id, {})
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or known.get("first_name") or "Тест",
            "username": f"user{user_id}",
            "language_code": language_code or known.get("language_code") or "ru",
        }
        self.users[user_id] = user
        return user

    def chat(self, chat_id: int) -> dict[str, Any]:
        """A private chat; the bot can only write to users who have written to it first."""
        user = self.users.get(chat_id)
        if user is None:
            raise bad_request("chat not found")
        return {
            "id": chat_id,
            "first_name": user["first_name"],
            "username": user["username"],
            "type": "private",
        }

    def next_update_id(self) -> int:
        self._last_update_id += 1
        return self._last_update_id

    def new_message(self, chat_id: int, sender: dict[str, Any]) -> dict[str, Any]:
        """A stored message of a chat; the user's and the bot's messages share one numbering."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": self.chat(chat_id),
            "date": now(),
        }
        self.messages[(chat_id, message_id)] = message
        return message

    def message(self, chat_id: int, message_id: int, missing: str) -> dict[str, Any]:
        stored = self.messages.get((chat_id, message_id))
        if stored is None:
            raise bad_request(missing)
        return stored

    def last_bot_message(self, chat_id: int) -> dict[str, Any] | None:
        bot_messages = [
            message
            for (chat, _), message in self.messages.items()
            if chat == chat_id and message["from"]["id"] == self.bot["id"]
        ]
        return bot_messages[-1] if bot_messages else None

    def open_query(self) -> str:
        query_id = str(secrets.randbits(63))
        self.open_queries.add(query_id)
        return query_id

    def answer_query(self, query_id: str) -> None:
        """A query is answered once; an unknown or answered id gets Telegram's complaint."""
        if query_id not in self.open_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.open_queries.discard(query_id)
