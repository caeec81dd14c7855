"""The SQL transactions of billing, each run inside the caller's `session.begin()`; the charge's
are charge_rule/'s.

Each change first bumps `users.version`: that UPDATE takes the user's row lock, so a user's
changes commit one at a time in version order, and the version tells the Redis cache which
commits a snapshot holds. The guarded UPDATEs stay the last word on money even when Redis
admitted the operation.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from medialab.billing import sql
from medialab.billing.results import CreditResult, RefundResult, UnknownOperation, UnknownUser
from medialab.db.models import Balance, KeptResult, Operation, User
from medialab.domain.idempotency_keys import refund_key
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import JobState, OperationStatus, OperationType

IN_FLIGHT_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)
HOLDING_STATUSES = (OperationStatus.FREE.value, OperationStatus.CHARGED.value)


class DuplicateKey(Exception):
    """The idempotency key is in the ledger already; raised to roll the transaction back."""


async def bump_version(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(
        update(User).where(User.id == user_id).values(version=User.version + 1).returning(User.version)
    )
    version = result.scalar_one_or_none()
    if version is None:
        raise UnknownUser(f"no user with id {user_id}")
    return version


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
