"""The payment sweep: settles payments whose notification never came (or never got through).

YooKassa gives up on a notification after 24 hours of failed deliveries, and a webhook can be
misconfigured for longer. Every payment still open 15 minutes after it was made is asked about
through the same settlement as the webhook, so a lost notification costs the user a wait, never
the money.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.payments import store
from medialab.payments.refund_sweep import RefundSweepReport
from medialab.payments.settlement import Settlement, Undecided

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=15)
# How long YooKassa keeps an Idempotence-Key: an unanswered create older than this cannot be
# repeated any more, and is closed.
KEY_LIFETIME = timedelta(hours=24)
BATCH = 100


class PaymentSweepReport(msgspec.Struct):
    checked: int = 0
    # How many payments ended in each settlement outcome ("credited", "pending", ...).
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    undecided: int = 0
    # Creates that had no answer, repeated under their key: attached to what YooKassa made.
    finished_unanswered: int = 0
    closed_unanswered: int = 0
    # Payments whose settlement failed unexpectedly (logged with the cause); the pass went on.
    failed: int = 0
    # Refunds made in YooKassa since the last pass, applied once each.
    refunds: RefundSweepReport = msgspec.field(default_factory=RefundSweepReport)

    @property
    def trouble(self) -> int:
        """Payments and refunds that could not be settled now (undecided or failed)."""
        return self.undecided + self.failed + self.refunds.undecided + self.refunds.failed


async def sweep_open_payments(
    sessions: async_sessionmaker[AsyncSession], settlement: Settlement,
    now: datetime | None = None, older_than: timedelta = SWEEP_AFTER, batch: int | None = BATCH,
) -> PaymentSweepReport:
    """Settles payments still open `older_than` after they were made, `batch` at most (None:
    all of them)."""
    now = now or datetime.now(UTC)
    before = now - older_than
    report = PaymentSweepReport()
    async with sessions.begin() as session:
        report.closed_unanswered = await store.close_unanswered(session, now - KEY_LIFETIME)
    async with sessions() as session:
        payments = await store.open_before(session, before, batch)
    outcomes: Counter[str] = Counter()
    for payment in payments:
        report.checked += 1
        try:
            outcomes[await settlement.settle_payment(payment.provider_payment_id or "")] += 1
        except Undecided as exc:
            report.undecided += 1
            log.warning("sweeper: payment %s not settled now: %s", payment.id, exc)
        except Exception:  # noqa: BLE001 - one payment's trouble must not stop the pass
            report.failed += 1
            log.exception("sweeper: payment %s could not be settled", payment.id)
    report.outcomes = dict(outcomes)
    return report
