"""`medialab worker` serves its own GET /metrics on WORKER_METRICS_PORT: the jobs it ran are
counted there, where a web process's /metrics never sees them."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services
from ops.scraped import Family, parse, value
from test_web_workers import free_port

from .scenario import charged_request, queued, start_worker, wait_until

pytestmark = pytest.mark.slow  # runs medialab worker in a process of its own

USER = 5501
MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def test_the_worker_serves_the_jobs_it_ran_on_its_own_metrics_port(
    database_url: str, services: Services, telegram: BotApiSandbox, fal_url: str, telegram_front_url: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    await queued(services, await charged_request(services, telegram, USER))
    worker = start_worker(database_url, telegram_front_url, fal_url, log, HOST="127.0.0.1", WORKER_METRICS_PORT=str(port))
    scraped: list[Family] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def job_counted() -> bool:
                try:
                    response = await client.get("/metrics")
                except httpx.TransportError:
                    return False  # not listening yet
                assert (response.status_code, response.headers["content-type"]) == (200, MEDIA_TYPE)
                families = parse(response.text)
                scraped[:] = [families]  # type: ignore[list-item]
                return value(families, "medialab_jobs_total", outcome="delivered") == 1

            await wait_until(job_counted, "counted the delivered job", log)
            elsewhere = await client.get("/health")
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)

    [families] = scraped
    assert value(families, "medialab_job_duration_seconds_count", operation_type="generate", outcome="delivered") == 1
    assert value(families, "medialab_queue_depth") is not None  # read at scrape time, as the web does
    assert elsewhere.status_code == 404
    assert worker.returncode == 0, log.read_text(errors="replace")[-5000:]
    assert f"worker metrics at http://127.0.0.1:{port}/metrics" in log.read_text()
