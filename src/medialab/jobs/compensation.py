"""Compensation: a job that failed for good, ran out of JOB_TIMEOUT or was lost gives back what
its operation took (the money, or the free operation), exactly once, and the user is told.

Exactly once rests on two guarded steps: `claim_failure` takes the operation out of flight for one
caller only (delivery's settle competes for the same rows), then billing's refund, itself
idempotent, gives back and frees the in-flight slot. A process that dies between the two leaves
a failed operation still holding its payment; the sweeper finds those and finishes the refund.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec

from medialab.billing.results import RefundResult
from medialab.jobs import job_cache, job_state
from medialab.jobs.job_metrics import job_lost
from medialab.jobs.job_state import Recipient
from medialab.logs import log_context
from medialab.notify import NotDelivered

if TYPE_CHECKING:
    from medialab.jobs.clients import JobClients
    from medialab.settings import Settings

log = logging.getLogger(__name__)

ACTOR = "worker"
# arq lets a job run this much past JOB_TIMEOUT before killing it: room for the job to
# compensate itself once its own deadline (JOB_TIMEOUT from its first start) has passed.
COMPENSATION_GRACE_SECONDS = 30


def arq_job_timeout(settings: Settings) -> int:
    return settings.jobs.timeout + COMPENSATION_GRACE_SECONDS


def stuck_after(settings: Settings) -> timedelta:
    """How long an operation may stay queued or running before the sweeper calls it lost: by
    then a live job has either finished or compensated itself."""
    return timedelta(seconds=settings.jobs.timeout + 2 * COMPENSATION_GRACE_SECONDS)


async def compensate(
    clients: JobClients, operation_id: str, reason: str, recipient: Recipient | None = None
) -> RefundResult | None:
    """Fails the operation and gives back what it took; None when it was no longer in flight
    (delivered, or compensated by someone else first)."""
    if not await job_state.claim_failure(clients.sessions, operation_id, reason):
        log.info("operation %s already finished: not compensated again", operation_id)
        return None
    return await give_back(clients, operation_id, reason, recipient)


async def give_back(
    clients: JobClients, operation_id: str, reason: str, recipient: Recipient | None = None
) -> RefundResult:
    refund = await clients.billing.refund_operation(operation_id, reason=reason, actor=ACTOR)
    if not refund.refunded:
        log.info("operation %s: %s", operation_id, refund.note)
        return refund
    what = "a free operation" if refund.free_operation else f"{refund.amount} kopecks"
    log.info("operation %s compensated (%s back): %s", operation_id, what, reason)
    # Only the caller whose refund went through tells the user: one message per refund.
    recipient = recipient or await job_state.recipient_of(clients.sessions, operation_id)
    if recipient is not None:
        await _tell(clients, recipient, refund)
    return refund


async def _tell(clients: JobClients, recipient: Recipient, refund: RefundResult) -> None:
    try:
        await clients.notifier.operation_refunded(recipient.telegram_id, recipient.language, refund)
    except NotDelivered as exc:
        # The refund stands either way; the user sees it in /balance.
        log.warning("user %s not told of refund %s: %s", recipient.telegram_id, refund.operation_id, exc)


class LostJobSweepReport(msgspec.Struct, frozen=True):
    compensated: int = 0
    finished: int = 0  # refunds of claimed operations that an earlier process left undone
    settled: int = 0  # delivered by a job that died before it settled
    errors: int = 0


async def compensate_lost_jobs(clients: JobClients, now: datetime | None = None) -> LostJobSweepReport:
    """Finishes what dead jobs left: operations stuck queued or running past `stuck_after` are
    compensated (or settled, when their image did reach the user), interrupted refunds done."""
    counts = {"compensated": 0, "finished": 0, "settled": 0, "errors": 0}
    for operation_id in await job_state.claimed_but_not_refunded(clients.sessions):
        await _sweep_one(counts, operation_id, _finish_refund(clients, operation_id))
    cutoff = (now or job_state.utcnow()) - stuck_after(clients.settings)
    for operation_id in await job_state.stuck_since(clients.sessions, cutoff):
        await _sweep_one(counts, operation_id, _end_lost_job(clients, operation_id))
    report = LostJobSweepReport(**counts)
    if report != LostJobSweepReport():
        log.warning("sweeper: %s", report)
    return report


async def _finish_refund(clients: JobClients, operation_id: str) -> str | None:
    refund = await give_back(clients, operation_id, "compensation interrupted; finished by the sweeper")
    return "finished" if refund.refunded else None


async def _end_lost_job(clients: JobClients, operation_id: str) -> str | None:
    if await job_cache.was_delivered(clients.redis, operation_id):
        # Its job delivered the image and died before settling: settle, do not refund.
        return "settled" if await clients.billing.settle_operation(operation_id) else None
    reason = f"lost: no result within JOB_TIMEOUT ({clients.settings.jobs.timeout}s)"
    if await compensate(clients, operation_id, reason) is None:
        return None
    job_lost()
    return "compensated"


async def _sweep_one(counts: dict[str, int], operation_id: str, step: Awaitable[str | None]) -> None:
    # One operation that cannot be finished now (the database hiccups) must not stop the rest.
    try:
        with log_context(operation_id=operation_id):
            done = await step
    except Exception:
        counts["errors"] += 1
        log.exception("sweeper could not finish operation %s", operation_id)
        return
    if done is not None:
        counts[done] += 1
