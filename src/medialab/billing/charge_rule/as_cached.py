"""The charge the Redis cache admitted, atomic on its own and in one round trip: on PostgreSQL a
function call (`medialab_charge_as_cached.0005.sql`), on SQLite one synchronous sqlite3 call
(sqlite.py). Both answer (outcome, version, free left, balance) to the same arguments."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from medialab.billing.charge_rule import sqlite
from medialab.billing.results import Charged, ChargeResult, InsufficientFunds
from medialab.domain.idempotency_keys import charge_key
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationStatus, OperationType

# The service's logger, as cache_sync.py's: what a charge logs reads as the service's.
log = logging.getLogger("medialab.billing.service")


class OperationExists(Exception):
    """The operation id was charged before; raised to roll the transaction back."""


async def charge_as_cached(
    engine: AsyncEngine, user_id: int, kind: OperationType, operation_id: str, price: int,
    task_id: str | None, paid_with_free: bool,
) -> tuple[ChargeResult, int] | None:
    """The charge as the cache decided it (a free operation, or `price` from the balance). None
    when SQL disagrees with the cache about free operations and changed nothing (the caller then
    runs the ORM's `charge`); OperationExists when the operation id was charged before (and
    nothing changed)."""
    try:
        return await _charge_once(engine, user_id, kind, operation_id, price, task_id, paid_with_free)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # A pooled connection the server had dropped (restart, idle cut; there is no
        # pre-ping): the pool has discarded it and its peers, so once more on a fresh one.
        # Had the lost call committed, this one answers OperationExists: charged once.
        log.warning("database connection lost while charging %s: trying again", operation_id)
        return await _charge_once(engine, user_id, kind, operation_id, price, task_id, paid_with_free)


async def _charge_once(
    engine: AsyncEngine, user_id: int, kind: OperationType, operation_id: str, price: int,
    task_id: str | None, paid_with_free: bool,
) -> tuple[ChargeResult, int] | None:
    status = OperationStatus.FREE if paid_with_free else OperationStatus.CHARGED
    arguments = {"user_id": user_id, "operation_id": operation_id, "kind": kind.value, "price": price,
                 "task_id": task_id, "paid_with_free": paid_with_free, "status": status.value,
                 "ledger_kind": LedgerKind.CHARGE.value, "ledger_key": charge_key(operation_id)}
    try:
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                # One statement: no BEGIN and COMMIT round trips around it.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                outcome, version, free_left, balance = await _call_function(conn, **arguments)
        else:
            outcome, version, free_left, balance = await sqlite.charge(engine, **arguments)
    except (IntegrityError, sqlite3.IntegrityError):
        raise OperationExists(operation_id) from None
    if outcome == "disagrees":
        return None
    if outcome == "insufficient":
        return InsufficientFunds(user_id, balance, price), version
    taken = 0 if paid_with_free else price
    return Charged(operation_id, user_id, kind.value, paid_with_free, taken, balance, free_left), version


_FUNCTION_CALL = text(
    "SELECT outcome, version, free_left, balance FROM medialab_charge_as_cached("
    ":p_user_id, :p_operation_id, :p_type, :p_price, :p_task_id, :p_paid_with_free, :p_status, "
    ":p_ledger_kind, :p_ledger_key)"
)


async def _call_function(
    conn: AsyncConnection, *, user_id: int, operation_id: str, kind: str, price: int, task_id: str | None,
    paid_with_free: bool, status: str, ledger_kind: str, ledger_key: str,
) -> tuple[str, int, int, int]:
    params = {"p_user_id": user_id, "p_operation_id": operation_id, "p_type": kind, "p_price": price,
              "p_task_id": task_id, "p_paid_with_free": paid_with_free, "p_status": status,
              "p_ledger_kind": ledger_kind, "p_ledger_key": ledger_key}
    row = (await conn.execute(_FUNCTION_CALL, params)).one()
    return row[0], row[1], row[2], row[3]
