"""`medialab serve --workers N` (or WEB_CONCURRENCY): one port served by N worker processes under
uvicorn's supervisor, each with its own app built from the environment; and the one-line
refusals that come before anything starts. The workers count into one metrics directory, so
/metrics on any of them reports the sum."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import medialab
from conftest import REDIS_TEST_URL
from medialab.demo.stack import free_port  # noqa: F401 - the tests of other commands take it from here
from ops.scraped import parse, value

SOURCE_ROOT = Path(medialab.__file__).resolve().parents[1]
STARTED = re.compile(r"Started server process \[(\d+)\]")
FINISHED = re.compile(r"Finished server process \[(\d+)\]")


def environment(**values: str) -> dict[str, str]:
    """This process's environment without the settings a test decides, and this checkout's code."""
    decided = ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "HOST", "PORT", "LOG_LEVEL")
    inherited = {k: v for k, v in os.environ.items() if k not in decided and not k.startswith("TELEGRAM_")}
    return inherited | {"PYTHONPATH": str(SOURCE_ROOT), "LOG_LEVEL": "INFO"} | values


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


@dataclass
class Served:
    server: subprocess.Popen[bytes]
    url: str
    log: Path
    workers: set[int] = field(default_factory=set)

    def alone(self, serving: int, request: Callable[[], httpx.Response]) -> httpx.Response:
        """The request answered by that worker: with the others stopped, only it can accept the
        connection (a new connection each time)."""
        others = self.workers - {serving}
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            return request()
        finally:
            for other in others:
                os.kill(other, signal.SIGCONT)

    def stop(self) -> None:
        self.server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while self.server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.poll() == 0, f"exit {self.server.poll()} after SIGTERM; log:\n{self.written()}"

    def written(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def two_workers(database_url: str, tmp_path: Path, **env: str) -> Iterator[Served]:
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "medialab", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
                                  env=environment(DATABASE_URL=database_url, REDIS_URL=REDIS_TEST_URL, **env))
    served = Served(server, f"http://127.0.0.1:{port}", log)
    try:
        poll(lambda: messages(log).count("Application startup complete.") == 2, "started both workers",
             log, server)
        served.workers = worker_processes(server.pid)
        assert len(served.workers) == 2 and server.pid not in served.workers
        yield served
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_two_workers_serve_one_port_count_into_one_metrics_directory_and_stop_on_sigterm(
    sqlite_url: str, tmp_path: Path
) -> None:
    """One start of two workers (the expensive part) for what they do together: each answers
    with its own app, /metrics on either reports the sum of both, both stop on SIGTERM. On
    SQLite alone: what is tested is the processes, and each start costs seconds of CPU."""
    inherited = tmp_path / "inherited-metrics"  # another run's numbers, say: not to be read
    inherited.mkdir()
    with two_workers(sqlite_url, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(inherited)) as served:
        workers = served.workers
        first, second = sorted(workers)
        # Each worker built its own app (the factory runs in the worker, then it says so).
        assert pids(STARTED, served.log) == workers

        # Each worker answers alone.
        for serving in sorted(workers):
            ready = served.alone(serving, lambda: httpx.get(f"{served.url}/ready", timeout=4))
            assert ready.status_code == 200, (serving, ready.text)
            assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        assert httpx.get(f"{served.url}/health", timeout=4).json() == {"status": "ok"}

        # One metrics directory for both, made fresh by the supervisor.
        shared = {environment_of(pid).get("PROMETHEUS_MULTIPROC_DIR") for pid in workers}
        assert len(shared) == 1 and str(inherited) not in shared
        metrics_dir = Path(shared.pop() or "")
        assert metrics_dir.is_dir()
        # Refused requests, counted where they were answered: one by the first, two by the second.
        for serving, times in ((first, 1), (second, 2)):
            for _ in range(times):
                missing = served.alone(serving, lambda: httpx.get(f"{served.url}/no-such-page", timeout=4))
                assert missing.status_code == 404
        for serving in (first, second):
            scraped = served.alone(serving, lambda: httpx.get(f"{served.url}/metrics", timeout=4))
            families = parse(scraped.text)
            assert value(families, "medialab_webhook_refusals_total", webhook="none", reason="not_found") == 3
            assert value(families, "medialab_charges_total", outcome="paid") == 0  # declared by both
        assert worker_processes(served.server.pid) == workers  # neither was replaced meanwhile
        served.stop()
    # Both workers shut their apps down and were reaped by the supervisor.
    assert pids(FINISHED, served.log) == workers
    assert messages(served.log).count("Application shutdown complete.") == 2
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not metrics_dir.exists()  # the serve command cleans up after its workers
    assert list(inherited.iterdir()) == []
    written = served.written()
    assert "Traceback" not in written and '"level": "ERROR"' not in written, written


def environment_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode(errors="replace").partition("=")[::2] for pair in pairs if pair)


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
