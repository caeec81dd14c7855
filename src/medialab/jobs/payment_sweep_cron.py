"""The arq cron job that settles top-ups whose YooKassa notification was lost."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from arq import cron

from medialab.jobs.clients import WorkerContext

log = logging.getLogger(__name__)


async def sweep_payments(ctx: WorkerContext) -> dict[str, Any]:
    """Every 5 minutes: asks YooKassa about payments still open 15 minutes after they were made,
    and about refunds made since the last pass, and settles them through the same settlement
    as the webhook (`medialab sweep` runs the same at once)."""
    report = await ctx["payments"].sweep()
    failed = report.failed + report.refunds.failed
    if failed:
        log.error("payment sweep: %d payment(s) or refund(s) failed to settle (see the errors above)", failed)
    refunds = report.refunds
    if report.checked or report.closed_unanswered or report.finished_unanswered or refunds.outcomes:
        log.info("payment sweep: %d checked %s, %d undecided, %d unanswered creates finished, %d closed; "
                 "refunds since %s: %d listed %s", report.checked, report.outcomes, report.undecided,
                 report.finished_unanswered, report.closed_unanswered, refunds.since, refunds.checked,
                 refunds.outcomes)
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


# unique: one sweep at a time across workers; the settlement is idempotent in any case.
SWEEP_PAYMENTS_CRON = cron(
    sweep_payments, minute=set(range(0, 60, 5)), second=30, run_at_startup=True, unique=True, timeout=600
)
