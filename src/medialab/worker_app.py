"""The worker's composition root: `medialab worker` runs `WorkerSettings`, and `medialab run` runs
the same worker in the web app's process (`worker_in_this_process`).

At start-up the process's clients are opened (services.py) and put in arq's ctx under the names
the jobs read: "jobs" (the generation job, compensation, the sweepers: jobs/clients.py),
"billing", "sessions" and "payments" (the cron jobs), with the worker's /metrics server. What
the worker runs is jobs/worker.py's `WorkerJobs`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq.worker import Worker, create_worker

from medialab.jobs.metrics_server import start_metrics_server
from medialab.jobs.queue import job_queue
from medialab.jobs.worker import WorkerJobs, worker_limits
from medialab.services import Services
from medialab.settings import Settings

log = logging.getLogger(__name__)

# Where shutdown finds what startup opened; no job reads it.
OPENED = "opened_clients"


async def startup(ctx: dict[str, Any]) -> None:
    settings = ctx.get("settings") or Settings.from_env()
    opened = await Services.open(settings)
    ctx[OPENED] = opened
    ctx.update(settings=settings, jobs=opened.jobs, billing=opened.billing, sessions=opened.sessions,
               payments=opened.payments)
    ctx["metrics_server"] = await start_metrics_server(settings, opened.arq)


async def shutdown(ctx: dict[str, Any]) -> None:
    server = ctx.get("metrics_server")
    if server is not None:
        server.close()
        await server.wait_closed()
    await ctx[OPENED].close()


# What `medialab worker` runs: the jobs with the start-up and shutdown above. arq reads a settings
# class's own attributes only (its __dict__, never inherited ones), so the jobs' are copied in.
WorkerSettings = type("WorkerSettings", (), {
    **{name: value for name, value in vars(WorkerJobs).items() if not name.startswith("__")},
    "on_startup": startup, "on_shutdown": shutdown,
})


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
