"""A user's statement: their balance movements (the ledger), newest first, a page at a time.

The bot's /history and `medialab admin user` read the same pages. A page ends at an entry id
(`before`), not at an offset, so entries appended meanwhile never shift the next page; the
index on (user_id, id) serves every page. Each user's entries are appended under their row
lock (transactions.py), so their ids follow the order of the balance they record.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medialab.db.models import LedgerEntry, Operation, as_utc

PAGE = 10


class Movement(msgspec.Struct, frozen=True):
    id: int
    kind: str
    amount: int
    balance_after: int
    created_at: datetime  # aware, UTC
    # What a charge or a refund was for.
    operation_type: str | None
    idempotency_key: str
    actor: str | None
    reason: str | None


class Statement(msgspec.Struct, frozen=True):
    movements: list[Movement]
    # Older movements exist than the last of these (the next page is before its id).
    older: bool


async def read_statement(
    session: AsyncSession, user_id: int, before: int | None = None, limit: int = PAGE
) -> Statement:
    query = (
        select(LedgerEntry, Operation.type)
        .outerjoin(Operation, Operation.id == LedgerEntry.operation_id)
        .where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit + 1)  # one more says whether there are older ones
    )
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    rows = (await session.execute(query)).all()
    movements = [
        Movement(e.id, e.kind, e.amount, e.balance_after, as_utc(e.created_at), operation_type,
                 e.idempotency_key, e.actor, e.reason)
        for e, operation_type in rows[:limit]
    ]
    return Statement(movements, older=len(rows) > limit)
