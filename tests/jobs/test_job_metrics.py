"""medialab_jobs_total and medialab_job_duration_seconds moved by real job runs on an arq
worker (the stand-ins for fal.ai and the Bot API), and the operation id in the job's logs."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from medialab.jobs import job_state
from medialab.jobs.compensation import LostJobSweepReport, stuck_after, compensate_lost_jobs
from medialab.logs import configure_logging
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services
from ops.scraped import counted

from .conftest import RunWorker
from .scenario import charged_request, operation, queued

USER = 5301
OUTCOMES = ("delivered", "retried", "kept", "refused", "failed")


def timed_deliveries() -> float:
    return counted("medialab_job_duration_seconds_count", operation_type="generate", outcome="delivered")


def job_counts() -> dict[str, float]:
    return {outcome: counted("medialab_jobs_total", outcome=outcome) for outcome in OUTCOMES}


async def test_each_run_is_counted_and_timed_by_outcome(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    before = job_counts()
    timed_before = timed_deliveries()
    kept_before = counted("medialab_kept_results_total", event="kept")
    fal_sandbox.set_mode("fail", times=1)  # the first run is retried, its second delivered
    retried = await queued(services, await charged_request(services, telegram, USER))
    await run_worker()
    blocked = await queued(services, await charged_request(services, telegram, USER + 1))
    telegram.block_chat(USER + 1)
    await run_worker()
    fal_sandbox.set_mode("invalid")  # 422: fails for good at once
    failed = await queued(services, await charged_request(services, telegram, USER + 2))
    await run_worker()

    assert (await operation(services, retried.operation_id)).job_state == "delivered"
    assert (await operation(services, blocked.operation_id)).status == "charged"  # kept for the user
    assert (await operation(services, failed.operation_id)).status == "refunded"
    after = job_counts()
    assert {k: after[k] - before[k] for k in OUTCOMES} == {
        "delivered": 1, "retried": 1, "kept": 1, "refused": 0, "failed": 1}
    assert counted("medialab_kept_results_total", event="kept") == kept_before + 1
    assert timed_deliveries() == timed_before + 1


async def test_records_of_a_job_carry_its_operation_id(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    fal_sandbox.set_mode("fail", times=1)  # the retry is logged
    request = await queued(services, await charged_request(services, telegram, USER))
    stream = io.StringIO()
    configure_logging(services.settings, stream=stream, json_lines=True)
    try:
        await run_worker()
    finally:
        configure_logging(services.settings, stream=io.StringIO())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    [retry] = [r for r in records if "trying again" in r["message"]]
    assert retry["operation_id"] == request.operation_id


async def test_a_job_the_sweeper_finds_lost_is_counted_once_as_lost(
    services: Services, telegram: BotApiSandbox
) -> None:
    lost_before = counted("medialab_jobs_total", outcome="lost")
    request = await charged_request(services, telegram, USER)  # charged, but the queue lost its job
    later = job_state.utcnow() + stuck_after(services.settings) + timedelta(seconds=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport(compensated=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport()
    assert (await operation(services, request.operation_id)).status == "refunded"
    assert counted("medialab_jobs_total", outcome="lost") == lost_before + 1
