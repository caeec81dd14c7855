"""GET /metrics: the process's metrics in the Prometheus text format, with the queue depth
read from arq's queue at scrape time (every web process sees the same queue). The worker
serves its own (jobs/metrics_server.py)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State

from medialab.jobs.metrics_server import read_queue_depth
from medialab.metrics import MEDIA_TYPE, REGISTRY
from medialab.services import Services


class MetricsController(Controller):
    @get("/metrics")
    async def metrics(self, state: State) -> Response[str]:
        services: Services = state.services
        await read_queue_depth(services)
        return Response(REGISTRY.render(), media_type=MEDIA_TYPE)
