"""Refused requests: each one counted, the log written in summary.

A flood of refusals (90,000 POSTs with a wrong secret in 30 s) wrote one access line each, 18.8
MB saying the same thing. Now every response that refuses a request (the webhooks' own refusals,
and Litestar's 400, 404, 405 and 413) is counted in medialab_webhook_refusals_total{webhook,
reason}; the log gets the first refusal of each kind in full, then at most one line per
interval for that kind ("1999 requests refused (telegram, bad_secret) in the last 60 s"), and
uvicorn's access line of a refused request is dropped (medialab.logs.QuietAccessFilter).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from litestar import Litestar, Request
from litestar.exceptions import InternalServerException
from litestar.types import Message, Scope

from medialab.metrics import WEBHOOK_REFUSALS

log = logging.getLogger(__name__)

SUMMARY_INTERVAL_SECONDS = 60.0
# What a refusal is called when no handler named it (Litestar answered before any handler ran).
# The statuses are medialab.logs.REFUSAL_STATUSES: the access log drops what is summarised here.
DEFAULT_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                   405: "method_not_allowed", 413: "too_large"}
WEBHOOKS = {"/telegram/": "telegram", "/yookassa/": "yookassa"}
# Where a handler leaves its reason (and what to log of it) for the response's hook.
_STATE_KEY = "medialab_refusal"
# A path is the client's text: enough of it to recognise, not a log line's worth.
_PATH_CHARS = 80


def mark_refused(request: Request, reason: str, detail: str = "") -> None:  # type: ignore[type-arg]
    """Called by a handler about to answer a refusal: the hook counts it under this reason."""
    request.scope["state"][_STATE_KEY] = (reason, detail)


async def read_body(request: Request) -> bytes | None:  # type: ignore[type-arg]
    """The request's body, or None (marked as a refusal) when the client hung up before it
    ended: Litestar raises its 500 for that, which is no error of ours and no traceback."""
    try:
        return await request.body()
    except InternalServerException:  # its only use while reading: "client disconnected prematurely"
        mark_refused(request, "client_gone", "the client hung up before the body ended")
        return None


def webhook_of(path: str) -> str:
    return next((name for prefix, name in WEBHOOKS.items() if path.startswith(prefix)), "none")


@dataclass
class _Window:
    since: float
    count: int = 0


class RefusalLog:
    def __init__(self, interval: float = SUMMARY_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        # By (webhook, reason): refusals since the kind's last line. A kind without a window
        # logs its next refusal in full.
        self._windows: dict[tuple[str, str], _Window] = {}

    async def count_response(self, message: Message, scope: Scope) -> None:
        """Litestar's before_send hook: sees the status of every response the app gives."""
        if message["type"] != "http.response.start":
            return
        marked = scope.get("state", {}).get(_STATE_KEY)
        status = message["status"]
        if marked is None and status not in DEFAULT_REASONS:
            return
        reason, detail = marked or (DEFAULT_REASONS[status], "")
        path = scope.get("path", "")
        client = scope.get("client") or ("?", 0)
        said = f"{scope.get('method')} {path[:_PATH_CHARS]!r} from {client[0]} answered {status}"
        self.refused(webhook_of(path), reason, f"{said}: {detail}" if detail else said)

    def refused(self, webhook: str, reason: str, detail: str) -> None:
        WEBHOOK_REFUSALS.labels(webhook=webhook, reason=reason).inc()
        window = self._windows.get((webhook, reason))
        if window is not None:
            window.count += 1
            return
        self._windows[(webhook, reason)] = _Window(self._clock())
        log.warning("request refused (%s, %s): %s; more of these are summarised every %d s",
                    webhook, reason, detail, self.interval)

    def summarise(self) -> None:
        """One line per kind refused again since its last line; a kind quiet for a whole
        interval is forgotten, so that its next refusal is logged in full."""
        now = self._clock()
        for (webhook, reason), window in list(self._windows.items()):
            if window.count:
                log.warning("%d requests refused (%s, %s) in the last %d s",
                            window.count, webhook, reason, round(now - window.since))
                window.since, window.count = now, 0
            elif now - window.since >= self.interval:
                del self._windows[(webhook, reason)]

    @asynccontextmanager
    async def summaries(self, _: Litestar) -> AsyncIterator[None]:
        """The app's lifespan: a summary every interval, and the last one at shutdown."""

        async def every_interval() -> None:
            while True:
                await asyncio.sleep(self.interval)
                self.summarise()

        task = asyncio.create_task(every_interval())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            self.summarise()
