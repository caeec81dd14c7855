"""`medialab demo`: SQLite and the embedded Redis in a fresh directory, the system started
against the stand-ins, the journey played (or typed by a person), then the books checked."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from medialab.bot.registration import RegistrationError
from medialab.db import migrate
from medialab.db.engine import create_engine, session_factory
from medialab.db.redis import EmbeddedRedis
from medialab.demo.books import Sessions, books_problem, ledger_lines, wait_until_settled
from medialab.demo.chat import DemoChat
from medialab.demo.interactive import chat_with_person
from medialab.demo.journey import JourneyError, play_journey
from medialab.demo.stack import running_system

DEMO_USER = 100_200_300


class DemoFailed(Exception):
    """The demo could not show a working system; the message is the one line to print."""


async def run_demo(workdir: Path | None, output: Path, interactive: bool, write: Callable[[str], None]) -> None:
    """The demo in `workdir`, kept; without one, in a temporary directory removed when the demo
    succeeds (when it fails, the logs stay there and the message names it)."""
    directory = (workdir or Path(tempfile.mkdtemp(prefix="medialab-demo-"))).absolute()
    await _run_in(directory, output, interactive, write)
    if workdir is None:
        shutil.rmtree(directory, ignore_errors=True)
        write(f"demo: removed {directory} (--dir keeps the database and the logs)")


async def _run_in(directory: Path, output: Path, interactive: bool, write: Callable[[str], None]) -> None:
    # Absolute: web and worker run inside it, where a relative database path would name another file.
    directory.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite+aiosqlite:///{directory / 'demo.db'}"
    await migrate.run(database_url)
    redis = EmbeddedRedis(directory)
    engine = create_engine(database_url)
    try:
        write(f"demo: database {database_url}, embedded Redis {redis.url}, logs in {directory}")
        sessions = session_factory(engine)
        try:
            async with running_system(database_url, redis.url, directory) as system:
                write(f"demo: web app on {system.web_url}, worker started; the chat:\n")
                chat = DemoChat(system.stand_ins.telegram, DEMO_USER, write, images=output)
                await (chat_with_person(chat) if interactive else play_journey(system, chat))
                await wait_until_settled(sessions)
                chat.flush()
                write(f"\ndemo: {len(chat.photos)} image(s) written to {output}")
        except (JourneyError, TimeoutError, RuntimeError, RegistrationError, httpx.HTTPError) as exc:
            # The first line only (a start-up failure carries the process's log tail after it).
            raise DemoFailed(f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__} "
                             f"(logs: {directory})") from None
        await report_books(sessions, write)
    finally:
        await engine.dispose()
        redis.close()


async def report_books(sessions: Sessions, write: Callable[[str], None]) -> None:
    write("\nledger:")
    for line in await ledger_lines(sessions):
        write(f"  {line}")
    problem = await books_problem(sessions)
    if problem is not None:
        raise DemoFailed(problem)
    write("books: every balance equals its ledger; no operation left unsettled")
