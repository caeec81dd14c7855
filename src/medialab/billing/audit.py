"""Checks that prove the books: each stored balance equals the sum of its ledger entries, the
last entry's running balance equals the stored balance, and free operations left plus free
operations in use equal what the user was granted.

Each check of all the books (the worker's every CHECK_INTERVAL_MINUTES, `medialab reconcile`,
/reconcile) is recorded in ledger_checks: the dashboard shows the last one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.results import LedgerDrift
from medialab.db.models import Balance, LedgerCheck, LedgerEntry, Operation, User
from medialab.domain.operations import OperationStatus

CHECK_INTERVAL_MINUTES = 10
# Drifts written out in a check's record; the count says how many there were in all.
RECORDED_DRIFTS = 5


async def check_ledger(
    sessions: async_sessionmaker[AsyncSession], user_id: int | None = None
) -> list[LedgerDrift]:
    """Every broken invariant, for one user or all; an empty list proves the books balance."""
    async with sessions() as session:
        drifts: list[LedgerDrift] = []
        for what, query in _checks(user_id).items():
            for row in (await session.execute(query)).all():
                drifts.append(LedgerDrift(row.user_id, row.telegram_id, what, row.expected, row.actual))
        return drifts


async def check_and_record(sessions: async_sessionmaker[AsyncSession]) -> list[LedgerDrift]:
    """Checks all the books and records when, and what was found."""
    drifts = await check_ledger(sessions)
    async with sessions.begin() as session:
        session.add(LedgerCheck(checked_at=datetime.now(UTC), drifts=len(drifts),
                                detail="\n".join(describe(d) for d in drifts[:RECORDED_DRIFTS]) or None))
    return drifts


async def last_check(sessions: async_sessionmaker[AsyncSession]) -> LedgerCheck | None:
    async with sessions() as session:
        return await session.scalar(select(LedgerCheck).order_by(LedgerCheck.id.desc()).limit(1))


def describe(drift: LedgerDrift) -> str:
    return (f"ledger drift: user {drift.user_id} (telegram {drift.telegram_id}) {drift.what}: "
            f"expected {drift.expected}, found {drift.actual}")


def _checks(user_id: int | None) -> dict[str, Select]:
    ledger_sum = (
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.user_id)
        .subquery()
    )
    last_entry = (
        select(LedgerEntry.user_id, func.max(LedgerEntry.id).label("last_id"))
        .group_by(LedgerEntry.user_id)
        .subquery()
    )
    free_in_use = (
        select(Operation.user_id, func.count().label("used"))
        .where(Operation.status == OperationStatus.FREE.value)
        .group_by(Operation.user_id)
        .subquery()
    )
    base = select(User.id.label("user_id"), User.telegram_id).join(Balance, Balance.user_id == User.id)
    if user_id is not None:
        base = base.where(User.id == user_id)

    total = func.coalesce(ledger_sum.c.total, 0)
    balance_vs_sum = (
        base.add_columns(total.label("expected"), Balance.balance.label("actual"))
        .outerjoin(ledger_sum, ledger_sum.c.user_id == User.id)
        .where(Balance.balance != total)
    )
    balance_vs_last = (
        base.add_columns(LedgerEntry.balance_after.label("expected"), Balance.balance.label("actual"))
        .join(last_entry, last_entry.c.user_id == User.id)
        .join(LedgerEntry, and_(LedgerEntry.id == last_entry.c.last_id))
        .where(Balance.balance != LedgerEntry.balance_after)
    )
    used = func.coalesce(free_in_use.c.used, 0)
    free_counts = (
        base.add_columns(
            User.free_operations_granted.label("expected"),
            (User.free_operations_left + used).label("actual"),
        )
        .outerjoin(free_in_use, free_in_use.c.user_id == User.id)
        .where(User.free_operations_granted != User.free_operations_left + used)
    )
    return {
        "balance != sum of ledger entries": balance_vs_sum,
        "balance != last entry's balance_after": balance_vs_last,
        "free operations left + in use != granted": free_counts,
    }
