"""Top-ups in Telegram Stars (currency XTR) on the same ledger as YooKassa's.

A pending payment row is stored before the invoice is sent; the invoice's payload names that
row. Telegram asks before it takes the Stars (pre_checkout_query): only a pending row of this
user, with these Stars, is approved. The successful_payment that follows credits the rubles fixed
on the row under the charge id as ledger key, so however often Telegram delivers it the balance
moves once.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum

import msgspec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.service import BillingService
from medialab.db.models import Payment
from medialab.domain.idempotency_keys import stars_invoice_key, stars_topup_key
from medialab.domain.ledger import LedgerKind, PaymentStatus
from medialab.payments import store
from medialab.payments.referral_bonus import ReferralBonus
from medialab.settings import Settings

log = logging.getLogger(__name__)
security_log = logging.getLogger("medialab.security")

PROVIDER = "telegram_stars"
CURRENCY = "XTR"
ACTOR = "telegram_stars"
_PAYLOAD = re.compile(r"^stars:(\d{1,18})$")


def invoice_payload(payment_id: int) -> str:
    return f"stars:{payment_id}"


def payment_id_of(payload: str) -> int | None:
    match = _PAYLOAD.match(payload)
    return int(match.group(1)) if match else None


class StarsInvoice(msgspec.Struct, frozen=True):
    payment_id: int
    stars: int
    amount: int  # kopecks the Stars put on the balance
    payload: str


class Verdict(StrEnum):
    """What Telegram's question about a payload is answered; every refusal has its own text."""

    OK = "ok"
    UNKNOWN = "unknown"  # no such invoice of this user (a forged payload, or someone else's)
    WRONG_AMOUNT = "wrong_amount"  # not the Stars (or not the currency) the invoice asked for
    CLOSED = "closed"  # paid (or refunded) already: a new pre-checkout of it is refused


class Paid(msgspec.Struct, frozen=True):
    verdict: Verdict
    credited: bool = False
    amount: int = 0
    balance: int = 0


class StarsPayments:
    """Stateless over the process's sessions and billing: cheap to make per update."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], billing: BillingService, settings: Settings,
                 referrals: ReferralBonus | None = None) -> None:
        self._sessions = sessions
        self._billing = billing
        self._settings = settings
        self._referrals = referrals

    def offers(self, stars: int) -> bool:
        return stars in self._settings.stars.packages

    async def create_invoice(self, telegram_id: int, stars: int, request_id: str | None = None) -> StarsInvoice:
        """A pending payment row for a package; the rubles are fixed now, at today's rate.
        `request_id` names the user's request (the button press): asked again (Telegram
        delivering the update again), the same invoice is answered, never a second one."""
        if not self.offers(stars):
            raise ValueError(f"{stars} Stars is not one of the packages {self._settings.stars.packages}")
        user = await self._billing.get_or_create_user(telegram_id)
        key = stars_invoice_key(request_id)
        try:
            payment = await self._invoice_row(user.user_id, stars, key)
        except IntegrityError:  # the same request, handled at this moment elsewhere
            payment = await self._invoice_row(user.user_id, stars, key)
        payment_id, amount, stars = payment.id, payment.amount, payment.stars or stars
        log.info("stars invoice %s: %s XTR for %s kopecks to user %s", payment_id, stars, amount, user.user_id)
        return StarsInvoice(payment_id, stars, amount, invoice_payload(payment_id))

    async def _invoice_row(self, user_id: int, stars: int, key: str) -> Payment:
        async with self._sessions.begin() as session:
            found = (await session.execute(select(Payment).where(Payment.idempotence_key == key))).scalar_one_or_none()
            if found is not None:
                return found
            payment = Payment(provider=PROVIDER, idempotence_key=key, user_id=user_id,
                              amount=stars * self._settings.stars.ruble_rate, currency=CURRENCY,
                              status=PaymentStatus.PENDING.value, stars=stars)
            session.add(payment)
            await session.flush()
            return payment

    async def pre_checkout(self, telegram_id: int, payload: str, currency: str, total: int) -> Verdict:
        """Whether Telegram may take the Stars: one read, well within Telegram's 10 seconds."""
        async with self._sessions() as session:
            row, verdict = await self._match(session, telegram_id, payload, currency, total)
        if verdict is Verdict.OK and row is not None and row.status != PaymentStatus.PENDING.value:
            verdict = Verdict.CLOSED
        if verdict is not Verdict.OK:
            log.info("stars pre-checkout of user %s refused (%s): payload %r, %s %s",
                     telegram_id, verdict, payload, total, currency)
        return verdict

    async def settle(self, telegram_id: int, payload: str, currency: str, total: int, charge_id: str) -> Paid:
        """A successful_payment: the user's own pending invoice, for its exact Stars, credited
        once. The invoice is claimed for the charge id first, then credited under that id: a
        delivery again (the same charge id) credits nothing more, and a second charge id for an
        invoice already claimed is a security event, never a second credit."""
        async with self._sessions() as session:
            row, verdict = await self._match(session, telegram_id, payload, currency, total)
        if row is None or verdict is not Verdict.OK:
            security_log.warning("security: stars payment %s of user %s (%s %s, payload %r) does not match "
                                 "an invoice (%s): nothing credited", charge_id, telegram_id, total, currency,
                                 payload, verdict)
            return Paid(verdict)
        async with self._sessions.begin() as session:
            await session.execute(
                update(Payment).where(Payment.id == row.id, Payment.status == PaymentStatus.PENDING.value)
                .values(status=PaymentStatus.SUCCEEDED.value, telegram_charge_id=charge_id,
                        raw_data={"telegram_payment_charge_id": charge_id, "total_amount": total}))
            claimed_by = (await session.execute(
                select(Payment.telegram_charge_id).where(Payment.id == row.id))).scalar_one()
        if claimed_by != charge_id:
            security_log.warning("security: stars invoice %s of user %s paid by charge %s, already paid by %s: "
                                 "nothing credited (an operator may refund it)", row.id, telegram_id, charge_id,
                                 claimed_by)
            return Paid(Verdict.CLOSED)
        result = await self._billing.add_balance(
            row.user_id, row.amount, stars_topup_key(charge_id), LedgerKind.TOPUP, payment_id=row.id,
            actor=ACTOR, reason=f"Telegram Stars payment of {row.stars} XTR",
        )
        if result.credited:
            log.info("stars payment %s credited: %s kopecks to user %s", row.id, row.amount, row.user_id)
        if self._referrals is not None:  # on every delivery: a bonus a crash left unpaid is paid now
            await self._referrals.topup_succeeded(row.id)
        return Paid(Verdict.OK, result.credited, row.amount, result.balance)

    async def _match(self, session: AsyncSession, telegram_id: int, payload: str, currency: str,
                     total: int) -> tuple[Payment | None, Verdict]:
        payment_id = payment_id_of(payload)
        row = await store.by_id(session, payment_id) if payment_id is not None else None
        if row is None or row.provider != PROVIDER:
            return None, Verdict.UNKNOWN
        owner_telegram_id, _ = await store.owner(session, row.user_id)
        if owner_telegram_id != telegram_id:
            # Someone else's invoice is not shown to exist.
            return None, Verdict.UNKNOWN
        if currency != CURRENCY or total != row.stars:
            return row, Verdict.WRONG_AMOUNT
        return row, Verdict.OK
