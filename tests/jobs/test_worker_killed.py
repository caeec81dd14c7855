"""A real `medialab worker` process killed with SIGKILL in the middle of a job: the operation is
lost with it, and the sweeper gives the money back exactly once."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from medialab.billing.audit import check_ledger
from medialab.jobs import job_state
from medialab.jobs.compensation import LostJobSweepReport, stuck_after, compensate_lost_jobs
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from stand_ins import BOT_TOKEN, FAL_KEY
from .scenario import charged_request, entries, in_flight, operation, queued, start_worker, wait_until

pytestmark = pytest.mark.slow  # runs medialab worker in processes of its own

USER = 5401


async def test_a_worker_killed_mid_job_is_compensated_once_by_the_sweeper(
    database_url: str, services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox,
    fal_url: str, telegram_front_url: str, tmp_path: Path,
) -> None:
    fal_sandbox.set_mode("hang")  # the job waits on fal until it is killed
    request = await queued(services, await charged_request(services, telegram, USER))
    log = tmp_path / "worker.log"

    async def polled_by_the_job() -> bool:
        running = (await operation(services, request.operation_id)).job_state == "running"
        return running and bool(fal_sandbox.requests_to("GET", "/status"))

    worker = start_worker(database_url, telegram_front_url, fal_url, log)
    try:
        await wait_until(polled_by_the_job, "saw the job running", log)
    finally:
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 30)
    assert worker.returncode == -signal.SIGKILL

    # Killed: nothing finished the operation, and it is not yet old enough to count as lost.
    assert await compensate_lost_jobs(services.jobs) == LostJobSweepReport()
    assert await entries(services, request.operation_id) == [("charge", -1000)]
    assert await in_flight(services, request.user_id) == {request.operation_id}

    later = job_state.utcnow() + stuck_after(services.settings) + timedelta(seconds=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport(compensated=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport()
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state, op.attempts) == ("refunded", "failed", 1)
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert await in_flight(services, request.user_id) == frozenset()
    [told] = telegram.texts(USER)
    assert "возврат" in told and "Баланс: 100 ₽" in told
    assert telegram.calls("sendPhoto") == []
    written = log.read_text(errors="replace")
    assert "generate_image" in written  # the worker's own log of the job it started
    assert BOT_TOKEN not in written and FAL_KEY not in written
    assert await check_ledger(services.sessions) == []
