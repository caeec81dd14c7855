"""What must hold after the timed paid prompts, or the webhook's numbers mean nothing: one
charge and one queued job per prompt, every user's balance down by exactly its prompts, and
the books balanced (check_ledger() == []). A prompt Telegram delivered more than once (after a
non-2xx answer) is the same update, so it counts once."""

from __future__ import annotations

from collections.abc import Mapping

from arq.constants import default_queue_name
from redis.asyncio import Redis
from sqlalchemy import func, select

from medialab.billing.audit import check_ledger
from medialab.db.models import Balance, LedgerEntry, Operation
from medialab.domain.ledger import LedgerKind

from backends import Sessions
from checks import RunNotCorrect


async def verify_paid_prompts(
    sessions: Sessions, redis: Redis, prompts: int, users: list[int], left: Mapping[int, int] | None = None
) -> str:
    """`left`: each user's balance expected at the end (seeded - its prompts' price); by
    default 0, for users seeded with exactly the price of their prompts."""
    expected = dict(left) if left is not None else dict.fromkeys(users, 0)
    async with sessions() as session:
        charges = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == LedgerKind.CHARGE.value))
        operations = await session.scalar(select(func.count()).select_from(Operation))
        rows = await session.execute(select(Balance.user_id, Balance.balance).where(Balance.user_id.in_(users)))
        balances = {user: balance for user, balance in rows.tuples()}
    queued = await redis.zcard(default_queue_name)
    drifts = await check_ledger(sessions)
    problems = []
    if not charges == operations == queued == prompts:
        problems.append(f"{prompts} prompts sent, but {charges} charges, {operations} operations, {queued} jobs queued")
    wrong = sorted(user for user in users if balances.get(user) != expected[user])
    if wrong:
        problems.append(f"{len(wrong)} balances differ from seeded - charged, first user {wrong[0]}: "
                        f"{balances.get(wrong[0])} instead of {expected[wrong[0]]}")
    if drifts:
        problems.append(f"check_ledger found {len(drifts)} drifts, first {drifts[0]}")
    if problems:
        raise RunNotCorrect("; ".join(problems))
    balances_said = "balances 0" if left is None else "balances = seeded - charged"
    return f"{prompts:,} prompts = {charges:,} charges = {queued:,} jobs queued, {balances_said}, check_ledger() == []"
