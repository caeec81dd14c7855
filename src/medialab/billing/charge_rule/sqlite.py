"""SQLite's implementation of the charge rule (see __init__.py) for a charge the Redis cache
admitted: one synchronous call on a connection of its own.

aiosqlite runs each statement in its connection's thread and hands the answer back to the
event loop. A transaction of six (BEGIN IMMEDIATE, four statements, COMMIT) thus held SQLite's
one write lock across six waits for a busy event loop, and the pool's other connections slept in
SQLite's busy handler meanwhile: 116 paid prompts a second, whatever the pool's size
(bench/webhook.py, 0.19 of the echo bot's rate).

Here the whole transaction is one synchronous call. When SQLite's write lock is free at that
moment it runs right on the event loop's thread: four statements on a local file take a few
hundred microseconds, less than handing them to a thread and back (0.6-0.75 of the echo bot's
rate, against 0.4-0.5 through a thread). When another connection or process holds the lock, the
charge goes to a thread of its own, whose connection waits for the lock on busy_timeout; the
event loop never does.

The statements are billing/sql.py's, compiled once for SQLite; PostgreSQL runs the same four in
one function call (medialab_charge_as_cached.0005.sql).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from medialab.billing import sql
from medialab.db.engine import SQLITE_BUSY_TIMEOUT_MS, configure_sqlite_connection, is_sqlite_file

_DIALECT = sqlite.dialect(paramstyle="named")
_OPERATION_COLUMNS = ["id", "user_id", "type", "price", "status", "task_id"]
_ENTRY_COLUMNS = ["user_id", "kind", "amount", "balance_after", "idempotency_key", "operation_id"]


class _Statement:
    """A billing statement as SQLite text, with its fixed parameters (literals of the
    expression, such as the 1 of version + 1) filled in."""

    def __init__(self, statement: Any, columns: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=columns)
        self.text = str(compiled)
        self.fixed = {name: value for name, value in compiled.params.items() if value is not None}

    def row(self, db: sqlite3.Connection, **params: Any) -> tuple[Any, ...] | None:
        return db.execute(self.text, {**self.fixed, **params}).fetchone()


BUMP_TAKING_FREE = _Statement(sql.BUMP_TAKING_FREE)
BUMP_WITHOUT_FREE = _Statement(sql.BUMP_WITHOUT_FREE)
MOVE_BALANCE_ABOVE = _Statement(sql.MOVE_BALANCE_ABOVE)
CURRENT_BALANCE = _Statement(sql.CURRENT_BALANCE)
INSERT_OPERATION = _Statement(sql.INSERT_OPERATION["sqlite"], _OPERATION_COLUMNS)
APPEND_ENTRY = _Statement(sql.APPEND_ENTRY["sqlite"], _ENTRY_COLUMNS)


def begin_and_charge(
    db: sqlite3.Connection, *, user_id: int, operation_id: str, kind: str, price: int, task_id: str | None,
    paid_with_free: bool, status: str, ledger_kind: str, ledger_key: str,
) -> tuple[str, int, int, int]:
    """(outcome, version, free left, balance), as PostgreSQL's function answers; an operation id
    charged before raises sqlite3.IntegrityError after rolling everything back."""
    db.execute("BEGIN IMMEDIATE")  # waits on busy_timeout while another connection writes
    return charge_begun(db, user_id, operation_id, kind, price, task_id, paid_with_free, status, ledger_kind, ledger_key)


def charge_begun(
    db: sqlite3.Connection, user_id: int, operation_id: str, kind: str, price: int, task_id: str | None,
    paid_with_free: bool, status: str, ledger_kind: str, ledger_key: str,
) -> tuple[str, int, int, int]:
    """The charge in a transaction begun with the write lock; committed, or rolled back when
    nothing was to change or something failed."""
    try:
        answer = _charge(db, user_id, operation_id, kind, price, task_id, paid_with_free, status,
                         ledger_kind, ledger_key)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if answer[0] == "disagrees":
        db.execute("ROLLBACK")  # nothing was changed
    else:
        db.execute("COMMIT")  # 'insufficient' keeps its version bump, as on PostgreSQL
    return answer


def _charge(
    db: sqlite3.Connection, user_id: int, operation_id: str, kind: str, price: int, task_id: str | None,
    paid_with_free: bool, status: str, ledger_kind: str, ledger_key: str,
) -> tuple[str, int, int, int]:
    bumped = (BUMP_TAKING_FREE if paid_with_free else BUMP_WITHOUT_FREE).row(db, p_user_id=user_id)
    if bumped is None:
        return "disagrees", 0, 0, 0
    version, free_left = bumped
    if paid_with_free:
        (balance,) = CURRENT_BALANCE.row(db, p_user_id=user_id)  # type: ignore[misc]
    else:
        moved = MOVE_BALANCE_ABOVE.row(db, p_user_id=user_id, p_delta=-price, p_floor=0)
        if moved is None:
            (balance,) = CURRENT_BALANCE.row(db, p_user_id=user_id)  # type: ignore[misc]
            return "insufficient", version, free_left, balance
        (balance,) = moved
    inserted = INSERT_OPERATION.row(db, id=operation_id, user_id=user_id, type=kind,
                                    price=0 if paid_with_free else price, status=status, task_id=task_id)
    if inserted is None:
        raise sqlite3.IntegrityError(f"operation {operation_id} exists")
    if not paid_with_free:
        APPEND_ENTRY.row(db, user_id=user_id, kind=ledger_kind, amount=-price, balance_after=balance,
                         idempotency_key=ledger_key, operation_id=operation_id)
    return "charged", version, free_left, balance


class Charger:
    """The cached charges of one engine's process: a connection on the event loop's thread that
    never waits for the write lock, and a thread with a connection that does. Closed with the
    engine (AsyncEngine.dispose)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._here: sqlite3.Connection | None = None  # the event loop's thread's (sqlite3 checks)
        self.charged_here = self.charged_in_thread = 0
        self._db: sqlite3.Connection | None = None  # opened and used in the thread only
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medialab-sqlite-charge")

    async def charge(self, **arguments: Any) -> tuple[str, int, int, int]:
        if self._begin_here():
            self.charged_here += 1
            return charge_begun(self._here, **arguments)  # type: ignore[arg-type]
        self.charged_in_thread += 1
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._charge, arguments)

    def _begin_here(self) -> bool:
        """True with the write lock taken on the loop's connection; False, at once, when another
        connection holds it (or this is not the thread that connection belongs to)."""
        try:
            if self._here is None:
                here = sqlite3.connect(self._path, timeout=0)
                configure_sqlite_connection(here)
                here.execute("PRAGMA busy_timeout=0")
                # Kept only once configured: a connection left with busy_timeout set would let
                # BEGIN IMMEDIATE wait for the lock on the event loop's thread.
                self._here = here
            self._here.execute("BEGIN IMMEDIATE")
        except (sqlite3.OperationalError, sqlite3.ProgrammingError):
            return False
        return True

    def _charge(self, arguments: dict[str, Any]) -> tuple[str, int, int, int]:
        if self._db is None:
            self._db = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            configure_sqlite_connection(self._db)
        return begin_and_charge(self._db, **arguments)

    def close(self) -> None:
        """Waits for the charges already handed over, then closes the connections."""
        self._thread.submit(self._close_db)
        self._thread.shutdown(wait=True)
        if self._here is not None:
            try:
                self._here.close()
            except sqlite3.ProgrammingError:
                pass  # closed from another thread than its own: its finalizer closes it
            self._here = None

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


_chargers: weakref.WeakKeyDictionary[Engine, Charger] = weakref.WeakKeyDictionary()


def charger(engine: AsyncEngine) -> Charger:
    """The engine's charger, made on first use."""
    sync_engine = engine.sync_engine
    made = _chargers.get(sync_engine)
    if made is None:
        if not is_sqlite_file(str(engine.url)):
            raise ValueError("billing needs a SQLite database in a file (several connections share it)")
        made = _chargers[sync_engine] = Charger(str(engine.url.database))
        event.listen(sync_engine, "engine_disposed", lambda _: _chargers.pop(sync_engine).close(), once=True)
    return made


async def charge(engine: AsyncEngine, **arguments: Any) -> tuple[str, int, int, int]:
    return await charger(engine).charge(**arguments)
