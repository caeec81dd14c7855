"""The SQL transactions of billing, each run inside the caller's `session.begin()`.

Each change first bumps `users.version`: that UPDATE takes the user's row lock, so a user's
changes commit one at a time in version order, and the version tells the Redis cache which
commits a snapshot holds. The guarded UPDATEs stay the last word on money even when Redis
admitted the operation.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from medialab.billing import sql, sqlite_charge
from medialab.billing.results import (
    Charged,
    ChargeResult,
    CreditResult,
    InsufficientFunds,
    RefundResult,
    UnknownOperation,
    UnknownUser,
)
from medialab.db.models import Balance, KeptResult, Operation, User
from medialab.domain.ledger import LedgerKind, charge_key, refund_key
from medialab.domain.operations import JobState, OperationStatus, OperationType

IN_FLIGHT_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)
HOLDING_STATUSES = (OperationStatus.FREE.value, OperationStatus.CHARGED.value)


class DuplicateKey(Exception):
    """The idempotency key is in the ledger already; raised to roll the transaction back."""


class OperationExists(Exception):
    """The operation id was charged before; raised to roll the transaction back."""


async def bump_version(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(
        update(User).where(User.id == user_id).values(version=User.version + 1).returning(User.version)
    )
    version = result.scalar_one_or_none()
    if version is None:
        raise UnknownUser(f"no user with id {user_id}")
    return version


async def charge(
    session: AsyncSession, user_id: int, kind: OperationType, operation_id: str, price: int,
    task_id: str | None,
) -> tuple[ChargeResult, int]:
    version = await bump_version(session, user_id)
    existing = await session.get(Operation, operation_id)
    if existing is not None:
        return await replay(session, existing), version
    if not kind.billable:
        return await _admit_unbilled(session, user_id, kind, operation_id, task_id), version
    free_left = await sql.take_free_operation(session, user_id)
    if free_left is not None:
        session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=0,
                              status=OperationStatus.FREE.value, task_id=task_id))
        await session.flush()
        balance = await sql.current_balance(session, user_id)
        return Charged(operation_id, user_id, kind.value, True, 0, balance, free_left), version
    balance = await sql.move_balance(session, user_id, -price, floor=0)
    if balance is None:
        return InsufficientFunds(user_id, await sql.current_balance(session, user_id), price), version
    session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=price,
                          status=OperationStatus.CHARGED.value, task_id=task_id))
    await session.flush()
    await sql.append_entry(session, user_id=user_id, kind=LedgerKind.CHARGE, amount=-price,
                           balance_after=balance, idempotency_key=charge_key(operation_id),
                           operation_id=operation_id)
    return Charged(operation_id, user_id, kind.value, False, price, balance, 0), version


async def _admit_unbilled(
    session: AsyncSession, user_id: int, kind: OperationType, operation_id: str, task_id: str | None,
) -> Charged:
    """An unbilled type (add_text): an operation at price 0 that moves no money and no free
    operation, so its job holds an in-flight slot, settled or ended like any other."""
    session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=0,
                          status=OperationStatus.CHARGED.value, task_id=task_id))
    await session.flush()
    user = await session.get(User, user_id)
    assert user is not None
    balance = await sql.current_balance(session, user_id)
    return Charged(operation_id, user_id, kind.value, False, 0, balance, user.free_operations_left)


async def charge_as_cached(
    engine: AsyncEngine, user_id: int, kind: OperationType, operation_id: str, price: int,
    task_id: str | None, paid_with_free: bool,
) -> tuple[ChargeResult, int] | None:
    """The charge the Redis cache admitted, atomic on its own and in one round trip: on
    PostgreSQL a function call (migration 0005), on SQLite one call into the database's thread
    (billing/sqlite_charge.py). None when SQL disagrees with the cache about free operations
    and changed nothing (the caller then runs `charge`); OperationExists when the operation id
    was charged before (and nothing changed)."""
    status = OperationStatus.FREE if paid_with_free else OperationStatus.CHARGED
    arguments = {"user_id": user_id, "operation_id": operation_id, "kind": kind.value, "price": price,
                 "task_id": task_id, "paid_with_free": paid_with_free, "status": status.value,
                 "ledger_kind": LedgerKind.CHARGE.value, "ledger_key": charge_key(operation_id)}
    try:
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                # One statement: no BEGIN and COMMIT round trips around it.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                outcome, version, free_left, balance = await sql.charge_as_cached_call(conn, **arguments)
        else:
            outcome, version, free_left, balance = await sqlite_charge.charge(engine, **arguments)
    except (IntegrityError, sqlite3.IntegrityError):
        raise OperationExists(operation_id) from None
    if outcome == "disagrees":
        return None
    if outcome == "insufficient":
        return InsufficientFunds(user_id, balance, price), version
    taken = 0 if paid_with_free else price
    return Charged(operation_id, user_id, kind.value, paid_with_free, taken, balance, free_left), version


async def replay(session: AsyncSession, op: Operation) -> Charged:
    user = await session.get(User, op.user_id)
    assert user is not None
    balance = await sql.current_balance(session, op.user_id)
    in_flight = op.status in HOLDING_STATUSES and op.job_state in IN_FLIGHT_STATES
    return Charged(op.id, op.user_id, op.type, op.price == 0, op.price, balance,
                   user.free_operations_left, replayed=True, in_flight=in_flight)


async def find_operation(session: AsyncSession, operation_id: str, lock: bool = False) -> Operation:
    query = select(Operation).where(Operation.id == operation_id)
    op = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if op is None:
        raise UnknownOperation(f"no operation {operation_id!r}")
    return op


async def refund(
    session: AsyncSession, operation_id: str, reason: str | None, actor: str | None
) -> tuple[RefundResult, int | None]:
    """Gives back what the operation took (an unbilled one only ends); the version is None when
    nothing changed."""
    op = await find_operation(session, operation_id)
    version = await bump_version(session, op.user_id)
    await session.refresh(op, with_for_update=True)  # re-read under the user's row lock
    if op.status not in HOLDING_STATUSES:
        balance = await sql.current_balance(session, op.user_id)
        return RefundResult(op.id, op.user_id, False, balance=balance,
                            note=f"nothing to refund: the operation is {op.status}"), None
    was_free = op.status == OperationStatus.FREE
    unbilled = not OperationType(op.type).billable
    # Nothing to give back for an unbilled operation: it ends as failed, its slot freed.
    op.status = (OperationStatus.FAILED if unbilled else OperationStatus.REFUNDED).value
    op.job_state = JobState.FAILED.value
    op.error = reason or op.error
    op.finished_at = op.finished_at or func.now()
    await session.flush()
    if unbilled:
        balance = await sql.current_balance(session, op.user_id)
        return RefundResult(op.id, op.user_id, False, balance=balance,
                            note=f"nothing to give back: {op.type} is free"), version
    if was_free:
        await sql.give_back_free_operation(session, op.user_id)
        balance = await sql.current_balance(session, op.user_id)
        return RefundResult(op.id, op.user_id, True, free_operation=True, balance=balance), version
    balance = await sql.move_balance(session, op.user_id, op.price, floor=None)
    assert balance is not None
    await sql.append_entry(session, user_id=op.user_id, kind=LedgerKind.REFUND, amount=op.price,
                           balance_after=balance, idempotency_key=refund_key(op.id),
                           operation_id=op.id, actor=actor, reason=reason)
    return RefundResult(op.id, op.user_id, True, amount=op.price, balance=balance), version


async def credit(
    session: AsyncSession, user_id: int, amount: int, idempotency_key: str, kind: LedgerKind,
    payment_id: int | None, actor: str | None, reason: str | None,
) -> tuple[CreditResult, int]:
    version = await bump_version(session, user_id)
    if await sql.key_in_ledger(session, idempotency_key):
        raise DuplicateKey(idempotency_key)
    balance = await sql.move_balance(session, user_id, amount, floor=None)
    assert balance is not None
    appended = await sql.append_entry(
        session, user_id=user_id, kind=kind, amount=amount, balance_after=balance,
        idempotency_key=idempotency_key, payment_id=payment_id, actor=actor, reason=reason,
    )
    if not appended:
        raise DuplicateKey(idempotency_key)  # a concurrent caller committed it first
    return CreditResult(user_id, True, amount, balance, idempotency_key), version


async def settle(
    session: AsyncSession, operation_id: str, keep: KeptResult | None = None
) -> tuple[Operation, int] | None:
    """Marks the job delivered; None when it was not in flight (settled or compensated).

    `keep`: the result its user could not be sent, stored in the same commit, so that an
    operation is never settled without the result it was paid for.

    The user's version moves too: a cache rebuilt from a snapshot taken before this commit
    would otherwise bring the job back as in flight. Locks are taken in the one order every
    money path uses, the user's row before the operation's (a refund of the same operation at
    the same moment would otherwise deadlock with it on PostgreSQL).
    """
    user_id = (await session.execute(
        select(Operation.user_id).where(Operation.id == operation_id))).scalar_one_or_none()
    if user_id is None:
        await find_operation(session, operation_id)  # raises for an unknown id
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    result = await session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.job_state.in_(IN_FLIGHT_STATES))
        .values(job_state=JobState.DELIVERED.value, finished_at=func.now())
        .returning(Operation.user_id)
    )
    user_id = result.scalar_one_or_none()
    if user_id is None:
        await find_operation(session, operation_id)  # raises for an unknown id
        return None
    version = await bump_version(session, user_id)
    if keep is not None:
        session.add(keep)
    return await find_operation(session, operation_id), version


async def snapshot(session: AsyncSession, user_id: int) -> tuple[int, int, int, list[str]]:
    """(balance, free operations left, version, operations in flight) as SQL has them.

    Balance, free operations and version come from ONE statement: under READ COMMITTED two
    statements could straddle a commit, and a cache loaded as "version v" while holding commit
    v+1 would count that commit twice when it is confirmed.
    """
    row = (await session.execute(
        select(User.free_operations_left, User.version, Balance.balance)
        .join(Balance, Balance.user_id == User.id)
        .where(User.id == user_id)
    )).first()
    if row is None:
        raise UnknownUser(f"no user with id {user_id}")
    # Jobs in flight may be read a moment later: the in-flight set is a set, so an operation
    # committed in between is added once whichever of load or confirm sees it first.
    return row.balance, row.free_operations_left, row.version, await in_flight_ids(session, user_id)


async def in_flight_ids(session: AsyncSession, user_id: int) -> list[str]:
    """The operations of the user whose jobs are queued or running (each holds a slot)."""
    return list((await session.execute(
        select(Operation.id).where(
            Operation.user_id == user_id,
            Operation.status.in_(HOLDING_STATUSES),
            Operation.job_state.in_(IN_FLIGHT_STATES),
        )
    )).scalars().all())
