"""GET /metrics: the metrics in the Prometheus text format (under `medialab serve --workers N`
the sum over its web processes), with the queue depth read from arq's queue at scrape time.
The worker serves its own (jobs/metrics_server.py)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State

from medialab.jobs.metrics_server import metrics_text
from medialab.metrics import MEDIA_TYPE
from medialab.services import Services


class MetricsController(Controller):
    @get("/metrics")
    async def metrics(self, state: State) -> Response[bytes]:
        services: Services = state.services
        return Response(await metrics_text(services), media_type=MEDIA_TYPE)
