"""Runs an ASGI app (ours or a stand-in) with uvicorn inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn's server, told to stop by an event: its own main loop looks for should_exit every
    0.1 s, which the tests (three servers stopped after each of hundreds of tests) waited out."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_requested = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            # on_tick refreshes the Date header every tenth tick; each wait here is a second.
            counter += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown in the same order (stop listening, ask each connection to close,
        let the requests in progress finish, then the lifespan's shutdown), with its waits made
        short polls: it sleeps a fixed 0.1 s after asking the connections to close and then 0.1 s
        at a time while one is open, which was most of a test's teardown (three servers, 0.3 s)."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown or SHUTDOWN_GRACE):
                while self.server_state.connections or self.server_state.tasks:
                    await asyncio.sleep(0.002)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            for task in self.server_state.tasks:  # as uvicorn does when its grace runs out
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


# How long the requests still in progress when a server is told to stop may take to finish.
SHUTDOWN_GRACE = 30.0


@asynccontextmanager
async def serve_in_loop(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serves app until the block ends; yields its base URL (port 0 picks a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, Nagle's algorithm and delayed ACKs add
    # ~40 ms to every request after the first on a keep-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # proxy_headers off as in `medialab serve`: the app decides whose X-Forwarded-For to
    # believe (uvicorn's default would rewrite the peer of every request from 127.0.0.1).
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, proxy_headers=False)
    server = _Server(config)
    # A signal handler installed by uvicorn would steal Ctrl-C from the test runner or the demo.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        server.stop_requested.set()
        await task
        sock.close()
