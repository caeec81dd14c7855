"""TelegramNotifier against the Bot API stand-in: a user who blocked the bot breaks nothing,
flood control is waited out, and the refund and top-up messages carry the balance line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from medialab.billing.results import RefundResult
from medialab.bot.notifier import TelegramNotifier
from medialab.sandbox.telegram import BotApiSandbox
from medialab.bot.client import create_bot
from medialab.settings import Settings

from stand_ins import BOT_TOKEN

USER = 760_001
OTHER = 760_002


@pytest.fixture
async def notifier(telegram_url: str, telegram: BotApiSandbox) -> AsyncIterator[TelegramNotifier]:
    # Both users have started the bot (Telegram answers "chat not found" otherwise).
    for user in (USER, OTHER):
        telegram.command_update(user, "start")
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": telegram_url}, env_file=None)
    bot: Bot | None = create_bot(settings)
    assert bot is not None
    yield TelegramNotifier(bot)
    await bot.session.close()


async def test_a_blocked_user_is_skipped_and_others_still_get_theirs(
    notifier: TelegramNotifier, telegram: BotApiSandbox
) -> None:
    telegram.block_chat(USER)
    assert await notifier.topup_credited(USER, "ru", amount=10_000, balance=10_000) is False
    assert await notifier.topup_credited(OTHER, "ru", amount=10_000, balance=12_050) is True

    (refused,) = telegram.calls("sendMessage", chat_id=USER)
    assert refused.error_code == 403
    assert telegram.texts(OTHER) == ["Оплата получена: 100 ₽ зачислено на баланс.\nБаланс: 120,50 ₽"]


async def test_flood_control_is_waited_out_and_the_message_sent(
    notifier: TelegramNotifier, telegram: BotApiSandbox
) -> None:
    telegram.rate_limit_next(1, retry_after=1)
    refund = RefundResult("op-1", user_id=1, refunded=True, amount=1000, balance=1000)
    assert await notifier.operation_refunded(USER, "ru", refund) is True

    first, second = telegram.calls("sendMessage", chat_id=USER)
    assert (first.error_code, second.error_code) == (429, None)
    assert first.params == second.params
    assert telegram.texts(USER) == [
        "Операция не удалась, мы вернули 10 ₽ на баланс (возврат).\nБаланс: 10 ₽"]


async def test_an_english_refund_of_a_free_operation(notifier: TelegramNotifier, telegram: BotApiSandbox) -> None:
    refund = RefundResult("op-2", user_id=1, refunded=True, free_operation=True, balance=0)
    assert await notifier.operation_refunded(USER, "en", refund) is True
    (text,) = telegram.texts(USER)
    assert "refund" in text and text.splitlines()[-1] == "Balance: 0 ₽"
