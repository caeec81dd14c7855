"""The end of the demo: the ledger as a table, and the two checks that decide its exit code."""

from __future__ import annotations

import asyncio

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.billing.transactions import HOLDING_STATUSES, IN_FLIGHT_STATES
from medialab.db.models import LedgerEntry, Operation, User
from medialab.domain.money import format_rub
from medialab.domain.operations import JobState

Sessions = async_sessionmaker[AsyncSession]


async def ledger_lines(sessions: Sessions) -> list[str]:
    query = (select(User.telegram_id, LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.balance_after,
                    LedgerEntry.idempotency_key)
             .join(User, User.id == LedgerEntry.user_id).order_by(LedgerEntry.id))
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    lines = [f"{'user':>10}  {'entry':<8} {'amount':>10} {'balance':>10}  key"]
    lines += [f"{telegram_id:>10}  {kind:<8} {format_rub(amount):>10} {format_rub(after):>10}  {key}"
              for telegram_id, kind, amount, after, key in rows]
    return lines


async def unsettled_operations(sessions: Sessions) -> list[str]:
    """Operations still waiting for their job, or failed and not yet given back."""
    query = select(Operation.id).where(or_(
        Operation.job_state.in_(IN_FLIGHT_STATES),
        (Operation.job_state == JobState.FAILED.value) & Operation.status.in_(HOLDING_STATUSES),
    ))
    async with sessions() as session:
        return list((await session.execute(query)).scalars())


async def wait_until_settled(sessions: Sessions, timeout: float = 60.0) -> None:
    """Lets jobs still running (a person may quit right after a prompt) finish first."""
    try:
        async with asyncio.timeout(timeout):
            while await unsettled_operations(sessions):
                await asyncio.sleep(0.1)
    except TimeoutError:
        pass  # books_problem names what is left


async def books_problem(sessions: Sessions) -> str | None:
    """One line saying what is wrong with the books, or None when they are right."""
    drifts = await check_ledger(sessions)
    if drifts:
        first = drifts[0]
        return (f"{len(drifts)} drift(s) between balances and the ledger (user {first.telegram_id} {first.what}: "
                f"ledger says {first.expected}, found {first.actual})")
    unsettled = await unsettled_operations(sessions)
    if unsettled:
        return f"{len(unsettled)} operation(s) left unsettled: {', '.join(unsettled[:3])}"
    return None
