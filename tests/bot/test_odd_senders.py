"""Groups and odd senders: the bot works in private chats with people. In a group it shows no
balance and charges nothing (a command gets one line pointing to the private chat, anything else
is ignored); a message without a sender or from a bot is ignored quietly, and creates no account."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from medialab.sandbox.telegram import BotApiSandbox

from .conftest import Chat, Running, ledger_of, operations_of

USER = 711_001
GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Fans"}
POINTER = "Я работаю только в личных сообщениях: откройте чат со мной и отправьте /start."


def in_group(update: dict[str, Any]) -> dict[str, Any]:
    update["message"]["chat"] = dict(GROUP)
    return update


async def test_in_a_group_a_command_gets_one_line_and_nothing_else_happens(
    app: Running, telegram: BotApiSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for text, answer in (("/balance", POINTER), ("/start", POINTER), ("a red fox", None)):
            response = await telegram.deliver(in_group(telegram.message_update(USER, text)))
            assert response.status_code == 200
            body = response.json()
            assert body.get("text") == answer and (answer is None or body["chat_id"] == GROUP["id"])
        joined = in_group(telegram.message_update(USER, "x"))
        del joined["message"]["text"]
        joined["message"]["new_chat_members"] = [{"id": USER, "is_bot": False, "first_name": "U"}]
        assert (await telegram.deliver(joined)).json() == {"ok": True}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # No account, no balance shown, nothing charged.
    assert await app.services.billing.get_user_info(USER) is None
    assert "Баланс" not in str(telegram.calls())


async def test_a_message_without_a_sender_or_from_a_bot_is_ignored_quietly(
    app: Running, telegram: BotApiSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = in_group(telegram.message_update(USER, "/start"))
    del anonymous["message"]["from"]
    anonymous["message"]["sender_chat"] = dict(GROUP)
    from_bot = telegram.message_update(USER + 1, "/start")
    from_bot["message"]["from"]["is_bot"] = True
    with caplog.at_level(logging.INFO):
        for update in (anonymous, from_bot):
            response = await telegram.deliver(update)
            assert (response.status_code, response.json()) == (200, {"ok": True})
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert await app.services.billing.get_user_info(USER + 1) is None
    # A person in the private chat is served as always.
    reply = await Chat(telegram, USER).say("/start")
    assert reply.params["text"].startswith("Привет")
    assert await operations_of(app.services, USER) == [] and await ledger_of(app.services, USER) == []
