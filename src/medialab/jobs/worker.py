"""The arq worker: `medialab worker` runs `WorkerSettings`. Clients are opened once in
`on_startup` and put in ctx, with the worker's /metrics server; cron jobs keep Redis honest
against SQL."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, create_worker

from medialab.billing.audit import CHECK_INTERVAL_MINUTES, check_and_record
from medialab.billing.reconcile import reconcile
from medialab.jobs.compensation import arq_job_timeout, sweep_stuck_operations
from medialab.jobs.generation import MAX_TRIES, generate_image
from medialab.jobs.kept_results import mark_all_waiting
from medialab.jobs.metrics_server import start_metrics_server
from medialab.jobs.payment_sweep_cron import SWEEP_PAYMENTS_CRON
from medialab.db.redis import redis_client
from medialab.services import Services
from medialab.settings import Settings

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    ctx["services"] = await Services.open(ctx.get("settings") or Settings.from_env())
    ctx["metrics_server"] = await start_metrics_server(ctx["services"])


async def shutdown(ctx: dict[str, Any]) -> None:
    server = ctx.get("metrics_server")
    if server is not None:
        server.close()
        await server.wait_closed()
    await ctx["services"].close()


async def reconcile_cache(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: compare each cached user with SQL, repair drift, report it."""
    report = await reconcile(ctx["services"].billing)
    if report.drifts:
        log.warning("reconcile: %d drift(s) in %d user(s), %d repaired",
                    len(report.drifts), len({d.user_id for d in report.drifts}), report.repaired)
    return {"checked": report.users_checked, "drifts": len(report.drifts), "repaired": report.repaired}


async def check_books(ctx: dict[str, Any]) -> dict[str, int]:
    """Every CHECK_INTERVAL_MINUTES: the ledger check, recorded for the dashboard; a drift is an
    ERROR (only an operator can correct it: `medialab reconcile` lists them)."""
    drifts = await check_and_record(ctx["services"].sessions)
    if drifts:
        log.error("ledger check: %d drift(s) between balances and the ledger; run `medialab reconcile`", len(drifts))
    return {"drifts": len(drifts)}


async def sweep_lost_jobs(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: compensate operations whose job was lost (worker killed, queue lost), and
    mark again the users whose kept results wait for them (Redis flushed, a delivery died)."""
    report = await sweep_stuck_operations(ctx["services"])
    waiting = await mark_all_waiting(ctx["services"])
    return msgspec.structs.asdict(report) | {"users_with_kept_results": waiting}


def worker_limits(settings: Settings) -> dict[str, Any]:
    """Worker options that come from the settings, not from the class below."""
    return {"job_timeout": arq_job_timeout(settings)}


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis.url is None:
        raise ValueError("REDIS_URL must be set for the worker: the web app and the worker share one Redis "
                         "(`medialab run` runs both in one process on an embedded one)")
    return RedisSettings.from_dsn(settings.redis.url)


def job_queue(settings: Settings) -> ArqRedis:
    """The worker's own queue client. arq's RedisSettings has a connect deadline but none for
    reads, so a stalled Redis would hang the worker's polling: this pool has both."""
    redis_settings(settings)  # the same refusal when REDIS_URL is unset
    return ArqRedis(pool_or_conn=redis_client(settings.redis.url, settings.redis.timeout).connection_pool)  # type: ignore[arg-type]


@asynccontextmanager
async def worker_in_this_process(settings: Settings) -> AsyncIterator[Worker]:
    """The worker `medialab worker` runs, as a task of this process's event loop (`medialab
    run`, beside the bot); when the block ends it stops as on SIGTERM: no new jobs, the running
    ones get `job_completion_wait`, then its clients close."""
    worker = create_worker(WorkerSettings, redis_pool=job_queue(settings), ctx={"settings": settings},
                           handle_signals=False, **worker_limits(settings))
    running = asyncio.create_task(worker.async_run())
    running.add_done_callback(_report_a_stopped_worker)
    try:
        yield worker
    finally:
        if not running.done():
            worker.handle_sig_wait_for_completion(signal.SIGTERM)  # ends `running` when its jobs are done
        await asyncio.wait([running])
        await worker.close()


def _report_a_stopped_worker(running: asyncio.Task[None]) -> None:
    if not running.cancelled() and (error := running.exception()) is not None:
        log.error("the worker stopped: no jobs run until the process is restarted", exc_info=error)


class WorkerSettings:
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
    on_startup = startup
    on_shutdown = shutdown
    # arq reads redis_settings at start; `medialab worker` fills it from the settings.
    redis_settings: RedisSettings | None = None
