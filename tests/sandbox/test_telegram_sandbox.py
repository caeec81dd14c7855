"""The Bot API sandbox, driven over HTTP on 127.0.0.1 by a real aiogram Bot."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from medialab.sandbox.telegram import BotApiSandbox
from stand_ins import BOT_ID

USER = 5001
PAY_BUTTON = InlineKeyboardButton(text="💰 Оплатить / Баланс", callback_data="payment_menu")
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[PAY_BUTTON]])


async def test_get_me_is_the_bot_itself(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "medialab_test_bot")


async def test_send_message_echoes_keyboard_and_records_it_decoded(
    bot: Bot, telegram: BotApiSandbox
) -> None:
    telegram.message_update(USER, "/start")  # the user's message takes message_id 1
    telegram.message_update(USER + 1, "/start")
    first = await bot.send_message(USER, "Привет", reply_markup=KEYBOARD)
    second = await bot.send_message(USER, "42")
    other_chat = await bot.send_message(USER + 1, "hello")

    assert (first.message_id, second.message_id, other_chat.message_id) == (2, 3, 2)
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.is_bot
    assert first.reply_markup is not None
    echoed = first.reply_markup.model_dump(exclude_none=True)
    assert echoed == KEYBOARD.model_dump(exclude_none=True)
    recorded = telegram.calls("sendMessage", chat_id=USER)
    assert recorded[0].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "💰 Оплатить / Баланс", "callback_data": "payment_menu"}]]
    }
    assert recorded[0].params["chat_id"] == USER
    assert telegram.texts(USER) == ["Привет", "42"]  # a numeric text stays a string


async def test_a_chat_that_never_wrote_cannot_be_messaged(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "hi")


async def test_callback_data_over_64_bytes_is_refused(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "menu", reply_markup=too_long)


async def test_edits_change_the_message_and_an_empty_edit_is_refused(
    bot: Bot, telegram: BotApiSandbox
) -> None:
    telegram.message_update(USER, "/start")
    sent = await bot.send_message(USER, "Меню", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("Баланс: 10 ₽", chat_id=USER, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "Баланс: 10 ₽"
    assert edited.reply_markup is None and edited.edit_date is not None
    with_keyboard = await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=KEYBOARD
    )
    assert not isinstance(with_keyboard, bool) and with_keyboard.reply_markup is not None
    assert with_keyboard.reply_markup.inline_keyboard[0][0].callback_data == "payment_menu"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=USER, message_id=sent.message_id, reply_markup=KEYBOARD
        )
    assert telegram.texts(USER) == ["Меню", "Баланс: 10 ₽"]
    assert await bot.delete_message(USER, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("gone", chat_id=USER, message_id=sent.message_id)


async def test_wrong_token_and_unknown_method(telegram_url: str, telegram: BotApiSandbox) -> None:
    stranger = Bot("999:other", session=AiohttpSession(api=TelegramAPIServer.from_base(telegram_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()
    async with httpx.AsyncClient(base_url=telegram_url) as client:
        unauthorized = await client.post("/bot999:other/getMe")
        unknown = await client.post(f"/bot{telegram.token}/sendTelepathy")
        stray = await client.get("/favicon.ico")
        garbled = await client.post(
            f"/bot{telegram.token}/sendMessage",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert unknown.status_code == 404
    assert unknown.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    assert stray.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert garbled.status_code == 400 and garbled.json()["ok"] is False
    # Calls with a foreign token are not our bot's and are not recorded; unknown methods are.
    assert [call.method for call in telegram.calls()] == ["sendTelepathy"]


async def test_json_body_and_query_string_are_understood(
    telegram_url: str, telegram: BotApiSandbox
) -> None:
    telegram.message_update(USER, "/start")
    markup = {"inline_keyboard": [[{"text": "Пополнить баланс", "callback_data": "payment_menu"}]]}
    async with httpx.AsyncClient(base_url=telegram_url) as client:
        sent = await client.post(
            f"/bot{telegram.token}/SENDMESSAGE",
            json={"chat_id": USER, "text": "Баланс: 0 ₽", "reply_markup": markup},
        )
        me = await client.get(f"/bot{telegram.token}/getMe")
        queried = await client.get(
            f"/bot{telegram.token}/sendChatAction", params={"chat_id": USER, "action": "typing"}
        )
    assert sent.status_code == 200 and sent.json()["result"]["reply_markup"] == markup
    assert me.json()["result"]["is_bot"] is True
    assert queried.json() == {"ok": True, "result": True}
    assert telegram.calls("sendMessage")[0].params["reply_markup"] == markup
    assert telegram.calls("sendChatAction")[0].params == {"chat_id": USER, "action": "typing"}


async def test_blocked_chat_is_forbidden(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    telegram.block_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "Баланс: 10 ₽")
    assert telegram.calls("sendMessage")[0].error_code == 403
    assert telegram.texts(USER) == []  # the user never saw it


async def test_rate_limit_answers_429_then_recovers(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    telegram.rate_limit_next(1, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(USER, "first")
    assert raised.value.retry_after == 3
    assert (await bot.send_message(USER, "second")).text == "second"
    assert telegram.texts(USER) == ["second"]


async def test_wait_for_returns_a_call_made_later(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    await bot.send_message(USER, "earlier")
    mark = telegram.checkpoint()
    waiting = asyncio.create_task(
        telegram.wait_for("sendMessage", lambda call: "Баланс" in call.params["text"], after=mark)
    )
    await asyncio.sleep(0)
    assert not waiting.done()
    await bot.send_message(USER, "Баланс: 10 ₽")
    call = await asyncio.wait_for(waiting, 1)
    assert call.params["text"] == "Баланс: 10 ₽" and call.chat_id == USER
    with pytest.raises(TimeoutError, match="sendPhoto"):
        await telegram.wait_for("sendPhoto", timeout=0.05)


async def test_stars_invoice_and_single_refund(bot: Bot, telegram: BotApiSandbox) -> None:
    telegram.message_update(USER, "/start")
    invoice = await bot.send_invoice(
        USER,
        title="Пополнение",
        description="100 ⭐",
        payload="topup:100",
        currency="XTR",
        prices=[LabeledPrice(label="Пополнение", amount=100)],
        provider_token="",
    )
    assert invoice.invoice is not None
    assert (invoice.invoice.currency, invoice.invoice.total_amount) == ("XTR", 100)
    paid = telegram.successful_payment_update(USER, "XTR", 100, "topup:100")
    charge_id = paid["message"]["successful_payment"]["telegram_payment_charge_id"]

    assert await bot.refund_star_payment(USER, charge_id) is True
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(USER, "stxUnknownCharge")


async def test_a_lost_answer_leaves_the_call_done_and_the_bot_without_an_answer(
    bot: Bot, telegram: BotApiSandbox
) -> None:
    """As when the connection drops after Telegram refunded: the bot gets no answer, and asking
    again answers "Bad Request: CHARGE_ALREADY_REFUNDED" (the Bot API's words, tdlib/td#3209)."""
    paid = telegram.successful_payment_update(USER, "XTR", 50, "topup:50")
    charge_id = paid["message"]["successful_payment"]["telegram_payment_charge_id"]
    telegram.lose_answers("refundStarPayment")

    with pytest.raises(TelegramNetworkError):
        await bot.refund_star_payment(USER, charge_id)
    assert telegram.world.charges[charge_id].refunded
    with pytest.raises(TelegramBadRequest) as again:
        await bot.refund_star_payment(USER, charge_id)
    assert again.value.message == "Bad Request: CHARGE_ALREADY_REFUNDED"
    assert [call.error_code for call in telegram.calls("refundStarPayment")] == [None, 400]
