"""The refund sweep: takes back refunds whose refund.succeeded never got through.

A refund made in YooKassa's dashboard reaches us only as a notification; YooKassa gives up after
24 hours, and a webhook behind a proxy missing from YOOKASSA_TRUSTED_PROXIES refuses every one.
Each pass lists YooKassa's refunds made since the last pass (`GET /refunds`, `created_at.gte`,
page by page) and applies each succeeded refund of one of our payments through the webhook's
settlement, under the webhook's key (`chargeback:<refund id>`): whichever comes first, a refund
is taken back once. Refunds of payments that are not ours are logged and skipped.

The mark (table sweep_marks) is YooKassa's `created_at` of the newest refund listed, and moves
only when every refund up to it has been applied: a refund still pending, or one that could not
be applied now, holds the mark at its own `created_at`, so the next pass lists it again. A pass
starts OVERLAP before the mark, since a refund may appear in the list after a newer one was
listed; what is listed again is applied once (its key), and one already in the ledger costs no
API call. With no mark yet, the first pass starts at our oldest YooKassa payment: a refund of
ours cannot be older than its payment.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.sql import insert_ignoring_conflicts
from medialab.db.models import LedgerEntry, Payment, SweepMark, as_utc
from medialab.domain.idempotency_keys import yookassa_chargeback_key
from medialab.payments.settlement import SettlementOutcome, Settlement, Undecided
from medialab.payments.store import PROVIDER
from medialab.payments.yookassa_api import Refund, YooKassaFailure
from medialab.payments.yookassa_client import YooKassaClient

log = logging.getLogger(__name__)

MARK = "yookassa_refunds"
OVERLAP = timedelta(hours=1)


class RefundSweepReport(msgspec.Struct):
    # Where this pass's list began (None: nothing to list, no YooKassa payment of ours yet).
    since: datetime | None = None
    checked: int = 0
    # How many refunds ended in each outcome ("debited", "done_before", "unknown", ...).
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    # The list or a refund could not be asked about now; the mark waits for them.
    undecided: int = 0
    # Refunds whose settlement failed unexpectedly (logged with the cause); the pass went on.
    failed: int = 0


async def sweep_refunds(
    sessions: async_sessionmaker[AsyncSession], settlement: Settlement, client: YooKassaClient | None
) -> RefundSweepReport:
    report = RefundSweepReport()
    if client is None:
        return report  # YooKassa is not configured: there is no list to read
    async with sessions() as session:
        mark = await _mark(session)
        start = mark or await _oldest_payment(session)
    if start is None:
        return report
    report.since = start - OVERLAP
    outcomes: Counter[str] = Counter()
    newest, held = mark, None
    try:
        async for page in client.refund_pages(created_at_gte=report.since):
            applied = await _in_ledger(sessions, [yookassa_chargeback_key(refund.id) for refund in page])
            for refund in page:
                report.checked += 1
                outcome = await _apply(settlement, refund, applied, report)
                if outcome is not None:
                    outcomes[outcome] += 1
                created = refund.created
                if created is not None:
                    newest = max(newest or created, created)
                    if outcome in (None, SettlementOutcome.PENDING):  # to be listed again next pass
                        held = min(held or created, created)
    except YooKassaFailure as exc:
        # Newest first: what was not listed is older than all that was, so the mark stays.
        report.undecided += 1
        log.warning("refund sweep: the list of refunds could not be read now: %s", exc)
        held = newest = mark
    report.outcomes = dict(outcomes)
    moved_to = held or newest
    if moved_to is not None and moved_to != mark:
        async with sessions.begin() as session:
            await _move_mark(session, moved_to)
    return report


async def _apply(
    settlement: Settlement, refund: Refund, applied: set[str], report: RefundSweepReport
) -> SettlementOutcome | None:
    """What became of one listed refund; None when it could not be applied now."""
    if yookassa_chargeback_key(refund.id) in applied:
        return SettlementOutcome.DONE_BEFORE
    if refund.status == "canceled":
        return SettlementOutcome.CANCELED
    try:
        return await settlement.settle_listed_refund(refund)
    except Undecided as exc:
        report.undecided += 1
        log.warning("refund sweep: refund %s not applied now: %s", refund.id, exc)
    except Exception:  # noqa: BLE001 - one refund's trouble must not stop the pass
        report.failed += 1
        log.exception("refund sweep: refund %s of payment %s could not be applied", refund.id, refund.payment_id)
    return None


async def _in_ledger(sessions: async_sessionmaker[AsyncSession], keys: list[str]) -> set[str]:
    if not keys:
        return set()
    async with sessions() as session:
        found = await session.scalars(select(LedgerEntry.idempotency_key).where(LedgerEntry.idempotency_key.in_(keys)))
        return set(found)


async def _mark(session: AsyncSession) -> datetime | None:
    mark = await session.scalar(select(SweepMark.mark).where(SweepMark.name == MARK))
    return None if mark is None else as_utc(mark)


async def _move_mark(session: AsyncSession, mark: datetime) -> None:
    # Stored in UTC: SQLite keeps the digits and drops the zone.
    await session.execute(insert_ignoring_conflicts(session, SweepMark.__table__, "name").values(name=MARK, mark=mark))
    await session.execute(update(SweepMark).where(SweepMark.name == MARK).values(mark=mark))


async def _oldest_payment(session: AsyncSession) -> datetime | None:
    oldest = await session.scalar(
        select(func.min(Payment.created_at))
        .where(Payment.provider == PROVIDER, Payment.provider_payment_id.is_not(None))
    )
    return None if oldest is None else as_utc(oldest)
