"""Async engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL's deadlines: opening a connection, and one statement of the app's (a webhook or a
# job waits on it; migrations, which may run long, go without).
CONNECT_TIMEOUT_SECONDS = 5.0
STATEMENT_TIMEOUT_SECONDS = 15.0


def create_engine(database_url: str, statement_timeout: float | None = STATEMENT_TIMEOUT_SECONDS,
                  **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        return _sqlite_engine(database_url, **kwargs)
    kwargs.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT_SECONDS, "command_timeout": statement_timeout})
    # A request waits this long for a pooled connection at most.
    kwargs.setdefault("pool_timeout", 10)
    # 20 connections a process at most: PaaS databases often allow only a few dozen in all.
    # All of them kept once opened: an overflow connection is closed when given back, and under
    # load that meant a new connection (and its prepared statements) per charge.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 0)
    # No pre-ping: it is a round trip before every transaction, a tenth of a paid prompt's time
    # (bench/webhook.py). A connection the server dropped fails its first statement instead,
    # and SQLAlchemy then discards every connection of the pool as old as it; connections are
    # renewed before a PaaS proxy's idle timeout would cut them.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(database_url, **kwargs)


def _sqlite_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite_file(database_url):
        # Connections kept once opened, as for PostgreSQL: each new one is a thread and its
        # pragmas. (An in-memory database has a single connection and no such pool.)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 0)
    engine = create_async_engine(
        database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite_connection(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: the transaction then waits on busy_timeout, and the
        # guarded UPDATEs of billing see a serial order across processes.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """Every SQLite connection of a process (the pool's, billing's charge thread's)."""
    # Transactions are begun explicitly (BEGIN IMMEDIATE): pysqlite's implicit BEGIN is
    # DEFERRED, and two deferred transactions that both upgrade to writers deadlock into
    # "database is locked" instead of waiting for each other.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_sqlite_file(database_url: str) -> bool:
    """A SQLite database in a file (not in memory, which has one connection and no file)."""
    return ":memory:" not in database_url and not database_url.rstrip("/").endswith(":")


# What a process opens sessions with (handlers and jobs receive it under this name).
Sessions = async_sessionmaker[AsyncSession]


def session_factory(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)
