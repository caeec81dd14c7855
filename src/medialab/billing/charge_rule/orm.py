"""The charge rule as an ORM transaction, run inside the caller's `session.begin()`: the whole
rule, free-or-paid decided by SQL itself (see __init__.py for the rule)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from medialab.billing import sql
from medialab.billing.results import Charged, ChargeResult, InsufficientFunds
from medialab.billing.transactions import HOLDING_STATUSES, IN_FLIGHT_STATES, bump_version
from medialab.db.models import Operation, User
from medialab.domain.idempotency_keys import charge_key
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationStatus, OperationType


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


async def replay(session: AsyncSession, op: Operation) -> Charged:
    """An operation charged before: its first charge, answered again."""
    user = await session.get(User, op.user_id)
    assert user is not None
    balance = await sql.current_balance(session, op.user_id)
    in_flight = op.status in HOLDING_STATUSES and op.job_state in IN_FLIGHT_STATES
    return Charged(op.id, op.user_id, op.type, op.price == 0, op.price, balance,
                   user.free_operations_left, replayed=True, in_flight=in_flight)
