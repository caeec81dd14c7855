"""Settlement: what a YooKassa payment or refund means for a balance, decided from the API alone.

Notifications are unsigned, so they are only hints of which object to look at: the webhook and
the sweeper both call `settle_payment` / `settle_refund`, which fetch the object from the API and
act on what it says there. Money moves once per object however often and in whatever order the
hints arrive, because every move goes through BillingService.add_balance under a key made of the
YooKassa id (the ledger refuses a key twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import CreditResult
from medialab.billing.service import BillingService
from medialab.notify import Notifier
from medialab.db.models import Payment as PaymentRow
from medialab.domain.idempotency_keys import (
    yookassa_cancel_key,
    yookassa_capture_key,
    yookassa_chargeback_key,
    yookassa_topup_key,
)
from medialab.domain.ledger import LedgerKind, PaymentStatus
from medialab.metrics import TOPUPS
from medialab.payments import store
from medialab.payments.referral_bonus import ReferralBonus, take_back_bonus
from medialab.payments.topup import mismatch
from medialab.payments.yookassa_api import Payment, Refund, YooKassaError, YooKassaUnavailable
from medialab.payments.yookassa_client import YooKassaClient

log = logging.getLogger(__name__)
# Payments and refunds that do not match what we asked for: someone should look at them.
security_log = logging.getLogger("medialab.security")

T = TypeVar("T")
NOTIFY_TIMEOUT_SECONDS = 10.0
_NOT_FOUND = 404


class SettlementOutcome(StrEnum):
    CREDITED = "credited"  # the top-up reached the balance now
    DEBITED = "debited"  # a refund was taken off the balance now
    DONE_BEFORE = "done_before"  # nothing left to do: an earlier delivery did it
    CANCELED = "canceled"  # the payment was closed without money
    PENDING = "pending"  # the payer has not paid yet: nothing to do
    UNKNOWN = "unknown"  # not one of our payments
    REJECTED = "rejected"  # it does not match our payment: nothing moved, logged as security
    IGNORED = "ignored"  # an event top-ups have no use for


# medialab_topups_total's label for each outcome of a settlement (IGNORED never comes from one).
TOPUP_LABELS = {
    SettlementOutcome.CREDITED: "credited", SettlementOutcome.DONE_BEFORE: "duplicate",
    SettlementOutcome.REJECTED: "mismatch", SettlementOutcome.CANCELED: "canceled",
    SettlementOutcome.PENDING: "pending", SettlementOutcome.UNKNOWN: "unknown",
    SettlementOutcome.DEBITED: "charged_back",
}


def _counted(outcome: SettlementOutcome) -> SettlementOutcome:
    if outcome in TOPUP_LABELS:
        TOPUPS.labels(outcome=TOPUP_LABELS[outcome]).inc()
    return outcome


class Undecided(Exception):
    """The API could not be asked (or YooKassa is not configured): try again later."""


class Settlement:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], billing: BillingService,
        notifier: Notifier, client: YooKassaClient | None, referrals: ReferralBonus | None = None,
    ) -> None:
        self._sessions = sessions
        self._billing = billing
        self._notifier = notifier
        self._client = client
        self._referrals = referrals

    async def settle_payment(self, provider_payment_id: str) -> SettlementOutcome:
        return _counted(await self._settle_payment(provider_payment_id))

    async def settle_refund(self, refund_id: str) -> SettlementOutcome:
        """Takes a succeeded refund off the balance once (it may go below zero)."""
        return _counted(await self._settle_refund(refund_id))

    async def settle_listed_refund(self, refund: Refund) -> SettlementOutcome:
        """The same for a refund as YooKassa's list of refunds showed it (asked of the API
        already: it is not asked for again)."""
        return _counted(await self._apply_refund(refund))

    async def _settle_payment(self, provider_payment_id: str) -> SettlementOutcome:
        async with self._sessions() as session:
            row = await store.by_provider_id(session, provider_payment_id)
        if row is None:
            log.info("YooKassa payment %s is not one of ours: ignored", provider_payment_id)
            return SettlementOutcome.UNKNOWN
        payment = await self._ask(lambda client: client.get_payment(provider_payment_id))
        if payment is None:
            return self._reject(row, "the API does not know the payment")
        return await self._settle(row, payment)

    async def _settle_refund(self, refund_id: str) -> SettlementOutcome:
        refund = await self._ask(lambda client: client.get_refund(refund_id))
        if refund is None:
            log.info("refund %s is not known to the API: ignored", refund_id)
            return SettlementOutcome.UNKNOWN
        return await self._apply_refund(refund)

    async def _apply_refund(self, refund: Refund) -> SettlementOutcome:
        if refund.status != "succeeded":
            log.info("refund %s is %s, not succeeded: nothing to take back", refund.id, refund.status)
            return SettlementOutcome.PENDING
        async with self._sessions() as session:
            row = await store.by_provider_id(session, refund.payment_id)
        if row is None:
            log.info("refund %s is of payment %s, not ours: ignored", refund.id, refund.payment_id)
            return SettlementOutcome.UNKNOWN
        payment = await self._ask(lambda client: client.get_payment(refund.payment_id))
        if payment is None:
            return self._reject(row, "the API does not know the refunded payment")
        if payment.status != PaymentStatus.SUCCEEDED:
            return self._reject(row, f"refund {refund.id} of a payment that is {payment.status}")
        # The top-up is in the balance before its refund is taken off, whatever came first:
        # never a refund of money that was not credited.
        taken_off: set[str] = set()
        settled = await self._settle(row, payment, taken_off)
        if settled is SettlementOutcome.REJECTED:
            return settled
        debited = await self._debit(row, payment, refund)
        if debited is None:
            return SettlementOutcome.REJECTED
        taken_now = debited.credited or debited.idempotency_key in taken_off
        return SettlementOutcome.DEBITED if taken_now else SettlementOutcome.DONE_BEFORE

    async def _settle(self, row: PaymentRow, payment: Payment, taken_off: set[str] | None = None) -> SettlementOutcome:
        """`taken_off` collects the refunds taken off now, if the payment is credited net."""
        if payment.status == PaymentStatus.CANCELED:
            return await self._close(row, payment)
        if payment.status not in (PaymentStatus.WAITING_FOR_CAPTURE, PaymentStatus.SUCCEEDED):
            await self._keep(row, payment)
            return SettlementOutcome.PENDING
        problem = await self._mismatch(row, payment)
        if problem is not None:
            await self._keep(row, payment)
            if payment.status == PaymentStatus.WAITING_FOR_CAPTURE:
                # Authorized money that is not what we asked for goes back to the payer.
                canceled = await self._ask(lambda client: client.cancel_payment(payment.id, yookassa_cancel_key(payment.id)))
                if canceled is not None:
                    await self._close(row, canceled)
            return self._reject(row, problem)
        if payment.status == PaymentStatus.WAITING_FOR_CAPTURE:
            payment = await self._capture(payment)
            if payment.status == PaymentStatus.CANCELED:
                return await self._close(row, payment)
        return await self._credit(row, payment, set() if taken_off is None else taken_off)

    async def _close(self, row: PaymentRow, payment: Payment) -> SettlementOutcome:
        moved = await self._move(row, PaymentStatus.CANCELED, payment)
        return SettlementOutcome.CANCELED if moved else SettlementOutcome.DONE_BEFORE

    async def _keep(self, row: PaymentRow, payment: Payment) -> None:
        """Notes the API's answer; it moves updated_at too, so that the sweeper goes round."""
        async with self._sessions.begin() as session:
            await store.keep_raw(session, row.id, msgspec.to_builtins(payment))

    async def _capture(self, payment: Payment) -> Payment:
        """Takes the money the payer authorized; the same key makes a repeat harmless."""
        captured = await self._ask(lambda client: client.capture_payment(payment.id, yookassa_capture_key(payment.id)))
        if captured is None or captured.status == PaymentStatus.WAITING_FOR_CAPTURE:
            raise Undecided(f"YooKassa payment {payment.id} could not be captured yet")
        return captured

    async def _credit(self, row: PaymentRow, payment: Payment, taken_off: set[str]) -> SettlementOutcome:
        result = await self._billing.add_balance(
            row.user_id, row.amount, yookassa_topup_key(payment.id), LedgerKind.TOPUP, payment_id=row.id,
            actor="yookassa", reason=f"YooKassa payment {payment.id}",
        )
        await self._move(row, PaymentStatus.SUCCEEDED, payment)
        if self._referrals is not None:  # on every notice: a bonus a crash left unpaid is paid now
            await self._referrals.topup_succeeded(row.id)
        if not result.credited:
            return SettlementOutcome.DONE_BEFORE
        log.info("payment %s credited: %s kopecks to user %s", row.id, row.amount, row.user_id)
        debits = await self._take_off_refunds(row, payment)
        taken_off.update(debit.idempotency_key for debit in debits)
        credited = row.amount + sum(debit.amount for debit in debits)
        if credited > 0:
            await self._tell_user(row, credited, debits[-1].balance if debits else result.balance)
        return SettlementOutcome.CREDITED

    async def _take_off_refunds(self, row: PaymentRow, payment: Payment) -> list[CreditResult]:
        """A payment refunded before it was credited is credited net: its refunds are taken off
        right after the credit, each under the key refund.succeeded uses, so that whichever
        comes first a refund is taken off once. Answers the debits made now. The API away, they
        are left to their notifications and to the refund sweep, which lists every refund."""
        if payment.refunded_kopecks == 0:
            return []
        try:
            refunds = await self._ask(lambda client: _all(client.refund_pages(payment_id=payment.id)))
        except Undecided as exc:
            log.warning("payment %s: its refunds are left to the refund sweep: %s", row.id, exc)
            return []
        debits = []
        for refund in reversed(refunds or []):  # listed newest first; the ledger reads in order
            if refund.status == "succeeded" and refund.payment_id == payment.id:
                debited = await self._debit(row, payment, refund)
                if debited is not None and debited.credited:
                    debits.append(debited)
        return debits

    async def _debit(self, row: PaymentRow, payment: Payment, refund: Refund) -> CreditResult | None:
        """Takes a succeeded refund off once; None (and a security warning) when it is not one
        of this payment's."""
        if refund.amount.currency != row.currency or refund.amount_kopecks > row.amount:
            self._reject(row, f"refund {refund.id} of {refund.amount} exceeds the payment")
            return None
        result = await self._billing.add_balance(
            row.user_id, -refund.amount_kopecks, yookassa_chargeback_key(refund.id), LedgerKind.CHARGEBACK,
            payment_id=row.id, actor="yookassa", reason=f"YooKassa refund {refund.id}",
        )
        if payment.refunded_kopecks >= row.amount:
            await self._move(row, PaymentStatus.REFUNDED, payment)
        await take_back_bonus(self._sessions, self._billing, row.id)  # once, however often asked
        if result.credited:
            log.info("refund %s of payment %s: %s kopecks taken back", refund.id, row.id, refund.amount_kopecks)
        return result

    async def _mismatch(self, row: PaymentRow, payment: Payment) -> str | None:
        async with self._sessions() as session:
            telegram_id, _ = await store.owner(session, row.user_id)
        return mismatch(payment, row.amount, row.currency, telegram_id, row.id)

    def _reject(self, row: PaymentRow, problem: str) -> SettlementOutcome:
        security_log.warning(
            "security: YooKassa payment %s does not match payment %s (%s kopecks %s, user %s): "
            "%s; nothing credited", row.provider_payment_id, row.id, row.amount, row.currency,
            row.user_id, problem,
        )
        return SettlementOutcome.REJECTED

    async def _move(self, row: PaymentRow, status: PaymentStatus, payment: Payment) -> bool:
        async with self._sessions.begin() as session:
            return await store.move_status(session, row.id, status, msgspec.to_builtins(payment))

    async def _tell_user(self, row: PaymentRow, amount: int, balance: int) -> None:
        """The credit stands whatever happens here: a message that cannot go is only logged."""
        try:
            async with self._sessions() as session:
                telegram_id, language = await store.owner(session, row.user_id)
            await asyncio.wait_for(
                self._notifier.topup_credited(telegram_id, language, amount, balance),
                NOTIFY_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # noqa: BLE001 - the user is told by /balance instead
            log.warning("payment %s: the user was not told of the top-up: %r", row.id, exc)

    async def _ask(self, call: Callable[[YooKassaClient], Awaitable[T]]) -> T | None:
        """One API call; None when the object does not exist there, Undecided when the API
        could not be asked or refused for a reason of its own."""
        if self._client is None:
            raise Undecided("YooKassa is not configured: a notification cannot be checked")
        try:
            return await call(self._client)
        except ValueError:  # an id the API could not even be asked about
            return None
        except YooKassaUnavailable as exc:
            raise Undecided(str(exc)) from None
        except YooKassaError as exc:
            if exc.status == _NOT_FOUND:
                return None
            raise Undecided(str(exc)) from None


async def _all(pages: AsyncIterator[list[T]]) -> list[T]:
    return [item async for page in pages for item in page]
