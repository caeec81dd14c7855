"""`medialab serve --workers N` (or WEB_CONCURRENCY): one port served by N worker processes under
uvicorn's supervisor, each with its own app built from the environment; and the one-line
refusals that come before anything starts."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import medialab
from conftest import REDIS_TEST_URL

SOURCE_ROOT = Path(medialab.__file__).resolve().parents[1]
STARTED = re.compile(r"Started server process \[(\d+)\]")
FINISHED = re.compile(r"Finished server process \[(\d+)\]")


def environment(**values: str) -> dict[str, str]:
    """This process's environment without the settings a test decides, and this checkout's code."""
    decided = ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "HOST", "PORT", "LOG_LEVEL")
    inherited = {k: v for k, v in os.environ.items() if k not in decided and not k.startswith("TELEGRAM_")}
    return inherited | {"PYTHONPATH": str(SOURCE_ROOT), "LOG_LEVEL": "INFO"} | values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def messages(log: Path) -> list[str]:
    """The messages of the JSON lines written so far (a line still being written is skipped)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line)["message"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def pids(pattern: re.Pattern[str], log: Path) -> set[int]:
    return {int(m[1]) for message in messages(log) if (m := pattern.fullmatch(message))}


def worker_processes(supervisor: int) -> set[int]:
    """The supervisor's children that run a worker (multiprocessing's spawn), not its resource tracker."""
    children = set()
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        children |= {int(pid) for pid in (task / "children").read_text().split()}
    workers = set()
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            workers.add(pid)
    return workers


def poll(condition: Callable[[], bool], what: str, log: Path, server: subprocess.Popen[bytes],
         timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if server.poll() is not None or time.monotonic() > deadline:
            state = "exited" if server.poll() is not None else "still running"
            raise AssertionError(f"never {what} ({state}); log:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def test_two_workers_serve_one_port_each_with_its_own_app_and_stop_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "medialab", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
                                  env=environment(DATABASE_URL=database_url, REDIS_URL=REDIS_TEST_URL))
    try:
        poll(lambda: messages(log).count("Application startup complete.") == 2, "started both workers",
             log, server)
        workers = worker_processes(server.pid)
        assert len(workers) == 2 and server.pid not in workers
        # Each worker built its own app (the factory runs in the worker, then it says so).
        assert pids(STARTED, log) == workers

        # Each worker answers alone: with the other stopped, only it can accept the connection.
        for serving in sorted(workers):
            (other,) = workers - {serving}
            os.kill(other, signal.SIGSTOP)
            try:
                ready = httpx.get(f"{url}/ready", timeout=4)  # a new connection each time
            finally:
                os.kill(other, signal.SIGCONT)
            assert ready.status_code == 200, (serving, ready.text)
            assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        assert worker_processes(server.pid) == workers  # neither was replaced meanwhile
        assert httpx.get(f"{url}/health", timeout=4).json() == {"status": "ok"}

        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.poll() == 0, f"exit {server.poll()} after SIGTERM; log:\n{log.read_text(errors='replace')}"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    # Both workers shut their apps down and were reaped by the supervisor.
    assert pids(FINISHED, log) == workers
    assert messages(log).count("Application shutdown complete.") == 2
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    written = log.read_text(errors="replace")
    assert "Traceback" not in written and '"level": "ERROR"' not in written, written


def refusal(workers: int) -> str:
    return (f"medialab: REDIS_URL must be set to serve with {workers} workers (--workers or WEB_CONCURRENCY): "
            "they must share one Redis, and an embedded one is per process")


@pytest.mark.parametrize(("args", "env", "line"), [
    ((), {"WEB_CONCURRENCY": "abc"}, "medialab: WEB_CONCURRENCY: must be a whole number, got 'abc'"),
    (("--workers", "0"), {}, "medialab serve: argument --workers: must be at least 1, got 0"),
    ((), {"WEB_CONCURRENCY": "2"}, refusal(2)),
    # --workers wins over WEB_CONCURRENCY, either way.
    (("--workers", "2"), {"WEB_CONCURRENCY": "1"}, refusal(2)),
    (("--workers", "3"), {"WEB_CONCURRENCY": "2"}, refusal(3)),
])
def test_bad_worker_counts_and_several_workers_without_redis_url_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], line: str
) -> None:
    # HOST and PORT only matter if the command wrongly went on to serve.
    done = subprocess.run([sys.executable, "-m", "medialab", "serve", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=environment(HOST="127.0.0.1", PORT=str(free_port()), **env))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")
