"""GET /metrics: the metrics in the Prometheus text format (under `medialab serve --workers N`
the sum over its web processes), with the queue depth read from arq's queue at scrape time.
The worker serves its own (jobs/metrics_server.py)."""

from __future__ import annotations

from litestar import Controller, Response, get

from medialab.jobs.metrics_server import metrics_text
from medialab.metrics import MEDIA_TYPE
from medialab.web.state import AppState


class MetricsController(Controller):
    @get("/metrics")
    async def metrics(self, state: AppState) -> Response[bytes]:
        return Response(await metrics_text(state.arq), media_type=MEDIA_TYPE)
