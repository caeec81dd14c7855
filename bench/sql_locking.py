"""The SQL-only charge of the original design, kept here as the benchmark's baseline.

One transaction locks the user's row and balance row with SELECT … FOR UPDATE, decides in
Python (a free operation, else the price from the balance, else a refusal), then writes the
rows back and appends the operation and its ledger entry; the locks are held across every
round trip of that conversation. On SQLite FOR UPDATE is not rendered; the engine's
BEGIN IMMEDIATE serialises instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import Charged, ChargeResult, InsufficientFunds
from medialab.db.models import Balance, LedgerEntry, Operation, User
from medialab.domain.idempotency_keys import charge_key
from medialab.domain.ledger import LedgerKind
from medialab.domain.operations import OperationStatus, OperationType


async def charge_with_row_locks(
    sessions: async_sessionmaker[AsyncSession], user_id: int, price: int,
    kind: OperationType = OperationType.GENERATE,
) -> ChargeResult:
    operation_id = uuid.uuid4().hex
    async with sessions.begin() as session:
        user = await _locked(session, select(User).where(User.id == user_id))
        account = await _locked(session, select(Balance).where(Balance.user_id == user_id))
        if user.free_operations_left > 0:
            user.free_operations_left -= 1
            paid = 0
        elif account.balance >= price:
            account.balance -= price
            paid = price
        else:
            return InsufficientFunds(user_id, account.balance, price)
        # The real path bumps the version on every change; doing the same keeps the writes equal.
        user.version += 1
        status = OperationStatus.CHARGED if paid else OperationStatus.FREE
        session.add(Operation(id=operation_id, user_id=user_id, type=kind.value, price=paid,
                              status=status.value))
        if paid:
            # The entry references the operation: flush it first, the models have no relationship
            # that would order the two INSERTs.
            await session.flush()
            session.add(LedgerEntry(user_id=user_id, kind=LedgerKind.CHARGE.value, amount=-paid,
                                    balance_after=account.balance,
                                    idempotency_key=charge_key(operation_id),
                                    operation_id=operation_id))
        return Charged(operation_id, user_id, kind.value, not paid, paid, account.balance,
                       user.free_operations_left)


async def _locked(session: AsyncSession, query: Select[Any]) -> Any:
    """The one row the query selects, locked until the transaction ends."""
    return (await session.execute(query.with_for_update())).scalar_one()
