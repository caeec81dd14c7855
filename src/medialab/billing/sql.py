"""SQL building blocks of the billing service; each runs inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.domain.ledger import LedgerKind, sign_ok

balances = Balance.__table__
users = User.__table__
ledger = LedgerEntry.__table__
operations = Operation.__table__


def insert_ignoring_conflicts(session: AsyncSession, table: Table, conflict_on: str) -> Any:
    """INSERT … ON CONFLICT (column) DO NOTHING for the session's backend."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[conflict_on])


async def take_free_operation(session: AsyncSession, user_id: int) -> int | None:
    """Free operations left after taking one, or None when there was none to take."""
    result = await session.execute(
        update(users)
        .where(users.c.id == user_id, users.c.free_operations_left > 0)
        .values(free_operations_left=users.c.free_operations_left - 1, updated_at=func.now())
        .returning(users.c.free_operations_left)
    )
    return result.scalar_one_or_none()


async def bump_version_if(session: AsyncSession, user_id: int, take_free: bool) -> tuple[int, int] | None:
    """One statement for the common charge: bumps the version and, as the cache decided,
    takes a free operation (when there is one) or asserts there is none left. None when SQL
    disagrees with that decision. Answers (version, free operations left)."""
    statement = update(users).where(users.c.id == user_id)
    values: dict[str, Any] = {"version": users.c.version + 1}
    if take_free:
        statement = statement.where(users.c.free_operations_left > 0)
        values |= {"free_operations_left": users.c.free_operations_left - 1, "updated_at": func.now()}
    else:
        statement = statement.where(users.c.free_operations_left == 0)
    row = (await session.execute(
        statement.values(**values).returning(users.c.version, users.c.free_operations_left)
    )).first()
    return None if row is None else (row[0], row[1])


async def insert_operation(
    session: AsyncSession, *, operation_id: str, user_id: int, kind: str, price: int, status: str,
    task_id: str | None,
) -> bool:
    """False when an operation with this id exists (a replay that the cache did not catch)."""
    statement = insert_ignoring_conflicts(session, operations, "id").values(
        id=operation_id, user_id=user_id, type=kind, price=price, status=status, task_id=task_id)
    return (await session.execute(statement.returning(operations.c.id))).first() is not None


async def give_back_free_operation(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(free_operations_left=users.c.free_operations_left + 1, updated_at=func.now())
        .returning(users.c.free_operations_left)
    )
    return result.scalar_one()


async def move_balance(session: AsyncSession, user_id: int, delta: int, floor: int | None) -> int | None:
    """Adds delta to the balance; with a floor, only when the result stays at or above it.

    The guard lives in the UPDATE's WHERE, so PostgreSQL re-checks it after waiting for a
    concurrent writer's row lock and SQLite runs it under its database write lock.
    """
    statement = update(balances).where(balances.c.user_id == user_id)
    if floor is not None:
        statement = statement.where(balances.c.balance + delta >= floor)
    result = await session.execute(
        statement.values(balance=balances.c.balance + delta, updated_at=func.now()).returning(
            balances.c.balance
        )
    )
    return result.scalar_one_or_none()


async def current_balance(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(select(balances.c.balance).where(balances.c.user_id == user_id))
    return result.scalar_one()


async def append_entry(
    session: AsyncSession,
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
    statement = insert_ignoring_conflicts(session, ledger, "idempotency_key").values(
        user_id=user_id,
        kind=kind.value,
        amount=amount,
        balance_after=balance_after,
        idempotency_key=idempotency_key,
        operation_id=operation_id,
        payment_id=payment_id,
        actor=actor,
        reason=reason,
    )
    result = await session.execute(statement.returning(ledger.c.id))
    return result.scalar_one_or_none() is not None


async def key_in_ledger(session: AsyncSession, idempotency_key: str) -> bool:
    result = await session.execute(
        select(ledger.c.id).where(ledger.c.idempotency_key == idempotency_key)
    )
    return result.first() is not None
