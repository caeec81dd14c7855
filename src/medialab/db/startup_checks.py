"""What `medialab serve`, `worker` and `run` check before they start: the database answers and
holds this release's schema, and Redis answers. A failure is one line naming the setting and
what is wrong (passwords masked), and the command exits 2, so that a PaaS restarts it and an
operator reads why at once, instead of a process that starts and fails every request later.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from medialab.db import migrate
from medialab.db.engine import CONNECT_TIMEOUT_SECONDS, is_sqlite_file
from medialab.db.redis import redis_client

if TYPE_CHECKING:
    from medialab.settings import Settings

MASK = "***"
# The connect deadline, and as long again for reading the schema's revision.
DATABASE_CHECK_SECONDS = 2 * CONNECT_TIMEOUT_SECONDS
MAX_REASON_CHARS = 200
# Says "Context impl SQLiteImpl." whenever the revision is read: noise before every start.
MIGRATION_LOGGER = "alembic.runtime.migration"


class StartupCheckFailed(Exception):
    """A dependency the process cannot run without; the message is the one line to print."""


def redacted(url: str) -> str:
    """The URL as it may be printed: its password, if any, masked."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    user_info, at, host = authority.rpartition("@")
    if not (separator and at) or ":" not in user_info:
        return url
    return f"{scheme}://{user_info.partition(':')[0]}:{MASK}@{host}{slash}{path}"


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def reason(exc: BaseException, url: str, timeout: float) -> str:
    """Why a connection failed, in a few words, without the password: the first error of the
    chain (outermost first) that says it plainly, else the innermost one's own words."""
    chain = [exc]
    while (inner := getattr(chain[-1], "orig", None) or chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(inner)
    text = next((plain for error in chain if (plain := _plainly(error, timeout))), None)
    if text is None:
        worded = [line for error in chain if (line := str(error).strip())]
        text = worded[-1].splitlines()[0][:MAX_REASON_CHARS] if worded else type(exc).__name__
    password = _password(url)
    return text.replace(password, MASK) if password else text


def _plainly(exc: BaseException, timeout: float) -> str | None:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return None


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def schema_problem(current: str | None, head: str | None) -> str | None:
    """None when the database's schema is this release's; else what is wrong, in a few words."""
    if current == head:
        return None
    if current is None:
        return "no schema (never migrated)"
    return f"schema at revision {current}, not at this release's {head}"


async def check_database(database_url: str, upgrade: bool = False) -> None:
    """The database answers and its schema is at the head; with `upgrade`, a schema behind is
    upgraded first (a new SQLite file is made), as `medialab run` does for local runs."""
    shown = redacted(database_url)
    if not upgrade and database_url.startswith("sqlite") and is_sqlite_file(database_url):
        path = Path(database_url.partition(":///")[2].partition("?")[0])
        if not path.is_file():
            raise StartupCheckFailed(f"DATABASE_URL: there is no database file {path.resolve()}: "
                                     "run `medialab migrate` to make it")
    try:
        with _quiet(MIGRATION_LOGGER):
            async with asyncio.timeout(DATABASE_CHECK_SECONDS):
                current = await migrate.current_revision(database_url)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the one line says it
        raise StartupCheckFailed(f"DATABASE_URL: could not connect to the database at {shown} "
                                 f"({reason(exc, database_url, DATABASE_CHECK_SECONDS)})") from None
    head = migrate.head_revision()
    problem = schema_problem(current, head)
    if problem is not None and upgrade:
        try:
            await migrate.run(database_url, "upgrade", "head")
        except Exception as exc:  # noqa: BLE001 - e.g. a revision this release does not know
            raise StartupCheckFailed(f"DATABASE_URL: the schema of the database at {shown} could not be "
                                     f"upgraded ({reason(exc, database_url, DATABASE_CHECK_SECONDS)})") from None
        problem = None
    if problem is not None:
        raise StartupCheckFailed(f"DATABASE_URL: the database at {shown} has {problem}: run `medialab migrate`")


async def check_redis(redis_url: str, timeout: float) -> None:
    """Redis answers PING within REDIS_TIMEOUT (one try: arq's own retries took 11 s)."""
    client = redis_client(redis_url, timeout)
    try:
        async with asyncio.timeout(timeout + 1):
            await client.ping()
    except Exception as exc:  # noqa: BLE001 - whatever it is, the one line says it
        raise StartupCheckFailed(f"REDIS_URL: could not connect to Redis at {redacted(redis_url)} "
                                 f"({reason(exc, redis_url, timeout)})") from None
    finally:
        await client.aclose()


async def check_dependencies(settings: Settings, upgrade: bool = False) -> None:
    """The database (see check_database), then Redis when REDIS_URL is set (an embedded one is
    started by the process itself)."""
    await check_database(settings.database.url, upgrade)
    if settings.redis.url is not None:
        await check_redis(settings.redis.url, settings.redis.timeout)
