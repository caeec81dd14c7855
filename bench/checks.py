"""What must hold after a timed run, or its numbers mean nothing: every charge was paid, the
books balance, each user's balance moved by exactly its charges, and (with Redis) the cache
holds SQL's numbers with no step left pending."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from medialab.billing.audit import check_ledger
from medialab.db.redis_keys import user_keys
from medialab.billing.results import Charged
from medialab.db.models import Balance


class RunNotCorrect(AssertionError):
    pass


async def verify_run(
    sessions: async_sessionmaker[AsyncSession], expected_balances: dict[int, int],
    results: Sequence[Any], redis: Redis | None = None,
) -> str:
    """Raises RunNotCorrect naming each broken invariant; else says what was checked."""
    problems = _unpaid(results)
    drifts = await check_ledger(sessions)
    if drifts:
        problems.append(f"check_ledger found {len(drifts)} drifts, first {drifts[0]}")
    balances = await _sql_balances(sessions, expected_balances)
    # check_ledger proves the books add up; this proves they add up to the right charges.
    wrong = {user: (balances.get(user), want) for user, want in expected_balances.items()
             if balances.get(user) != want}
    if wrong:
        problems.append(f"{len(wrong)} balances differ from seed - charges (sql, expected): {_first(wrong)}")
    checked = (f"{len(results):,} charges paid, check_ledger() == [], "
               f"balance = seed - charges (users checked: {len(expected_balances):,})")
    if redis is not None:
        problems += await _cache_disagreements(redis, balances)
        checked += ", Redis = SQL, nothing pending"
    if problems:
        raise RunNotCorrect("; ".join(problems))
    return checked


def _unpaid(results: Sequence[Any]) -> list[str]:
    unpaid = [r for r in results if not isinstance(r, Charged) or r.replayed or r.paid_with_free]
    if not unpaid:
        return []
    return [f"{len(unpaid)} of {len(results)} charges not paid from the balance, first {unpaid[0]!r}"]


async def _sql_balances(sessions: async_sessionmaker[AsyncSession], wanted: Collection[int]) -> dict[int, int]:
    async with sessions() as session:
        rows = (await session.execute(select(Balance.user_id, Balance.balance))).all()
    return {row.user_id: row.balance for row in rows if row.user_id in wanted}


async def _cache_disagreements(redis: Redis, sql_balances: dict[int, int]) -> list[str]:
    users = list(sql_balances)
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.hget(user_keys(user).acct, "bal")
            pipe.zcard(user_keys(user).pending)
        answers = await pipe.execute()
    # A missing account (None) counts as a difference: the run should have kept every user cached.
    cached = {user: None if raw is None else int(raw) for user, raw in zip(users, answers[0::2])}
    pending = sum(answers[1::2])
    problems = []
    differing = {user: (cached[user], sql_balances[user]) for user in users
                 if cached[user] != sql_balances[user]}
    if differing:
        problems.append(f"{len(differing)} cached balances differ from SQL (cached, sql): {_first(differing)}")
    if pending:
        problems.append(f"{pending} Redis steps still pending")
    return problems


def _first(mapping: dict[int, Any]) -> str:
    user = next(iter(mapping))
    return f"user {user}: {mapping[user]}"
