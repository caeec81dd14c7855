"""The worker's GET /metrics on WORKER_METRICS_PORT.

Job runs, their durations and the refunds of failed jobs are counted in the worker's process,
and a web process's /metrics only knows its own: the worker serves its registry itself. A
plain asyncio server in the worker's event loop, no framework: GET /metrics answers the text
format, anything else 404, one request per connection, each within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from arq.constants import default_queue_name
from redis.asyncio import Redis

from medialab.metrics import MEDIA_TYPE, SCRAPE_ERRORS, exposition
from medialab.settings import Settings

log = logging.getLogger(__name__)

QUEUE_READ_TIMEOUT_SECONDS = 2.0
# A scraper sends a short request at once; a client that dawdles or sends pages of headers is cut off.
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_HEADER_LINES = 100


async def read_queue_depth(queue: Redis) -> int | None:
    """medialab_queue_depth from arq's queue, read at scrape time (every process sees the same
    queue); None when Redis does not answer in time."""
    try:
        return int(await asyncio.wait_for(queue.zcard(default_queue_name), QUEUE_READ_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis does not
        SCRAPE_ERRORS.labels(source="arq_queue").inc()
        log.warning("metrics: the arq queue could not be read: %s", type(exc).__name__)
        return None


async def metrics_text(queue: Redis) -> bytes:
    """What GET /metrics answers, in the web app and in the worker (`queue`: arq's Redis)."""
    return exposition(await read_queue_depth(queue))


async def start_metrics_server(settings: Settings, queue: Redis) -> asyncio.Server | None:
    """Serves /metrics on HOST:WORKER_METRICS_PORT; None when the port is 0 or cannot be bound
    (the jobs matter more than their metrics: the worker runs on, and says so)."""
    if settings.server.worker_metrics_port == 0:
        return None

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                request_line = (await reader.readline()).decode("latin-1").split()
                for _ in range(MAX_HEADER_LINES):
                    if (await reader.readline()).strip() == b"":
                        break
            if request_line[:2] == ["GET", "/metrics"]:
                status, media_type, data = "200 OK", MEDIA_TYPE, await metrics_text(queue)
            else:
                status, media_type, data = "404 Not Found", "text/plain", b"only GET /metrics is served here\n"
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {media_type}; charset=utf-8\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # a client that went away, dawdled or sent a line past the reader's limit
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    try:
        server = await asyncio.start_server(answer, settings.server.host, settings.server.worker_metrics_port)
    except OSError as exc:
        log.error("worker metrics not served: %s:%d cannot be bound (%s)",
                  settings.server.host, settings.server.worker_metrics_port, exc.strerror or exc)
        return None
    log.info("worker metrics at http://%s:%d/metrics", settings.server.host, settings.server.worker_metrics_port)
    return server
