"""The one-round-trip enqueue stores jobs exactly as arq's enqueue_job does: arq reads them
back, a real worker runs them, and an id already used is refused."""

from __future__ import annotations

from arq.constants import result_key_prefix
from arq.jobs import Job, JobStatus

from medialab.jobs.enqueue import enqueue_once
from medialab.jobs.requests import GENERATION_JOB, enqueue_generation
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services

from .conftest import RunWorker
from .scenario import charged_request, operation


async def test_a_job_is_stored_as_arq_stores_it_and_an_id_is_used_once(services: Services) -> None:
    assert await enqueue_once(services.arq, "some_function", "job-1", {"a": 1}, 2)
    info = await Job("job-1", services.arq).info()
    assert info is not None and (info.function, info.args, info.kwargs, info.job_try) == ("some_function", ({"a": 1}, 2), {}, None)
    assert await Job("job-1", services.arq).status() is JobStatus.queued
    assert await services.arq.zcard(services.arq.default_queue_name) == 1
    ttl = await services.arq.pttl("arq:job:job-1")
    assert 0 < ttl <= services.arq.expires_extra_ms
    # Queued already: refused, nothing written twice.
    assert not await enqueue_once(services.arq, "some_function", "job-1", {"a": 9})
    assert (await Job("job-1", services.arq).info()).args == ({"a": 1}, 2)  # type: ignore[union-attr]
    # Finished (its result kept): refused as arq refuses it.
    await services.arq.set(result_key_prefix + "job-2", b"done")
    assert not await enqueue_once(services.arq, "some_function", "job-2")
    assert await services.arq.zcard(services.arq.default_queue_name) == 1


async def test_a_real_worker_runs_a_job_queued_this_way(
    services: Services, telegram: BotApiSandbox, run_worker: RunWorker
) -> None:
    request = await charged_request(services, telegram, 5401)
    assert await enqueue_generation(services.arq, request)
    assert not await enqueue_generation(services.arq, request)
    await run_worker()
    assert (await operation(services, request.operation_id)).job_state == "delivered"
    info = await Job(request.operation_id, services.arq).result_info()
    assert info is not None and info.function == GENERATION_JOB and info.success
