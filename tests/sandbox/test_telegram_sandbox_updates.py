"""The user's side of the sandbox: the updates it builds and their delivery to a webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.types import BotCommand, Update
from litestar import Litestar, Request, post

from conftest import wait_until
from medialab.sandbox.serving import serve_in_loop
from medialab.sandbox.telegram import BotApiSandbox

USER = 6001
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Webhook:
    """A stand-in for our web app: records each body it gets with the secret header beside
    it, and answers with the next of `replies` (a method call in the response) if any."""

    url: str = ""
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()

    @post("/telegram/webhook", status_code=200)
    async def telegram_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
        hook.received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return hook.replies.pop(0) if hook.replies else {}

    async with serve_in_loop(Litestar([telegram_webhook])) as base_url:
        hook.url = f"{base_url}/telegram/webhook"
        yield hook


async def test_each_builder_update_reaches_the_webhook_and_parses(
    bot: Bot, telegram: BotApiSandbox, webhook: Webhook, png: bytes
) -> None:
    url, received = webhook.url, webhook.received
    assert await bot.set_webhook(url, secret_token="s3cret-token_1") is True
    assert (await bot.get_webhook_info()).url == url
    start = telegram.command_update(USER, "start", language_code="en", first_name="Ann")
    menu = await bot.send_message(USER, "Menu")
    thumbnail, full = telegram.add_file(png, "photos/file.jpg"), telegram.add_file(png)
    built = [
        start,
        telegram.message_update(USER, "generate a cat"),
        telegram.photo_update(USER, [thumbnail, full], caption="edit", media_group_id="album1"),
        telegram.sticker_update(USER),
        telegram.callback_update(USER, "mode:generate"),
        telegram.pre_checkout_update(USER, "XTR", 100, "topup:100"),
        telegram.successful_payment_update(USER, "XTR", 100, "topup:100"),
    ]
    for update in built:
        assert (await telegram.deliver(update)).status_code == 200

    assert received == [(update, "s3cret-token_1") for update in built]
    ids = [update["update_id"] for update in built]
    assert ids == sorted(set(ids))
    parsed = [Update.model_validate(body) for body, _ in received]
    command, text, photo, sticker, callback, pre_checkout, payment = parsed
    assert command.message is not None and command.message.text == "/start"
    assert command.message.entities is not None
    assert command.message.entities[0].type == "bot_command"
    assert text.message is not None and text.message.from_user is not None
    assert text.message.from_user.language_code == "en"  # the user keeps their language
    assert text.message.from_user.first_name == "Ann"
    assert photo.message is not None and photo.message.photo is not None
    assert [size.file_id for size in photo.message.photo] == [thumbnail, full]
    assert photo.message.photo[-1].width == 320 and photo.message.media_group_id == "album1"
    assert sticker.message is not None and sticker.message.sticker is not None
    assert callback.callback_query is not None and callback.callback_query.data == "mode:generate"
    assert callback.callback_query.message is not None
    assert callback.callback_query.message.message_id == menu.message_id
    assert pre_checkout.pre_checkout_query is not None
    assert pre_checkout.pre_checkout_query.total_amount == 100
    assert payment.message is not None and payment.message.successful_payment is not None
    assert payment.message.successful_payment.invoice_payload == "topup:100"


async def test_deliver_respects_allowed_updates_and_explicit_targets(
    bot: Bot, telegram: BotApiSandbox, webhook: Webhook
) -> None:
    url, received = webhook.url, webhook.received
    await bot.set_webhook(url, secret_token="abc", allowed_updates=["message", "callback_query"])
    info = await bot.get_webhook_info()
    assert info.allowed_updates == ["message", "callback_query"]
    with pytest.raises(ValueError, match="pre_checkout_query"):
        await telegram.deliver(telegram.pre_checkout_update(USER, "XTR", 10, "p"))
    forged = telegram.message_update(USER, "hi")
    await telegram.deliver(forged, webhook_url=url, secret_token="")
    assert received == [(forged, None)]

    assert await bot.delete_webhook() is True
    assert (await bot.get_webhook_info()).url == ""
    with pytest.raises(RuntimeError, match="setWebhook"):
        await telegram.deliver(telegram.message_update(USER, "again"))


async def test_a_method_in_the_webhook_response_is_performed(
    telegram: BotApiSandbox, webhook: Webhook
) -> None:
    reply_markup = {"inline_keyboard": [[{"text": "Меню", "callback_data": "mode:generate"}]]}
    webhook.replies.append(
        {"method": "sendMessage", "chat_id": USER, "text": "pong", "reply_markup": reply_markup}
    )
    await telegram.deliver(telegram.message_update(USER, "ping"), webhook_url=webhook.url)
    assert telegram.texts(USER) == ["pong"]
    assert telegram.calls("sendMessage")[0].params["reply_markup"] == reply_markup


async def test_queries_are_answered_once(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    await bot.send_message(USER, "Menu")
    query = telegram.callback_update(USER, "payment_menu")["callback_query"]
    assert await bot.answer_callback_query(query["id"]) is True
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query["id"])
    checkout = telegram.pre_checkout_update(USER, "XTR", 100, "topup:100")["pre_checkout_query"]
    assert await bot.answer_pre_checkout_query(checkout["id"], ok=True) is True
    answers = telegram.calls("answerPreCheckoutQuery")
    assert answers[0].params == {"pre_checkout_query_id": checkout["id"], "ok": True}


async def test_commands_are_kept(bot: Bot) -> None:
    commands = [BotCommand(command="start", description="Меню")]
    assert await bot.set_my_commands(commands) is True
    kept = await bot.get_my_commands()
    assert [(command.command, command.description) for command in kept] == [("start", "Меню")]


async def test_get_updates_keeps_updates_until_an_offset_confirms_them_and_waits_for_the_next(
    bot: Bot, telegram: BotApiSandbox, webhook: Webhook
) -> None:
    await bot.set_webhook(webhook.url)
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook() is True

    first, second = telegram.message_update(USER, "one"), telegram.message_update(USER, "two")
    for update in (first, second):
        telegram.enqueue(update)
    assert (await bot.get_webhook_info()).pending_update_count == 2
    ids = [first["update_id"], second["update_id"]]
    # Not confirmed, so they come again; an offset past the first confirms it for good.
    assert [u.update_id for u in await bot.get_updates(allowed_updates=["message"])] == ids
    assert [u.update_id for u in await bot.get_updates(limit=1)] == ids[:1]
    got = await bot.get_updates(offset=ids[0] + 1)
    assert [(u.update_id, u.message.text if u.message else None) for u in got] == [(ids[1], "two")]
    assert await bot.get_updates(offset=ids[1] + 1) == []
    with pytest.raises(ValueError, match="callback_query"):  # the bot asked for messages only
        telegram.enqueue(telegram.callback_update(USER, "mode:generate", message_id=1))

    # A long poll answers as soon as an update arrives; a second poll ends the first with 409.
    waiting = asyncio.create_task(bot.get_updates(offset=ids[1] + 1, timeout=30))
    await wait_until(polls_waiting(telegram, 1), "waited for an update")
    superseding = asyncio.create_task(bot.get_updates(offset=ids[1] + 1, timeout=30))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(waiting, 5)
    await wait_until(polls_waiting(telegram, 1), "waited for an update")
    third = telegram.message_update(USER, "three")
    telegram.enqueue(third)
    assert [u.update_id for u in await asyncio.wait_for(superseding, 5)] == [third["update_id"]]

    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.get_updates() == []


def polls_waiting(telegram: BotApiSandbox, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return telegram.world.updates.polls_waiting == count

    return check
