"""The web app's part of logging (see medialab.logs).

Every HTTP request gets an id that its log records carry and that the response returns in
X-Request-ID; a caller's (a proxy's) id is kept when it is a plain token, anything else is
replaced, so a header cannot forge log lines. Litestar's own records go to the root handler
too: its default config would replace that handler, and with it the JSON lines and redaction."""

from __future__ import annotations

import re
import uuid

from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from medialab.logs import log_context

HEADER = b"x-request-id"
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def litestar_logging() -> LoggingConfig:
    """Leaves the root logger alone; uncaught exceptions are logged (with their traceback),
    except a client's ordinary mistakes (an unknown path or method, a body too large, the
    dashboard without its token), which are answered and are no error of ours."""
    return LoggingConfig(
        configure_root_logger=False,
        handlers={"console": {"class": "logging.NullHandler"}, "queue_listener": {"class": "logging.NullHandler"}},
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        log_exceptions="always",
        disable_stack_trace={400, 401, 404, 405, 413},
    )


def request_context(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == HEADER), b"")
        request_id = given.decode() if _PLAIN_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        with log_context(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware
