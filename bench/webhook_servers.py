"""The servers bench/webhook.py drives, each a subprocess served by uvicorn: `medialab serve`
(the real app) and bench/echo_app.py (the baseline). Their logs go to a file, not the table.
`medialab serve` runs as `python -m medialab` with the bench's environment, so PYTHONPATH
chooses the tree it serves (as it does the bench's own imports), not the console script."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

BENCH_DIR = Path(__file__).resolve().parent
MEDIALAB = [sys.executable, "-m", "medialab"]
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(command: list[str], env: Mapping[str, str], ready_path: str, log_path: Path) -> AsyncIterator[str]:
    """Starts the command (which must listen on the port given as {port}), waits until
    ready_path answers (any status but 5xx: the echo bot has no health route), yields the base URL;
    stops it with SIGINT at the end (uvicorn shuts down gracefully, then re-raises the signal: as
    KeyboardInterrupt it still lets cProfile write its file, SIGTERM's default action would not)."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(process, base + ready_path)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                command = " ".join(map(str, process.args))  # type: ignore[arg-type]
                raise RuntimeError(f"{command} exited with {process.returncode} before it was ready")
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {START_TIMEOUT_SECONDS} s")


def medialab_serve(profile_to: str | None = None) -> list[str]:
    """With profile_to, under cProfile: uvicorn ends on SIGTERM by returning, so the profile is written."""
    serve = ["serve", "--host", "127.0.0.1", "--port", "{port}"]
    if profile_to:
        return [sys.executable, "-m", "cProfile", "-o", profile_to, "-m", "medialab", *serve]
    return [*MEDIALAB, *serve]


def echo_serve(answer: str) -> list[str]:
    """answer: "background" (200 at once, then the reply by a Bot API call) or "inline" (the
    update handled first, the reply in the webhook's answer); see bench/echo_app.py."""
    return [sys.executable, str(BENCH_DIR / "echo_app.py"), "--port", "{port}", "--answer", answer]
