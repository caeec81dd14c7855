"""OS processes forked from multiprocessing's fork server, which has imported the libraries they
need once per test process.

A `medialab serve`, `worker` or `run` started as a new interpreter spends some 3 s of CPU
importing its libraries (aiogram's 448 pydantic models most of it) before it does anything,
and the system tests start some twenty of them, for what they do once started: answer under load,
be killed mid-update, restart. Forked here, each is still a process of its own (its pid, its
signals, its exit status, its own connections, its output in its log) and imports our code
itself; the cold start stays tested where it is the subject (tests/e2e/test_installed_wheel.py,
tests/test_startup_checks.py) and in the demo, which starts new interpreters.

Only libraries that read nothing of the environment when imported are loaded beforehand: a
command's environment is set in the child, before it imports our code (prometheus_client, for
one, chooses its multiprocess mode when imported: it is not among them).
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload([
    "aiogram.methods", "aiogram.types", "aiogram.dispatcher.dispatcher", "aiohttp", "alembic", "arq",
    "asyncpg", "aiosqlite", "httpx", "litestar", "msgspec", "pydantic_settings", "redis.asyncio",
    "sqlalchemy.ext.asyncio", "sqlalchemy.orm", "uvicorn",
])
READ_ENVIRONMENT_AT_IMPORT = ("medialab", "prometheus_client")  # so never loaded beforehand
# What `python -m medialab` puts in sys.argv[0] (found without importing medialab here: this
# module is imported again in each child, before the command's environment is set).
MAIN = str(Path(importlib.util.find_spec("medialab").origin).with_name("__main__.py"))  # type: ignore[arg-type, union-attr]


class ForkedCommand:
    """`python -m medialab <argv>` as subprocess.Popen would run it (what the tests use of
    Popen: pid, poll, wait, send_signal, kill, returncode), forked from the server."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.args = ["medialab", *argv]
        self._process = FORKSERVER.Process(target=_run_command, args=(argv, env, str(cwd), str(log)), daemon=False)
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self._process.kill()


def forked(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> ForkedCommand:
    """The demo stack's `launch` (medialab.demo.stack.Launch), forking instead of a new interpreter."""
    return ForkedCommand(argv, env, cwd, log)


def _run_command(argv: list[str], env: dict[str, str], cwd: str, log: str) -> None:
    """In the child: the environment, working directory, output and argv the command would have
    as a new process, then its main; what Python runs at exit is run at exit (multiprocessing's
    children skip it: logging's last records would be lost)."""
    loaded = [name for name in READ_ENVIRONMENT_AT_IMPORT if name in sys.modules]
    if loaded:
        raise RuntimeError(f"the fork server has imported {loaded}, which read the environment at import")
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    output = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, write_through=True,
                                  errors="backslashreplace")
    sys.argv = [MAIN, *argv]
    try:
        from medialab.cli import main

        code = main(argv)
    finally:
        atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter does at exit
    sys.exit(code)
