"""SQL building blocks of the billing service; each runs inside the caller's transaction, on an
AsyncSession or a bare AsyncConnection (the charge, on every paid prompt, skips the ORM).

The statements are built once, with bind parameters (at import; those of one backend's own
SQL when that backend first asks for them): SQLAlchemy then compiles each once and finds it in
its cache by a memoized key. Building them per call cost more than the round trip they make
(bench/webhook_profile.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.domain.ledger import LedgerKind, sign_ok

balances = Balance.__table__
users = User.__table__
ledger = LedgerEntry.__table__
operations = Operation.__table__

Executor = AsyncSession | AsyncConnection
# Bind parameter names of their own: a name equal to a column's is taken by UPDATE's SET.
_USER = bindparam("p_user_id")
_DELTA = bindparam("p_delta")


def dialect_of(executor: Executor) -> str:
    bind = executor.bind if isinstance(executor, AsyncSession) else executor
    return bind.dialect.name


@cache
def _dialect(name: str) -> ModuleType:
    # Imported when its backend is first used: a process on SQLite never loads PostgreSQL's,
    # a third of the time an operator's command spends importing beyond SQLAlchemy itself
    # (bench/cli_startup.py).
    return importlib.import_module(f"sqlalchemy.dialects.{name}")


def insert_ignoring_conflicts(executor: Executor, table: Any, conflict_on: str) -> Any:
    """INSERT … ON CONFLICT (column) DO NOTHING for the executor's backend."""
    dialect = _dialect("postgresql" if dialect_of(executor) == "postgresql" else "sqlite")
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[conflict_on])


class _PerDialect(dict[str, Any]):
    """A statement for each backend ("postgresql", "sqlite"), built once, when it is first asked for."""

    def __init__(self, build: Callable[[ModuleType], Any]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, name: str) -> Any:
        self[name] = statement = self._build(_dialect(name))
        return statement


_TAKE_FREE = (
    update(users).where(users.c.id == _USER, users.c.free_operations_left > 0)
    .values(free_operations_left=users.c.free_operations_left - 1, updated_at=func.now())
    .returning(users.c.free_operations_left)
)
_GIVE_BACK_FREE = (
    update(users).where(users.c.id == _USER)
    .values(free_operations_left=users.c.free_operations_left + 1, updated_at=func.now())
    .returning(users.c.free_operations_left)
)
BUMP_TAKING_FREE = (
    update(users).where(users.c.id == _USER, users.c.free_operations_left > 0)
    .values(version=users.c.version + 1, free_operations_left=users.c.free_operations_left - 1,
            updated_at=func.now())
    .returning(users.c.version, users.c.free_operations_left)
)
BUMP_WITHOUT_FREE = (
    update(users).where(users.c.id == _USER, users.c.free_operations_left == 0)
    .values(version=users.c.version + 1)
    .returning(users.c.version, users.c.free_operations_left)
)
_MOVE_BALANCE = (
    update(balances).where(balances.c.user_id == _USER)
    .values(balance=balances.c.balance + _DELTA, updated_at=func.now()).returning(balances.c.balance)
)
MOVE_BALANCE_ABOVE = _MOVE_BALANCE.where(balances.c.balance + _DELTA >= bindparam("p_floor"))
CURRENT_BALANCE = select(balances.c.balance).where(balances.c.user_id == _USER)
_KEY_IN_LEDGER = select(ledger.c.id).where(ledger.c.idempotency_key == bindparam("p_key"))
INSERT_OPERATION = _PerDialect(lambda d: d.insert(operations).on_conflict_do_nothing(index_elements=["id"])
                                .returning(operations.c.id))
APPEND_ENTRY = _PerDialect(lambda d: d.insert(ledger).on_conflict_do_nothing(index_elements=["idempotency_key"])
                         .returning(ledger.c.id))


async def take_free_operation(executor: Executor, user_id: int) -> int | None:
    """Free operations left after taking one, or None when there was none to take."""
    return (await executor.execute(_TAKE_FREE, {"p_user_id": user_id})).scalar_one_or_none()


async def give_back_free_operation(executor: Executor, user_id: int) -> int:
    return (await executor.execute(_GIVE_BACK_FREE, {"p_user_id": user_id})).scalar_one()


async def move_balance(executor: Executor, user_id: int, delta: int, floor: int | None) -> int | None:
    """Adds delta to the balance; with a floor, only when the result stays at or above it.

    The guard lives in the UPDATE's WHERE, so PostgreSQL re-checks it after waiting for a
    concurrent writer's row lock and SQLite runs it under its database write lock.
    """
    params = {"p_user_id": user_id, "p_delta": delta}
    if floor is None:
        return (await executor.execute(_MOVE_BALANCE, params)).scalar_one_or_none()
    return (await executor.execute(MOVE_BALANCE_ABOVE, params | {"p_floor": floor})).scalar_one_or_none()


async def current_balance(executor: Executor, user_id: int) -> int:
    return (await executor.execute(CURRENT_BALANCE, {"p_user_id": user_id})).scalar_one()


async def append_entry(
    executor: Executor,
    *,
    user_id: int,
    kind: LedgerKind,
    amount: int,
    balance_after: int,
    idempotency_key: str,
    operation_id: str | None = None,
    payment_id: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> bool:
    """Appends one ledger entry; False when its idempotency key is already in the ledger."""
    if not sign_ok(kind, amount):
        raise ValueError(f"a {kind.value} entry cannot be {amount} kopecks")
    row = {"user_id": user_id, "kind": kind.value, "amount": amount, "balance_after": balance_after,
           "idempotency_key": idempotency_key, "operation_id": operation_id, "payment_id": payment_id,
           "actor": actor, "reason": reason}
    return (await executor.execute(APPEND_ENTRY[dialect_of(executor)], row)).first() is not None


async def key_in_ledger(executor: Executor, idempotency_key: str) -> bool:
    return (await executor.execute(_KEY_IN_LEDGER, {"p_key": idempotency_key})).first() is not None

