"""Telling a user something outside a conversation: the Telegram implementation of the
`Notifier` port (medialab/notify.py) that payments and jobs call.

A user who blocked the bot is not an error of ours: the message is dropped and logged. Flood
control (429) is waited out with Telegram's `retry_after`. Anything else that keeps Telegram from
taking the message (network, 5xx) raises `NotDelivered`, so a job can retry its delivery.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile

from medialab.billing.results import RefundResult
from medialab.bot.texts import texts_for
from medialab.domain.money import format_rub
from medialab.notify import NotDelivered

log = logging.getLogger(__name__)

# Telegram refuses photos above 10 MB or with sides adding up to more than 10000 px.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
RETRY_AFTER_ATTEMPTS = 3


class TelegramNotifier:
    """Answers True when Telegram took the message, False when the user blocked the bot."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def topup_credited(self, telegram_id: int, language: str, amount: int, balance: int) -> bool:
        text = texts_for(language)("topup-credited", amount=format_rub(amount), balance=format_rub(balance))
        return await self._send(telegram_id, lambda: self._bot.send_message(telegram_id, text))

    async def referral_bonus(self, telegram_id: int, language: str, amount: int, balance: int) -> bool:
        text = texts_for(language)("referral-bonus", amount=format_rub(amount), balance=format_rub(balance))
        return await self._send(telegram_id, lambda: self._bot.send_message(telegram_id, text))

    async def operation_refunded(self, telegram_id: int, language: str, refund: RefundResult) -> bool:
        texts = texts_for(language)
        if refund.free_operation:
            text = texts("refund-free", balance=format_rub(refund.balance))
        else:
            text = texts("refund-money", amount=format_rub(refund.amount), balance=format_rub(refund.balance))
        return await self._send(telegram_id, lambda: self._bot.send_message(telegram_id, text))

    async def result_ready(
        self, telegram_id: int, language: str, image: bytes, filename: str, width: int, height: int
    ) -> bool:
        caption = texts_for(language)("result-ready")
        upload = BufferedInputFile(image, filename=filename)
        if len(image) <= PHOTO_MAX_BYTES and width + height <= PHOTO_MAX_SIDES:
            return await self._send(telegram_id, lambda: self._bot.send_photo(telegram_id, upload, caption=caption))
        return await self._send(telegram_id, lambda: self._bot.send_document(telegram_id, upload, caption=caption))

    async def _send(self, telegram_id: int, call) -> bool:  # type: ignore[no-untyped-def]
        for _ in range(RETRY_AFTER_ATTEMPTS):
            try:
                await call()
                return True
            except TelegramForbiddenError:
                log.info("user %s blocked the bot: message dropped", telegram_id)
                return False
            except TelegramRetryAfter as exc:
                log.info("flood control for %s: waiting %ss", telegram_id, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                raise NotDelivered(f"telegram unavailable: {type(exc).__name__}") from None
            except TelegramBadRequest as exc:
                if "chat not found" in exc.message.lower():
                    log.info("chat %s not found: message dropped", telegram_id)
                    return False
                raise
        raise NotDelivered(f"flood control for {telegram_id} did not end after {RETRY_AFTER_ATTEMPTS} waits")


class LogNotifier:
    """Without TELEGRAM_BOT_TOKEN nothing can reach users; say so in the log instead."""

    async def topup_credited(self, telegram_id: int, language: str, amount: int, balance: int) -> bool:
        log.warning("no bot token: user %s not told of a top-up of %s", telegram_id, format_rub(amount))
        return False

    async def referral_bonus(self, telegram_id: int, language: str, amount: int, balance: int) -> bool:
        log.warning("no bot token: user %s not told of a referral bonus of %s", telegram_id, format_rub(amount))
        return False

    async def operation_refunded(self, telegram_id: int, language: str, refund: RefundResult) -> bool:
        log.warning("no bot token: user %s not told of refund %s", telegram_id, refund.operation_id)
        return False

    async def result_ready(
        self, telegram_id: int, language: str, image: bytes, filename: str, width: int, height: int
    ) -> bool:
        log.warning("no bot token: result for user %s not delivered", telegram_id)
        return False
