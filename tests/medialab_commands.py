"""The `medialab` command as tests run it: in a process of its own, or in the test's process.

A process only where the process boundary is what is tested (issue #15): the installed entry
point, a cold start, what a command loads. Every other run calls `medialab.cli.main` here,
with the same arguments and environment, and answers the same way, a CompletedProcess with the
exit status, standard output and standard error: a process costs ~3 s of CPU importing aiogram
alone (the commands that talk to Telegram or YooKassa) and about 1 s for the others.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from medialab.cli import main
from medialab.logs import QUIET_LOGGERS, QuietAccessFilter

MEDIALAB = str(Path(sys.executable).parent / "medialab")  # the installed entry point
# The commands' working directory: no .env file there to add settings a test did not give.
WORKDIR = Path(__file__).parent
# The settings of the test process's own environment that a command must not inherit.
OWN_SETTINGS = ("TELEGRAM_", "DATABASE_", "REDIS_")


def environment(*, database_url: str | None = None, redis_url: str | None = None, **variables: str) -> dict[str, str]:
    """The test process's environment without its own bot, database and Redis settings, then
    these (no REDIS_URL: the command starts an embedded Redis)."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith(OWN_SETTINGS)}
    if database_url is not None:
        environ["DATABASE_URL"] = database_url
    if redis_url is not None:
        environ["REDIS_URL"] = redis_url
    return environ | variables


def run_process(*args: str, environ: Mapping[str, str], cwd: Path = WORKDIR,
                program: str = MEDIALAB) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program, *args], env=dict(environ), capture_output=True, text=True, timeout=180, cwd=cwd)


async def medialab_process(*args: str, environ: Mapping[str, str], cwd: Path = WORKDIR,
                           program: str = MEDIALAB) -> subprocess.CompletedProcess[str]:
    # In a thread: the stand-ins answering the process are served by this test's event loop.
    return await asyncio.to_thread(run_process, *args, environ=environ, cwd=cwd, program=program)


# One command at a time (the standard streams and the logging set-up are the process's), in a
# thread of their own: queued there, commands a test starts at once do not hold the threads of
# the loop's default executor, which the test's loop serving the stand-ins may need meanwhile.
_COMMANDS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medialab-command")


async def medialab_in_process(*args: str, environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`medialab *args` in this process. In another thread, as main() runs its own event loop and
    the stand-ins it talks to are served by the test's; without the test's context variables
    (the log ids), as a process starts with none. An exception main() does not turn into an
    exit status fails the test with its traceback."""
    return await asyncio.get_running_loop().run_in_executor(_COMMANDS, _run_in_this_thread, list(args), dict(environ))


def _run_in_this_thread(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    thread = threading.get_ident()
    with _logging_kept():
        stdout, stderr = _ThreadStream(thread, sys.stdout), _ThreadStream(thread, sys.stderr)
        sys.stdout, sys.stderr = stdout, stderr  # type: ignore[assignment]
        try:
            code = main(args, environ)
        except SystemExit as exit:  # argparse's refusals and --help
            code = _exit_status(exit.code, stderr)
        finally:
            sys.stdout, sys.stderr = stdout.before, stderr.before
    return subprocess.CompletedProcess(["medialab", *args], code, _as_read_from_a_pipe(stdout.captured.getvalue()),
                                       _as_read_from_a_pipe(stderr.captured.getvalue()))


def _as_read_from_a_pipe(text: str) -> str:
    # subprocess.run(text=True) reads with universal newlines: the CSV's "\r\n" arrives as "\n".
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _exit_status(code: object, stderr: TextIO) -> int:
    """What the interpreter makes of SystemExit(code) when it ends a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=stderr)
    return 1


class _ThreadStream(io.TextIOBase):
    """sys.stdout or sys.stderr while a command runs: what the command's thread writes (prints,
    log records, argparse's errors) is captured, as a process's pipe would take it; what other
    threads write, the test's event loop logging as it serves the stand-ins, goes where it
    went before, as it would never reach the process's pipe."""

    encoding = "utf-8"

    def __init__(self, thread: int, before: TextIO) -> None:
        super().__init__()
        self.thread, self.before, self.captured = thread, before, io.StringIO()

    def write(self, text: str) -> int:
        if threading.get_ident() == self.thread:
            return self.captured.write(text)
        return self.before.write(text)

    def flush(self) -> None:
        if threading.get_ident() != self.thread:
            self.before.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False  # a pipe: medialab.logs writes JSON lines to it


@contextmanager
def _logging_kept() -> Iterator[None]:
    """main() sets up logging for a process of its own (medialab.logs.configure_logging): the
    root's handler and level, the quiet loggers' levels, uvicorn's access filter, warnings
    through logging. All put back afterwards, for the tests that follow in this process."""
    manager = logging.Logger.manager
    loggers = [logging.root, *(v for v in manager.loggerDict.values() if isinstance(v, logging.Logger))]
    kept = [(logger, logger.level, logger.handlers[:], logger.filters[:], logger.disabled, logger.propagate)
            for logger in loggers]
    showwarning = warnings.showwarning
    try:
        yield
    finally:
        for logger, level, handlers, filters, disabled, propagate in kept:
            for handler in [h for h in logger.handlers if h not in handlers]:
                handler.close()
            logger.setLevel(level)
            logger.handlers[:], logger.filters[:] = handlers, filters
            logger.disabled, logger.propagate = disabled, propagate
        existed = {logger.name for logger, *_ in kept}
        for name in (*QUIET_LOGGERS, "uvicorn.access"):
            if name not in existed:  # made by configure_logging itself: back to a fresh logger's state
                logger = logging.getLogger(name)
                logger.setLevel(logging.NOTSET)
                logger.filters[:] = [f for f in logger.filters if not isinstance(f, QuietAccessFilter)]
        if warnings.showwarning is not showwarning:
            logging.captureWarnings(False)
            warnings.showwarning = showwarning
