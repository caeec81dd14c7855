"""GET /metrics: the process's metrics in the Prometheus text format, with the queue depth
read from arq's queue at scrape time (every web process sees the same queue)."""

from __future__ import annotations

import asyncio
import logging

from arq.constants import default_queue_name
from litestar import Controller, Response, get
from litestar.datastructures import State

from medialab.metrics import MEDIA_TYPE, QUEUE_DEPTH, REGISTRY, SCRAPE_ERRORS
from medialab.services import Services

log = logging.getLogger(__name__)
QUEUE_READ_TIMEOUT_SECONDS = 2.0


class MetricsController(Controller):
    @get("/metrics")
    async def metrics(self, state: State) -> Response[str]:
        services: Services = state.services
        await read_queue_depth(services)
        return Response(REGISTRY.render(), media_type=MEDIA_TYPE)


async def read_queue_depth(services: Services) -> None:
    try:
        depth = await asyncio.wait_for(services.arq.zcard(default_queue_name), QUEUE_READ_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis does not
        # No sample rather than a stale one: an absent series is what alerts can see.
        QUEUE_DEPTH.clear()
        SCRAPE_ERRORS.inc(source="arq_queue")
        log.warning("metrics: the arq queue could not be read: %s", type(exc).__name__)
        return
    QUEUE_DEPTH.set(depth)
