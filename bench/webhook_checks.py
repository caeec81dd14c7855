"""What must hold after the timed paid prompts, or the webhook's numbers mean nothing: one
charge and one queued job per prompt, every user's balance down by exactly its prompts, and
the books balanced (check_ledger() == [])."""

from __future__ import annotations

from arq.constants import default_queue_name
from redis.asyncio import Redis
from sqlalchemy import func, select

from medialab.billing.audit import check_ledger
from medialab.db.models import Balance, LedgerEntry, Operation
from medialab.domain.ledger import LedgerKind

from backends import Sessions
from checks import RunNotCorrect


async def verify_paid_prompts(sessions: Sessions, redis: Redis, prompts: int, users: list[int]) -> str:
    async with sessions() as session:
        charges = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == LedgerKind.CHARGE.value))
        operations = await session.scalar(select(func.count()).select_from(Operation))
        left = (await session.execute(select(Balance.balance).where(Balance.user_id.in_(users)))).scalars().all()
    queued = await redis.zcard(default_queue_name)
    drifts = await check_ledger(sessions)
    problems = []
    if not charges == operations == queued == prompts:
        problems.append(f"{prompts} prompts sent, but {charges} charges, {operations} operations, {queued} jobs queued")
    if any(balance != 0 for balance in left) or len(left) != len(users):
        problems.append(f"balances left (each seeded with exactly its prompts' price): {sorted(set(left))}")
    if drifts:
        problems.append(f"check_ledger found {len(drifts)} drifts, first {drifts[0]}")
    if problems:
        raise RunNotCorrect("; ".join(problems))
    return f"{prompts:,} prompts = {charges:,} charges = {queued:,} jobs queued, balances 0, check_ledger() == []"
