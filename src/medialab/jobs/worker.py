"""What the arq worker runs: the generation job, the cron jobs that keep Redis honest against SQL
and finish what dead jobs left, and the worker's limits (`WorkerJobs`). Each job reads the
clients it needs from arq's ctx by name ("jobs", "billing", "sessions", "payments"), which the
worker's composition (medialab/worker_app.py, whose `WorkerSettings` `medialab worker` runs)
fills at start-up."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from arq import cron
from arq.connections import RedisSettings

from medialab.billing.audit import CHECK_INTERVAL_MINUTES, check_and_record
from medialab.billing.reconcile import reconcile
from medialab.jobs.clients import WorkerContext
from medialab.jobs.compensation import arq_job_timeout, compensate_lost_jobs
from medialab.jobs.generation import MAX_TRIES, generate_image
from medialab.jobs.kept_results import mark_all_waiting
from medialab.jobs.payment_sweep_cron import SWEEP_PAYMENTS_CRON
from medialab.settings import Settings

log = logging.getLogger(__name__)


async def reconcile_cache(ctx: WorkerContext) -> dict[str, int]:
    """Every minute: compare each cached user with SQL, repair drift, report it."""
    report = await reconcile(ctx["billing"])
    if report.drifts:
        log.warning("reconcile: %d drift(s) in %d user(s), %d repaired",
                    len(report.drifts), len({d.user_id for d in report.drifts}), report.repaired)
    return {"checked": report.users_checked, "drifts": len(report.drifts), "repaired": report.repaired}


async def check_books(ctx: WorkerContext) -> dict[str, int]:
    """Every CHECK_INTERVAL_MINUTES: the ledger check, recorded for the dashboard; a drift is an
    ERROR (only an operator can correct it: `medialab reconcile` lists them)."""
    drifts = await check_and_record(ctx["sessions"])
    if drifts:
        log.error("ledger check: %d drift(s) between balances and the ledger; run `medialab reconcile`", len(drifts))
    return {"drifts": len(drifts)}


async def sweep_lost_jobs(ctx: WorkerContext) -> dict[str, int]:
    """Every minute: compensate operations whose job was lost (worker killed, queue lost), and
    mark again the users whose kept results wait for them (Redis flushed, a delivery died)."""
    report = await compensate_lost_jobs(ctx["jobs"])
    waiting = await mark_all_waiting(ctx["jobs"])
    return msgspec.structs.asdict(report) | {"users_with_kept_results": waiting}


def worker_limits(settings: Settings) -> dict[str, Any]:
    """Worker options that come from the settings, not from the class below."""
    return {"job_timeout": arq_job_timeout(settings)}


class WorkerJobs:
    """arq's worker settings but the start-up and shutdown, which open and close the clients:
    worker_app.WorkerSettings adds them (and is what arq runs)."""

    functions: list[Any] = [generate_image]
    cron_jobs = [
        cron(reconcile_cache, second=0, run_at_startup=True, unique=True, timeout=300),
        cron(sweep_lost_jobs, second=30, run_at_startup=True, unique=True, timeout=300),
        SWEEP_PAYMENTS_CRON,
        cron(check_books, minute=set(range(0, 60, CHECK_INTERVAL_MINUTES)), second=45, run_at_startup=True,
             unique=True, timeout=300),
    ]
    # A job's last try compensates instead of retrying; arq's own limit only stops jobs whose
    # worker died on that last try, and the sweeper compensates those.
    max_tries = MAX_TRIES
    # On SIGTERM (a deploy, a PaaS restart) running jobs get this long to finish before they
    # are cancelled and left to a retry; PaaS platforms send SIGKILL about 30 s after SIGTERM.
    job_completion_wait = 25
    # arq reads redis_settings at start; `medialab worker` fills it from the settings.
    redis_settings: RedisSettings | None = None
