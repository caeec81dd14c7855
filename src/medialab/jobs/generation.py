"""The generation job: fetch the input photos, make the image, deliver it, settle the operation.

arq may run a job more than once (a retry, a worker killed mid-job, the same operation enqueued
again), so every run first asks SQL whether the operation is still in flight: a delivered or
compensated operation is left alone. JOB_TIMEOUT counts from the first start; a job that cannot
finish within it, or fails for good, compensates its operation (jobs/compensation.py).
Transient failures (fal 429/5xx after its own retries, Telegram down) are tried again later with
arq's Retry, the pause doubling from JOB_RETRY_DELAY, as long as the next try starts in time.
Refunds are for our failures only: a user who blocked the bot keeps the result, which waits for
their next message (jobs/kept_results.py), and the operation stays paid for.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiogram.exceptions import TelegramBadRequest
from arq import Retry

from medialab.domain.operations import OperationType
from medialab.jobs import job_cache, job_state, kept_results
from medialab.jobs.clients import JobClients, WorkerContext
from medialab.jobs.compensation import COMPENSATION_GRACE_SECONDS, compensate
from medialab.jobs.inputs import PhotoUnavailable, download_photos
from medialab.jobs.job_metrics import JobRun
from medialab.jobs.provider_choice import open_provider
from medialab.jobs.providers import ImageRequest, ImageResult, ProviderError
from medialab.jobs.requests import GenerationRequest, request_from_job
from medialab.logs import log_context
from medialab.notify import NotDelivered

if TYPE_CHECKING:
    from medialab.settings import Settings

log = logging.getLogger(__name__)

# Tries of one job in all; the last one that fails compensates instead of retrying.
MAX_TRIES = 5


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    KEPT = "kept"  # the user blocked the bot (or the chat is gone): the result waits for them
    REFUSED = "refused"  # the same for add_text, which keeps nothing (it cost nothing)
    TAKEN = "taken"  # compensated by someone else (the sweeper) while the image was made


class JobFailure(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


async def generate_image(ctx: WorkerContext, payload: dict[str, Any]) -> str:
    clients = ctx["jobs"]
    request = request_from_job(payload)
    job_try = int(ctx.get("job_try") or 1)
    run = JobRun(request.operation_type)
    with log_context(operation_id=request.operation_id):
        try:
            if not request.billed:
                return await _run_unbilled(clients, request, job_try, run)
            return await _run_billed(clients, request, job_try, run)
        except Retry:
            run.end("retried")
            raise
        except BaseException:
            run.end("failed")  # a crash outside the try's own handling (e.g. SQL down)
            raise


async def _run_billed(clients: JobClients, request: GenerationRequest, job_try: int, run: JobRun) -> str:
    operation_id = request.operation_id
    attempt = await job_state.start_attempt(clients.sessions, operation_id)
    if attempt is None:
        log.info("operation %s is finished or unknown: nothing to do", operation_id)
        run.end("skipped")
        return "skipped"
    deadline = attempt.started_at + timedelta(seconds=clients.settings.jobs.timeout)
    try:
        outcome = await _attempt(clients, request, deadline, check_still_ours=True)
    except JobFailure as failure:
        _retry_if_in_time(clients.settings, failure, job_try, deadline, operation_id)
        reason = _final_reason(clients.settings, failure, job_try, deadline)
        ended = "timed_out" if _seconds_until(deadline) <= 0 else "failed"
    else:
        if outcome is DeliveryOutcome.TAKEN:
            run.end("skipped")
            return "skipped"
        # Delivered, or kept for the user (settled as it was kept).
        if outcome is DeliveryOutcome.DELIVERED and not await clients.billing.settle_operation(operation_id):
            log.warning("operation %s was delivered after it had left flight", operation_id)
        await job_cache.forget_image(clients.redis, operation_id)
        run.end(outcome.value)
        return outcome.value
    recipient = job_state.Recipient(request.telegram_id, request.language)
    await compensate(clients, operation_id, reason, recipient)
    await job_cache.forget_image(clients.redis, operation_id)
    run.end(ended)
    return f"compensated: {reason}"


async def _run_unbilled(clients: JobClients, request: GenerationRequest, job_try: int, run: JobRun) -> str:
    """add_text queued by a release from before it had an operation row: nothing to settle or
    give back; only delivered once."""
    operation_id = request.operation_id
    if await job_cache.was_delivered(clients.redis, operation_id):
        run.end("skipped")
        return "skipped"
    deadline = job_state.utcnow() + timedelta(seconds=clients.settings.jobs.timeout)
    try:
        outcome = await _attempt(clients, request, deadline, check_still_ours=False)
    except JobFailure as failure:
        _retry_if_in_time(clients.settings, failure, job_try, deadline, operation_id)
        log.warning("%s %s failed for good: %s", request.operation_type, operation_id, failure.message)
        outcome = None
    await job_cache.forget_image(clients.redis, operation_id)
    ended = outcome.value if outcome is not None else "failed"
    run.end(ended)
    return ended


async def _attempt(
    clients: JobClients, request: GenerationRequest, deadline: datetime, *, check_still_ours: bool
) -> DeliveryOutcome:
    """One try under the deadline; every way it can fail comes out as a JobFailure."""
    timeout = _seconds_until(deadline)
    timed_out = JobFailure("stopped at the deadline", retryable=False)
    if timeout <= 0:
        raise timed_out
    try:
        async with asyncio.timeout(timeout) as limit:
            return await _make_and_deliver(clients, request, timeout, check_still_ours)
    except JobFailure:
        raise
    except TimeoutError as exc:
        if limit.expired():
            raise timed_out from None
        raise JobFailure(f"timed out inside the job ({type(exc).__name__})", retryable=True) from None
    except Exception as exc:
        log.exception("operation %s: unexpected failure", request.operation_id)
        raise JobFailure(f"unexpected failure: {type(exc).__name__}", retryable=True) from None


async def _make_and_deliver(
    clients: JobClients, request: GenerationRequest, timeout: float, check_still_ours: bool
) -> DeliveryOutcome:
    operation_id = request.operation_id
    if await job_cache.was_delivered(clients.redis, operation_id):
        return DeliveryOutcome.DELIVERED  # an earlier run sent it and died before settling: not twice
    image = await job_cache.kept_image(clients.redis, operation_id)
    if image is None:
        image = await _make(clients, request, timeout)
        ttl = clients.settings.jobs.timeout + COMPENSATION_GRACE_SECONDS
        await job_cache.keep_image(clients.redis, operation_id, image, ttl)
    if check_still_ours and not await job_state.is_running(clients.sessions, operation_id):
        log.info("operation %s was compensated meanwhile: its image is not sent", operation_id)
        return DeliveryOutcome.TAKEN
    try:
        delivered = await clients.notifier.result_ready(
            request.telegram_id, request.language, image.data, image.filename, image.width, image.height)
    except NotDelivered as exc:
        raise JobFailure(f"delivery failed: {exc}", retryable=True) from None
    except TelegramBadRequest as exc:
        raise JobFailure(f"Telegram refused the result: {exc.message}", retryable=False) from None
    if not delivered:
        if not check_still_ours:
            return DeliveryOutcome.REFUSED
        return DeliveryOutcome.KEPT if await kept_results.keep(clients, request, image) else DeliveryOutcome.TAKEN
    await job_cache.mark_delivered(clients.redis, operation_id)
    return DeliveryOutcome.DELIVERED


async def _make(clients: JobClients, request: GenerationRequest, timeout: float) -> ImageResult:
    try:
        kind = OperationType(request.operation_type)
    except ValueError:
        raise JobFailure(f"unknown operation type {request.operation_type!r}", retryable=False) from None
    try:
        photos = await download_photos(clients.telegram, request.photo_file_ids)
        async with open_provider(clients.settings, kind, timeout) as provider:
            return await provider.run(ImageRequest(kind.value, request.prompt, photos))
    except (ProviderError, PhotoUnavailable) as exc:
        raise JobFailure(exc.message, exc.retryable) from None


def _retry_if_in_time(
    settings: Settings, failure: JobFailure, job_try: int, deadline: datetime, operation_id: str
) -> None:
    """Raises arq's Retry when another try may help and can start before the deadline."""
    if not failure.retryable or job_try >= MAX_TRIES:
        return
    delay = settings.jobs.retry_delay * 2 ** (job_try - 1)
    if _seconds_until(deadline) <= delay:
        return
    log.warning("operation %s: try %d of %d failed (%s); trying again in %.1fs",
                operation_id, job_try, MAX_TRIES, failure.message, delay)
    raise Retry(defer=delay)


def _final_reason(settings: Settings, failure: JobFailure, job_try: int, deadline: datetime) -> str:
    if _seconds_until(deadline) <= 0:
        return f"timed out: no result within JOB_TIMEOUT ({settings.jobs.timeout}s): {failure.message}"
    return f"{failure.message} (try {job_try} of {MAX_TRIES})"


def _seconds_until(moment: datetime) -> float:
    return (moment - job_state.utcnow()).total_seconds()
