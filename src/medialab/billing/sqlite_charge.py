"""SQLite: the charge the Redis cache admitted, as one call into the database's thread.

aiosqlite runs each statement in the connection's own thread and hands the answer back to the
event loop. A transaction of six (BEGIN IMMEDIATE, four statements, COMMIT) thus held SQLite's
one write lock across six waits for a busy event loop, and every other charge queued behind it:
116 paid prompts a second, whatever the pool (bench/webhook.py). Here the whole transaction is
one function run in that thread, holding the lock only while SQLite works. The statements are
billing/sql.py's, compiled once for SQLite; PostgreSQL runs the same four in one function call
(migration 0005).

aiosqlite has no public call for "run this in the connection's thread"; `_execute` (and `_conn`,
valid inside that thread) is what each of its public methods is built on.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from medialab.billing import sql

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


def charge_in_thread(
    db: sqlite3.Connection, *, user_id: int, operation_id: str, kind: str, price: int, task_id: str | None,
    paid_with_free: bool, status: str, ledger_kind: str, ledger_key: str,
) -> tuple[str, int, int, int]:
    """(outcome, version, free left, balance), as PostgreSQL's function answers; an operation id
    charged before raises sqlite3.IntegrityError after rolling everything back."""
    db.execute("BEGIN IMMEDIATE")
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


async def charge(engine: AsyncEngine, **arguments: Any) -> tuple[str, int, int, int]:
    """charge_in_thread on a pooled connection, in that connection's thread."""
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection  # an aiosqlite.Connection
        return await driver._execute(lambda: charge_in_thread(driver._conn, **arguments))  # noqa: SLF001
