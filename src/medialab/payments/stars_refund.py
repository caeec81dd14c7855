"""Refunding a Stars top-up: the Stars back to the user through Telegram, then the rubles they
credited taken off the balance once (a chargeback; it may leave the balance below zero).

The ledger entry of the top-up (keyed by the charge id) says whose it was and how much it put on
the balance, so a charge whose invoice was paid twice is refunded by its own amount. Telegram
first: if it refuses, nothing is taken back; if it says the charge was refunded already (an
earlier run that stopped before the debit), the debit is made now, under its own key, once.

A call whose answer never came (a timeout, a dropped connection, a 5xx) may have refunded or
not, so it is not reported as "nothing changed": Telegram is asked again, and a repeated refund
of a refunded charge answers CHARGE_ALREADY_REFUNDED. Either answer settles it; after
ASKS calls without one, the operator is told that nothing was taken back *yet* and to run the
command again.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError, TelegramServerError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.service import BillingService
from medialab.db.models import LedgerEntry, Payment, User
from medialab.domain.idempotency_keys import stars_refund_key, stars_topup_key
from medialab.domain.ledger import LedgerKind, PaymentStatus
from medialab.payments.referral_bonus import take_back_bonus
from medialab.payments.stars import PROVIDER

log = logging.getLogger(__name__)
security_log = logging.getLogger("medialab.security")

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
# Calls of refundStarPayment for one refund when answers get lost, and the pause between them.
ASKS = 3
ASK_AGAIN_AFTER_SECONDS = 0.5
# Who takes back a credit that Telegram reports refunded.
ACTOR = "telegram_stars"


class StarsRefundError(Exception):
    """The refund cannot be made; nothing changed. The message is one line."""


class StarsRefund(msgspec.Struct, frozen=True):
    charge_id: str
    telegram_id: int
    stars: int | None
    amount: int  # kopecks taken back (0 when it was done before)
    balance: int
    debited: bool
    # An answer of Telegram's was lost on the way and asking again settled what happened.
    checked_after_lost_answer: bool = False


class _Credit(msgspec.Struct, frozen=True):
    user_id: int
    telegram_id: int
    amount: int
    payment_id: int | None
    stars: int | None


async def refund_stars(sessions: async_sessionmaker[AsyncSession], billing: BillingService, bot: Bot | None,
                       charge_id: str, actor: str) -> StarsRefund:
    credit = await _credit_of(sessions, charge_id)
    if credit is None:
        raise StarsRefundError(f"no Telegram Stars payment with charge id {charge_id!r}")
    if bot is None:
        raise StarsRefundError("TELEGRAM_BOT_TOKEN is not set: Telegram cannot be asked to refund the Stars")
    lost_answer = await _refund_in_telegram(bot, credit.telegram_id, charge_id)
    refund = await _take_back(sessions, billing, credit, charge_id, actor)
    return msgspec.structs.replace(refund, checked_after_lost_answer=lost_answer)


async def _refund_in_telegram(bot: Bot, telegram_id: int, charge_id: str) -> bool:
    """Returns once Telegram has refunded the charge (now or before); whether an answer was lost
    on the way. Raises StarsRefundError when it did not, or when that could not be learnt."""
    lost: TelegramAPIError | None = None
    for ask in range(1, ASKS + 1):
        try:
            await bot.refund_star_payment(user_id=telegram_id, telegram_payment_charge_id=charge_id)
            return lost is not None
        except TelegramBadRequest as exc:
            if ALREADY_REFUNDED not in exc.message:
                raise StarsRefundError(f"Telegram refused the refund of {charge_id}: {exc.message}") from None
            log.info("stars charge %s was refunded in Telegram before%s", charge_id,
                     " (by the call whose answer was lost)" if lost else "")
            return lost is not None
        except (TelegramNetworkError, TelegramServerError) as exc:
            lost = exc  # refunded or not: unknown until Telegram is asked again
            log.warning("stars refund %s: no answer from Telegram (%s), ask %d of %d",
                        charge_id, exc.message, ask, ASKS)
        except TelegramAPIError as exc:
            # An answer, and not a refund (flood control, the bot's token): this call changed
            # nothing, but one whose answer was lost before it may have.
            if lost is None:
                raise StarsRefundError(f"Telegram could not refund {charge_id} now ({exc.message}); "
                                       "nothing changed") from None
            break
        if ask < ASKS:
            await asyncio.sleep(ASK_AGAIN_AFTER_SECONDS)
    raise StarsRefundError(
        f"Telegram's answer to the refund of {charge_id} was lost ({lost.message if lost else 'no answer'}) and "
        f"asking again did not tell whether the Stars went back; nothing was taken off the balance: "
        f"run the command again to check")


async def take_back_refunded(sessions: async_sessionmaker[AsyncSession], billing: BillingService,
                             telegram_id: int, charge_id: str, stars: int) -> StarsRefund | None:
    """Telegram says the charge was refunded (its `refunded_payment` message): the rubles it
    credited are taken back once, under the same key as `medialab admin refund-stars`, so the
    two paths converge whichever comes first. None when the charge is not this user's credit
    of these Stars (nothing changes)."""
    credit = await _credit_of(sessions, charge_id)
    if credit is None or credit.telegram_id != telegram_id or (credit.stars is not None and credit.stars != stars):
        security_log.warning("security: refunded_payment %s of user %s (%s XTR) matches no Stars credit of theirs",
                    charge_id, telegram_id, stars)
        return None
    return await _take_back(sessions, billing, credit, charge_id, ACTOR)


async def _take_back(sessions: async_sessionmaker[AsyncSession], billing: BillingService, credit: _Credit,
                     charge_id: str, actor: str) -> StarsRefund:
    result = await billing.add_balance(
        credit.user_id, -credit.amount, stars_refund_key(charge_id), LedgerKind.CHARGEBACK, payment_id=credit.payment_id,
        actor=actor, reason=f"Telegram Stars refund of charge {charge_id}",
    )
    if credit.payment_id is not None:
        async with sessions.begin() as session:
            await session.execute(
                update(Payment).where(Payment.id == credit.payment_id, Payment.status == PaymentStatus.SUCCEEDED.value)
                .values(status=PaymentStatus.REFUNDED.value))
        await take_back_bonus(sessions, billing, credit.payment_id)  # once, however often asked
    return StarsRefund(charge_id, credit.telegram_id, credit.stars, credit.amount if result.credited else 0,
                       result.balance, result.credited)


async def _credit_of(sessions: async_sessionmaker[AsyncSession], charge_id: str) -> _Credit | None:
    query = (
        select(LedgerEntry.user_id, User.telegram_id, LedgerEntry.amount, LedgerEntry.payment_id, Payment.stars,
               Payment.provider)
        .join(User, User.id == LedgerEntry.user_id)
        .outerjoin(Payment, Payment.id == LedgerEntry.payment_id)
        .where(LedgerEntry.idempotency_key == stars_topup_key(charge_id), LedgerEntry.kind == LedgerKind.TOPUP.value)
    )
    async with sessions() as session:
        row = (await session.execute(query)).one_or_none()
    # A YooKassa payment id in the same key space is not a Stars charge.
    if row is None or row.provider != PROVIDER:
        return None
    return _Credit(row.user_id, row.telegram_id, row.amount, row.payment_id, row.stars)
