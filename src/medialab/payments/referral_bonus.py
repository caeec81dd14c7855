"""The referral bonus: REFERRAL_BONUS rubles to the referrer when the user they brought first tops
up (YooKassa or Stars), taken back when that top-up is refunded or charged back.

Both are called on every notice of a top-up or a refund, not only the first: a process that died
between the top-up and the bonus pays it on the next notice. Once holds by the ledger keys (one
bonus and one take-back per referred user) and by the referral row: its first top-up is claimed
once (`first_payment_id`), and a refund of it marks it revoked. The bonus is credited with a
guard that reads `revoked` under the row's lock in the bonus's own transaction, so a refund that
races the bonus either sees the bonus (and takes it back) or stops it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import CreditResult
from medialab.billing.service import BillingService
from medialab.notify import Notifier
from medialab.db.models import LedgerEntry, Payment, Referral
from medialab.domain.idempotency_keys import clawback_key, referral_key
from medialab.domain.ledger import LedgerKind
from medialab.payments import store
from medialab.settings import Settings

log = logging.getLogger(__name__)
ACTOR = "referral"
NOTIFY_TIMEOUT_SECONDS = 10.0


class Revoked(Exception):
    """The top-up was refunded before its bonus was paid: none is paid."""


class ReferralBonus:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], billing: BillingService, settings: Settings,
                 notifier: Notifier) -> None:
        self._sessions = sessions
        self._billing = billing
        self._settings = settings
        self._notifier = notifier

    async def topup_succeeded(self, payment_id: int) -> CreditResult | None:
        """The payment is in its user's balance: if it is their first top-up and someone brought
        them, the referrer gets the bonus once and is told. None when no bonus is due."""
        async with self._sessions.begin() as session:
            referral = await _claim_first_topup(session, payment_id)
        if referral is None or referral.first_payment_id != payment_id or referral.revoked:
            return None
        bonus = self._settings.billing.referral_bonus
        if bonus <= 0:
            return None
        referred = referral.referred_user_id
        try:
            credit = await self._billing.add_balance(
                referral.referrer_user_id, bonus, referral_key(referred), LedgerKind.REFERRAL, actor=ACTOR,
                reason=f"referral bonus: user {referred} topped up (payment {payment_id})",
                guard=partial(_not_revoked, referred))
        except Revoked:
            log.info("payment %s was refunded before its referral bonus: none paid", payment_id)
            return None
        if credit.credited:
            log.info("referral bonus of %s kopecks to user %s for user %s", bonus, credit.user_id, referred)
            await self._tell_referrer(credit)
        return credit

    async def _tell_referrer(self, credit: CreditResult) -> None:
        """The bonus stands whatever happens here: a message that cannot go is only logged."""
        try:
            async with self._sessions() as session:
                telegram_id, language = await store.owner(session, credit.user_id)
            await asyncio.wait_for(self._notifier.referral_bonus(telegram_id, language, credit.amount, credit.balance),
                                   NOTIFY_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the referrer sees it in /balance
            log.warning("user %s was not told of their referral bonus: %r", credit.user_id, exc)


async def take_back_bonus(sessions: async_sessionmaker[AsyncSession], billing: BillingService,
                          payment_id: int) -> CreditResult | None:
    """The payment was refunded (in part or in whole) or charged back: if it was a referred
    user's first top-up, its bonus is taken back once (the referrer's balance may go below zero,
    as with a chargeback) and none is paid for it later. None when there was no bonus to take."""
    async with sessions.begin() as session:
        referral = await _claim_first_topup(session, payment_id)
        if referral is None or referral.first_payment_id != payment_id:
            return None
        await session.execute(update(Referral).where(Referral.referred_user_id == referral.referred_user_id)
                              .values(revoked=True))
    referred = referral.referred_user_id
    async with sessions() as session:
        bonus = (await session.scalars(select(LedgerEntry.amount).where(
            LedgerEntry.idempotency_key == referral_key(referred)))).one_or_none()
    if bonus is None:
        return None
    taken = await billing.add_balance(
        referral.referrer_user_id, -bonus, clawback_key(referred), LedgerKind.CLAWBACK, actor=ACTOR,
        reason=f"referral bonus taken back: payment {payment_id} of user {referred} was refunded")
    if taken.credited:
        log.info("referral bonus of user %s taken back: payment %s refunded", taken.user_id, payment_id)
    return taken


async def _claim_first_topup(session: AsyncSession, payment_id: int) -> Referral | None:
    """The referral of the payment's user with its first top-up claimed for this payment if it
    had none yet (only a credited top-up comes here); None when nobody brought the user."""
    user_id = (await session.scalars(select(Payment.user_id).where(Payment.id == payment_id))).one()
    await session.execute(update(Referral).where(Referral.referred_user_id == user_id,
                                                 Referral.first_payment_id.is_(None))
                          .values(first_payment_id=payment_id).execution_options(synchronize_session=False))
    return (await session.scalars(select(Referral).where(Referral.referred_user_id == user_id)
                                  .execution_options(populate_existing=True))).one_or_none()


async def _not_revoked(referred_user_id: int, session: AsyncSession) -> None:
    revoked = (await session.scalars(select(Referral.revoked).where(Referral.referred_user_id == referred_user_id)
                                     .with_for_update())).one()
    if revoked:
        raise Revoked(referred_user_id)
