"""Compensation exactly once: the sweeper for lost jobs and interrupted refunds, and the guard
that lets an operation be either settled or compensated, by one caller only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec

from medialab.billing.audit import check_ledger
from medialab.jobs import job_cache, job_state
from medialab.jobs.compensation import LostJobSweepReport, compensate, stuck_after, compensate_lost_jobs
from medialab.jobs.generation import generate_image
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from .conftest import RunWorker, WorkerContext
from .scenario import account, charged_request, entries, in_flight, operation, queued

USER = 5301


async def test_an_operation_whose_job_never_ran_is_compensated_once_by_the_sweeper(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    request = await charged_request(services, telegram, USER)  # charged, but the queue lost its job
    assert await compensate_lost_jobs(services.jobs) == LostJobSweepReport()
    assert (await operation(services, request.operation_id)).job_state == "queued"

    later = job_state.utcnow() + stuck_after(services.settings) + timedelta(seconds=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport(compensated=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport()
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state) == ("refunded", "failed") and op.error.startswith("lost:")
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    [told] = telegram.texts(USER)
    assert "возврат" in told and "Баланс: 100 ₽" in told

    await queued(services, request)  # the job turns up after all: it must do nothing
    await run_worker()
    assert fal_sandbox.requests == [] and telegram.calls("sendPhoto") == []
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert await check_ledger(services.sessions) == []


async def test_a_refund_interrupted_after_its_claim_is_finished_by_the_sweeper(
    services: Services, telegram: BotApiSandbox
) -> None:
    request = await charged_request(services, telegram, USER)
    # A job that failed its operation and died before the refund.
    assert await job_state.claim_failure(services.sessions, request.operation_id, "provider down")
    assert await account(services, USER) == (9000, 0)

    assert await compensate_lost_jobs(services.jobs) == LostJobSweepReport(finished=1)
    assert await compensate_lost_jobs(services.jobs) == LostJobSweepReport()
    op = await operation(services, request.operation_id)
    assert (op.status, op.job_state) == ("refunded", "failed")
    assert await account(services, USER) == (10_000, 0)
    assert await in_flight(services, request.user_id) == frozenset()
    assert len(telegram.texts(USER)) == 1
    assert await check_ledger(services.sessions) == []


async def test_many_compensations_of_one_operation_refund_it_once(
    services: Services, telegram: BotApiSandbox
) -> None:
    request = await charged_request(services, telegram, USER)
    results = await asyncio.gather(*(compensate(services.jobs, request.operation_id, f"caller {n}")
                                     for n in range(5)))

    [refund] = [result for result in results if result is not None]
    assert refund.refunded and refund.amount == 1000 and refund.balance == 10_000
    assert await entries(services, request.operation_id) == [("charge", -1000), ("refund", 1000)]
    assert len(telegram.texts(USER)) == 1
    assert await check_ledger(services.sessions) == []


async def test_a_settled_operation_cannot_be_compensated_nor_a_compensated_one_settled(
    services: Services, telegram: BotApiSandbox
) -> None:
    delivered = await charged_request(services, telegram, USER)
    assert await job_state.start_attempt(services.sessions, delivered.operation_id) is not None
    assert await services.billing.settle_operation(delivered.operation_id)
    assert await compensate(services.jobs, delivered.operation_id, "too late") is None
    assert await entries(services, delivered.operation_id) == [("charge", -1000)]

    failed = await charged_request(services, telegram, USER + 1)
    assert await compensate(services.jobs, failed.operation_id, "provider down") is not None
    assert not await services.billing.settle_operation(failed.operation_id)
    assert (await operation(services, failed.operation_id)).job_state == "failed"
    assert await job_state.start_attempt(services.sessions, failed.operation_id) is None
    assert await check_ledger(services.sessions) == []


async def test_a_job_that_died_between_delivery_and_settling_is_settled_not_sent_again(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, worker_context: WorkerContext
) -> None:
    rerun = await charged_request(services, telegram, USER)
    swept = await charged_request(services, telegram, USER + 1)
    for request in (rerun, swept):  # what such a job leaves: running, its image delivered
        await job_state.start_attempt(services.sessions, request.operation_id)
        await job_cache.mark_delivered(services.redis, request.operation_id)

    assert await generate_image(await worker_context(), msgspec.to_builtins(rerun)) == "delivered"
    later = job_state.utcnow() + stuck_after(services.settings) + timedelta(seconds=1)
    assert await compensate_lost_jobs(services.jobs, now=later) == LostJobSweepReport(settled=1)

    for request in (rerun, swept):
        op = await operation(services, request.operation_id)
        assert (op.status, op.job_state) == ("charged", "delivered")
        assert await entries(services, request.operation_id) == [("charge", -1000)]
        assert await in_flight(services, request.user_id) == frozenset()
    assert fal_sandbox.requests == [] and telegram.calls("sendPhoto") == [] and telegram.calls("sendMessage") == []
    assert await check_ledger(services.sessions) == []
